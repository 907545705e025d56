"""Round-trip latency of get_price over MCP (stdio and streamable HTTP, plus in memory for
reference), next to a bare MCPServer whose one tool returns a constant, in the same run; then an
LLM agent's turn with one tool call (get_market_summary) in-process, through tradepit's MCP
server in memory and over stdio (`tools_via: mcp`), against a zero-latency loopback model, so
the turn's wall time is all framework time.

Goals: tradepit's median within 1.5x of the bare server's on each real transport; an agent
turn through MCP within 1.5x of the in-process turn's median, on each transport.

    python bench/mcp_latency.py [--calls 200] [--turns 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mcp import Client, StdioServerParameters
from mcp.server import MCPServer

from mcp_server.server import READY, build_server
from tools.context import ToolContext

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from agent_overhead import Rig, call_a_tool_first, turns

from agents.door import close_model_clients
from agents.llm_agent import LlmAgent, build_models
from agents.specs import AgentSpec, Role
from tests.fakes.agents import loopback_providers
from tests.fakes.llm_server import fake_llm
from trading.data import Catalog

TURN_GOAL = 1.5

TRADEPIT = [sys.executable, "-c", "from orchestration.cli import main; main()", "mcp"]
START_TIMEOUT = 60.0
# The same serving code as `tradepit mcp` uses (a listening socket handed to uvicorn, the
# SDK's streamable-HTTP app with DNS-rebinding protection), around one constant tool.
BARE_SERVER = textwrap.dedent(
    """
    import socket, sys
    import uvicorn
    from mcp.server import MCPServer

    server = MCPServer(name="bare", log_level="WARNING")

    @server.tool()
    def get_price(symbol: str) -> dict[str, str]:
        return {"symbol": symbol, "price": "1.00"}

    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        print(f"{READY} http://127.0.0.1:{port}/mcp", file=sys.stderr, flush=True)
        config = uvicorn.Config(server.streamable_http_app(), log_level="warning",
                                access_log=False)
        uvicorn.Server(config).run(sockets=[listener])
    """
)


def bare_in_memory() -> MCPServer:
    server: MCPServer = MCPServer(name="bare", log_level="WARNING")

    @server.tool()
    def get_price(symbol: str) -> dict[str, str]:
        return {"symbol": symbol, "price": "1.00"}

    return server


async def measure(client: Client, calls: int) -> list[float]:
    for _ in range(5):  # warm up caches, imports and connections
        await client.call_tool("get_price", {"symbol": "SPX"})
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        result = await client.call_tool("get_price", {"symbol": "SPX"})
        seconds.append(time.perf_counter() - started)
        if result.is_error:
            raise RuntimeError(f"get_price failed: {result.content}")
    return seconds


@asynccontextmanager
async def http_process(command: list[str]) -> AsyncIterator[str]:
    """Start an HTTP server process and yield its URL once it says it is listening."""
    process = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    stderr = process.stderr
    assert stderr is not None
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while not (line := (await stderr.readline()).decode()).startswith(READY):
                if not line:
                    raise RuntimeError(f"{command[:3]} exited before it listened")
        drain = asyncio.create_task(stderr.read())  # keep the pipe from filling up
        yield line.split()[len(READY.split())]
        process.terminate()
        await drain
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 20)


async def run(calls: int, bare_script: Path) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    in_memory = {"tradepit": build_server(ToolContext.paper()), "bare": bare_in_memory()}
    for name, server in in_memory.items():
        async with Client(server) as client:
            results[f"memory {name}"] = await measure(client, calls)
    stdio = {
        "tradepit": StdioServerParameters(command=TRADEPIT[0], args=TRADEPIT[1:]),
        "bare": StdioServerParameters(command=sys.executable, args=[str(bare_script), "stdio"]),
    }
    for name, params in stdio.items():
        async with Client(params) as client:
            results[f"stdio {name}"] = await measure(client, calls)
    http = {
        "tradepit": [*TRADEPIT, "--transport", "http", "--port", "0"],
        "bare": [sys.executable, str(bare_script), "http"],
    }
    for name, command in http.items():
        async with http_process(command) as url, Client(url) as client:
            results[f"http {name}"] = await measure(client, calls)
    return results


async def agent_turns(count: int, folder: Path) -> dict[str, list[float]]:
    """Each way of reaching the tools gets its own agent, gateway and fresh days, so the
    response cache never answers for the model; the first turns warm each up."""
    rig = Rig(Catalog.default(), folder)
    results: dict[str, list[float]] = {}
    ways = {"in-process": {}, "mcp memory": {"tools_via": "mcp"}}
    ways["mcp stdio"] = {"tools_via": "mcp", "mcp_transport": "stdio"}
    with fake_llm(call_a_tool_first) as server:
        for label, fields in ways.items():
            spec = AgentSpec(
                name="analyst", role=Role.MARKET_ANALYST, model="local:primary", **fields
            )
            models = build_models(spec, loopback_providers(server))
            agent = LlmAgent(spec, rig.gateway(), models, rig.catalog)
            try:
                await turns(agent, rig.days(3))  # warm-up: imports, connections, caches
                results[label] = await turns(agent, rig.days(count))
            finally:
                await agent.aclose()
        await close_model_clients()
    return results


def p95(seconds: list[float]) -> float:
    return statistics.quantiles(seconds, n=20, method="inclusive")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per server and transport")
    parser.add_argument("--turns", type=int, default=40, help="agent turns per way of calling")
    args = parser.parse_args()
    os.environ.setdefault("AGNO_TELEMETRY", "false")
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "bare_server.py"
        script.write_text(f"READY = {READY!r}\n" + BARE_SERVER)
        results = asyncio.run(run(args.calls, script))
        agent = asyncio.run(agent_turns(args.turns, Path(folder)))
    for label, seconds in results.items():
        print(
            f"{label:15s} median {statistics.median(seconds) * 1e3:7.3f} ms   "
            f"p95 {p95(seconds) * 1e3:7.3f} ms   ({len(seconds)} calls)"
        )
    for transport in ("memory", "stdio", "http"):
        ours, bare = results[f"{transport} tradepit"], results[f"{transport} bare"]
        median = statistics.median(ours) / statistics.median(bare)
        tail = p95(ours) / p95(bare)
        goal = "" if transport == "memory" else "  (goal: median <= 1.5)"
        print(f"{transport:6s} tradepit / bare: median {median:.2f}x, p95 {tail:.2f}x{goal}")
    print("agent turn with one tool call, zero-latency model (all framework time):")
    for label, seconds in agent.items():
        print(
            f"  {label:11s} median {statistics.median(seconds) * 1e3:7.2f} ms   "
            f"p95 {p95(seconds) * 1e3:7.2f} ms   ({len(seconds)} turns)"
        )
    direct = statistics.median(agent["in-process"])
    for label in ("mcp memory", "mcp stdio"):
        ratio = statistics.median(agent[label]) / direct
        verdict = "met" if ratio <= TURN_GOAL else "NOT met"
        print(f"  {label} / in-process: median {ratio:.2f}x (goal <= {TURN_GOAL}: {verdict})")


if __name__ == "__main__":
    main()
