"""Real subprocesses: `tradepit mcp` over stdio and over streamable HTTP, with the HTTP
safety rules (loopback, DNS-rebinding protection, bearer token) checked on the wire."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import httpx
import pytest
from mcp import Client, StdioServerParameters

from mcp_server.server import READY

LAUNCH = [sys.executable, "-c", "from orchestration.cli import main; main()", "mcp"]
AS_OF = ["--as-of", "2008-09-16"]
START_TIMEOUT = 60.0
TOKEN = "s3cret-token-for-tests"  # noqa: S105 - a throwaway value for a loopback server
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
NO_TOKEN_ENV = {**os.environ, "TRADEPIT_MCP_TOKEN": ""}


class Lines:
    """The lines a subprocess writes to one of its pipes, read on a thread (so the pipe never
    fills up) and handed over with a deadline: a test waits on output, never sleeps."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def next(self, timeout: float = START_TIMEOUT) -> str:
        line = self._queue.get(timeout=timeout)
        if line is None:
            raise EOFError(f"the process closed the pipe; before that: {self.seen}")
        self.seen.append(line)
        return line

    def rest(self) -> list[str]:
        """Everything after the last line taken, once the process has exited."""
        self._thread.join(timeout=20)
        rest = []
        while (line := self._queue.get_nowait()) is not None:
            rest.append(line)
        self.seen += rest
        return rest


@dataclass
class HttpServer:
    url: str
    stderr: Lines


@contextmanager
def http_server(*extra: str) -> Iterator[HttpServer]:
    """`tradepit mcp --transport http --port 0`, ready once it prints the URL it listens on."""
    with subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [*LAUNCH, "--transport", "http", "--port", "0", *AS_OF, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=NO_TOKEN_ENV,
    ) as process:
        assert process.stderr is not None
        stderr = Lines(process.stderr)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            line = ""
            while not line.startswith(READY):
                line = stderr.next(max(0.0, deadline - time.monotonic()))
            yield HttpServer(url=line.split()[len(READY.split())], stderr=stderr)
        finally:
            process.terminate()
            process.wait(timeout=20)
            stderr.rest()


@pytest.fixture(scope="module")
def open_server() -> Iterator[HttpServer]:
    with http_server() as server:
        yield server


async def test_stdio_subprocess_serves_get_price() -> None:
    params = StdioServerParameters(command=LAUNCH[0], args=[*LAUNCH[1:], *AS_OF])
    async with Client(params) as client:
        result = await client.call_tool("get_price", {"symbol": "SPX"})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["price"] == "1192.70"  # the 2008-09-15 close


def test_stdio_stdout_carries_nothing_but_protocol_messages() -> None:
    requests = [
        INIT,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "get_price", "arguments": {"symbol": "FOO"}},
        },
    ]
    with subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [*LAUNCH, *AS_OF],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        stdout, stderr = Lines(process.stdout), Lines(process.stderr)
        replies = []
        for request in requests:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            if "id" in request:  # wait for the answer: closing stdin early cancels a call
                replies.append(json.loads(stdout.next()))
        process.stdin.close()
        assert process.wait(timeout=20) == 0, stderr.rest()
    assert stdout.rest() == []
    assert [(r["jsonrpc"], r["id"]) for r in replies] == [("2.0", 1), ("2.0", 2), ("2.0", 3)]
    assert replies[2]["result"]["isError"] is True
    assert replies[2]["result"]["content"][0]["text"].startswith("unknown symbol 'FOO'")


async def test_http_subprocess_serves_get_price(open_server: HttpServer) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/mcp", open_server.url)
    async with Client(open_server.url) as client:
        result = await client.call_tool("get_price", {"symbol": "IXIC"})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["symbol"] == "IXIC"
    assert result.structured_content["bar"]["time"].startswith("2008-09-15")


def test_http_refuses_a_foreign_host_or_origin(open_server: HttpServer) -> None:
    url = open_server.url
    assert httpx.post(url, json=INIT, headers=HEADERS, timeout=10).status_code == 200
    evil_host = httpx.post(
        url, json=INIT, headers={**HEADERS, "Host": "evil.example:8765"}, timeout=10
    )
    assert evil_host.status_code == 421
    evil_origin = httpx.post(
        url, json=INIT, headers={**HEADERS, "Origin": "http://evil.example"}, timeout=10
    )
    assert evil_origin.status_code == 403


def test_http_with_a_token_answers_401_without_it_and_never_shows_it() -> None:
    with http_server("--auth-token", TOKEN) as server:
        url = server.url
        missing = httpx.post(url, json=INIT, headers=HEADERS, timeout=10)
        wrong = httpx.post(
            url, json=INIT, headers={**HEADERS, "Authorization": "Bearer nope"}, timeout=10
        )
        right = {**HEADERS, "Authorization": f"Bearer {TOKEN}"}
        accepted = httpx.post(url, json=INIT, headers=right, timeout=10)
        foreign = httpx.post(
            url, json=INIT, headers={**right, "Host": "evil.example:80"}, timeout=10
        )
    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in refused.text
    assert accepted.status_code == 200
    assert foreign.status_code == 421  # a token does not switch off DNS-rebinding protection
    assert "(bearer token required)" in server.stderr.seen[0]
    assert not any(TOKEN in line for line in server.stderr.seen)


def test_public_bind_without_token_exits_2_before_binding() -> None:
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [*LAUNCH, "--transport", "http", "--host", "0.0.0.0", "--port", "0"],  # noqa: S104
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        env=NO_TOKEN_ENV,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: refusing to serve on non-loopback address '0.0.0.0'")
    assert READY not in done.stderr
