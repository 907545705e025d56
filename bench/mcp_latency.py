"""Round-trip latency of get_price over MCP, stdio and streamable HTTP, next to a bare MCPServer
with one trivial tool over the same transports, measured in one run.

Goal: tradepit's median within 1.5x of the bare server's on each transport.

    python bench/mcp_latency.py [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from mcp import Client, StdioServerParameters

TRADEPIT = [sys.executable, "-c", "from orchestration.cli import main; main()", "mcp"]
BARE_SERVER = textwrap.dedent(
    """
    import sys
    from mcp.server import MCPServer
    server = MCPServer(name="bare", log_level="WARNING")

    @server.tool()
    def get_price(symbol: str) -> dict:
        return {"symbol": symbol, "price": "1.00"}

    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        import uvicorn
        uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=int(sys.argv[2]),
                    log_level="warning")
    """
)


async def measure(client: Client, calls: int) -> list[float]:
    await client.call_tool("get_price", {"symbol": "SPX"})  # warm up caches and imports
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        result = await client.call_tool("get_price", {"symbol": "SPX"})
        seconds.append(time.perf_counter() - started)
        if result.is_error:
            raise RuntimeError(f"get_price failed: {result.content}")
    return seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_http(command: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{command[:3]} did not start on port {port}")


async def run(calls: int, bare_script: Path) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    stdio = {
        "tradepit": StdioServerParameters(command=TRADEPIT[0], args=TRADEPIT[1:]),
        "bare": StdioServerParameters(command=sys.executable, args=[str(bare_script), "stdio"]),
    }
    for name, params in stdio.items():
        async with Client(params) as client:
            results[f"stdio {name}"] = await measure(client, calls)
    for name in ("tradepit", "bare"):
        port = free_port()
        command = (
            [*TRADEPIT, "--transport", "http", "--port", str(port)]
            if name == "tradepit"
            else [sys.executable, str(bare_script), "http", str(port)]
        )
        process = start_http(command, port)
        try:
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                results[f"http {name}"] = await measure(client, calls)
        finally:
            process.terminate()
            process.wait(timeout=20)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per server and transport")
    args = parser.parse_args()
    os.environ.setdefault("AGNO_TELEMETRY", "false")
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "bare_server.py"
        script.write_text(BARE_SERVER)
        results = asyncio.run(run(args.calls, script))
    for label, seconds in results.items():
        ordered = sorted(seconds)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        print(
            f"{label:15s} median {statistics.median(seconds) * 1e3:7.2f} ms   "
            f"p95 {p95 * 1e3:7.2f} ms   ({len(seconds)} calls)"
        )
    for transport in ("stdio", "http"):
        ratio = statistics.median(results[f"{transport} tradepit"]) / statistics.median(
            results[f"{transport} bare"]
        )
        print(f"{transport}: tradepit / bare median = {ratio:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
