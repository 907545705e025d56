"""Real subprocesses: `tradepit mcp` over stdio and over streamable HTTP, with the HTTP
safety rules (loopback, DNS-rebinding protection, bearer token) checked on the wire."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from mcp import Client, StdioServerParameters

LAUNCH = [sys.executable, "-c", "from orchestration.cli import main; main()", "mcp"]
AS_OF = ["--as-of", "2008-09-16"]
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "0"},
    },
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_server(*extra: str) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [*LAUNCH, "--transport", "http", "--port", str(port), *AS_OF, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "TRADEPIT_MCP_TOKEN": ""},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    _, err = process.communicate(timeout=20)
                    raise RuntimeError(f"server did not start: {err!r}") from None
                time.sleep(0.1)
        yield port
    finally:
        if process.poll() is None:
            process.terminate()
            process.communicate(timeout=20)


async def test_stdio_subprocess_serves_get_price() -> None:
    params = StdioServerParameters(command=LAUNCH[0], args=[*LAUNCH[1:], *AS_OF])
    async with Client(params) as client:
        result = await client.call_tool("get_price", {"symbol": "SPX"})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["price"] == "1192.70"


async def test_http_subprocess_serves_get_price() -> None:
    with http_server() as port:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            result = await client.call_tool("get_price", {"symbol": "IXIC"})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["symbol"] == "IXIC"


def test_http_refuses_a_foreign_host_or_origin() -> None:
    with http_server() as port:
        url = f"http://127.0.0.1:{port}/mcp"
        ok = httpx.post(url, json=INIT, headers=HEADERS, timeout=10)
        assert ok.status_code == 200
        evil_host = httpx.post(
            url, json=INIT, headers={**HEADERS, "Host": "evil.example:80"}, timeout=10
        )
        assert evil_host.status_code in {400, 403, 421}
        evil_origin = httpx.post(
            url, json=INIT, headers={**HEADERS, "Origin": "http://evil.example"}, timeout=10
        )
        assert evil_origin.status_code in {400, 403}


def test_http_with_a_token_answers_401_without_it() -> None:
    with http_server("--auth-token", "s3cret-token") as port:
        url = f"http://127.0.0.1:{port}/mcp"
        missing = httpx.post(url, json=INIT, headers=HEADERS, timeout=10)
        assert missing.status_code == 401
        assert "Bearer" in missing.headers["www-authenticate"]
        assert "s3cret" not in missing.text
        wrong = httpx.post(
            url, json=INIT, headers={**HEADERS, "Authorization": "Bearer nope"}, timeout=10
        )
        assert wrong.status_code == 401
        right = httpx.post(
            url,
            json=INIT,
            headers={**HEADERS, "Authorization": "Bearer s3cret-token"},
            timeout=10,
        )
        assert right.status_code == 200


def test_public_bind_without_token_exits_2_before_binding() -> None:
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [*LAUNCH, "--transport", "http", "--host", "0.0.0.0"],  # noqa: S104
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TRADEPIT_MCP_TOKEN": ""},
        check=False,
    )
    assert done.returncode == 2
    assert "without a token" in done.stderr


@pytest.mark.parametrize("flag", [[], ["--allow-trading"]])
def test_list_tools_shows_order_tools_only_when_trading_is_allowed(flag: list[str]) -> None:
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [*LAUNCH, "--list-tools", "--json", *flag],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert ("place_order" in done.stdout) is bool(flag)
