"""`tradepit mcp --transport http` bounds its sessions on the wire: how many in all, how many
per client address, and how long one may sit idle. Sessions are opened by the SDK's own client
in the initialize handshake (mode="legacy"), each from its own loopback source address where the
test needs several clients; the refusals are read both as HTTP statuses and as the error the
SDK's client raises."""

from __future__ import annotations

import math
import re
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from typer.testing import CliRunner

from mcp_server.session_limits import SessionLimits
from orchestration.cli import app
from tests.mcp_server.test_transports import HEADERS, INIT, http_server
from trading.errors import ConfigError

SESSION = "mcp-session-id"
PING = {"jsonrpc": "2.0", "id": 2, "method": "ping"}


@asynccontextmanager
async def legacy_session(url: str, source: str = "127.0.0.1") -> AsyncIterator[Client]:
    """An SDK client holding one stateful session, connecting from the loopback address
    `source` (all of 127.0.0.0/8 is this machine, so each address is a distinct client)."""
    transport = httpx2.AsyncHTTPTransport(local_address=source)
    async with (
        httpx2.AsyncClient(transport=transport, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        yield client


async def sdk_refusal(url: str, source: str = "127.0.0.1") -> str:
    """The message of the error the SDK's client raises when its session is refused."""
    with pytest.RaisesGroup(MCPError, flatten_subgroups=True) as refused:
        async with legacy_session(url, source):  # its task groups wrap the error
            pass
    group = refused.value
    while isinstance(group, BaseExceptionGroup):
        [group] = group.exceptions
    assert isinstance(group, MCPError)
    return group.error.message


def open_session(url: str, source: str = "127.0.0.1") -> httpx.Response:
    """One raw initialize request from `source`: the answer opens a session or refuses to."""
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30) as http:
        return http.post(url, json=INIT, headers=HEADERS)


async def test_the_seventeenth_session_is_refused_with_503_until_one_ends() -> None:
    with http_server() as server:
        async with AsyncExitStack() as sessions:
            for n in range(16):  # the default cap, four from each of four clients
                client = legacy_session(server.url, f"127.0.0.{n // 4 + 1}")
                await sessions.enter_async_context(client)
            refused = open_session(server.url, "127.0.0.5")
            sdk_refused = await sdk_refusal(server.url, "127.0.0.5")
        # Every session above ended with a DELETE as its client closed: room again.
        accepted = open_session(server.url, "127.0.0.5")
    assert refused.status_code == 503
    assert "Too many open sessions" in refused.text
    assert sdk_refused == "Too many open sessions"
    assert accepted.status_code == 200
    assert accepted.headers[SESSION]


async def test_a_fifth_session_from_one_client_is_refused_with_429() -> None:
    with http_server() as server:
        async with AsyncExitStack() as sessions:
            for _ in range(4):
                await sessions.enter_async_context(legacy_session(server.url))
            refused = open_session(server.url)
            sdk_refused = await sdk_refusal(server.url)
            other_client = open_session(server.url, "127.0.0.2")
            # A client on the stateless protocol opens no session: the cap does not touch it.
            async with Client(server.url) as stateless:
                price = await stateless.call_tool("get_price", {"symbol": "SPX"})
    assert refused.status_code == 429
    assert refused.json()["error"]["message"] == (
        "too many open sessions from 127.0.0.1 (4 of 4): end one (HTTP DELETE) "
        "or let one sit idle for 300 s"
    )
    assert refused.headers["retry-after"] == "300"
    assert sdk_refused == refused.json()["error"]["message"]
    assert other_client.status_code == 200
    assert not price.is_error


def test_an_idle_session_expires_after_the_timeout() -> None:
    with http_server("--session-idle-timeout", "1", "--max-sessions-per-client", "1") as server:
        first = open_session(server.url)
        idle_from = time.monotonic()
        assert first.status_code == 200
        assert open_session(server.url).status_code == 429  # the first one still holds the slot
        deadline = idle_from + 30
        while (retry := open_session(server.url)).status_code == 429:
            assert time.monotonic() < deadline, "the idle session never expired"
            time.sleep(0.05)  # a refused opening does not touch the idle session
        waited = time.monotonic() - idle_from
        stale = httpx.post(
            server.url,
            json=PING,
            headers={
                **HEADERS,
                SESSION: first.headers[SESSION],
                "mcp-protocol-version": "2025-06-18",
            },
            timeout=30,
        )
    assert retry.status_code == 200
    assert 0.9 <= waited < 30
    assert stale.status_code == 404  # the expired session is gone, not merely uncounted


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        (
            "--max-sessions",
            "0",
            "error: --max-sessions takes a whole number of at least 1, got '0'",
        ),
        (
            "--max-sessions",
            "lots",
            "error: --max-sessions takes a whole number of at least 1, got 'lots'",
        ),
        (
            "--max-sessions-per-client",
            "-1",
            "error: --max-sessions-per-client takes a whole number of at least 1, got '-1'",
        ),
        (
            "--session-idle-timeout",
            "0",
            "error: --session-idle-timeout takes a finite number of seconds above 0, got '0'",
        ),
        (
            "--session-idle-timeout",
            "nan",
            "error: --session-idle-timeout takes a finite number of seconds above 0, got 'nan'",
        ),
    ],
)
def test_a_bad_session_limit_exits_2_with_one_line_naming_the_flag(
    flag: str, value: str, message: str
) -> None:
    result = CliRunner().invoke(app, ["mcp", "--transport", "http", flag, value])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [message]


def test_help_shows_the_session_limits_and_their_defaults() -> None:
    result = CliRunner().invoke(app, ["mcp", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for flag, metavar, default in (
        ("--max-sessions", "N", "16"),
        ("--max-sessions-per-client", "N", "4"),
        ("--session-idle-timeout", "SECONDS", "300"),
    ):
        assert re.search(rf"{flag} {metavar} [^[]*\[default: {default}\]", text), flag


@pytest.mark.parametrize(
    "bounds",
    [{"max_sessions": 0}, {"max_sessions_per_client": 0}, {"idle_timeout": math.inf}],
)
def test_session_limits_refuse_bounds_that_bound_nothing(bounds: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match=next(iter(bounds))):
        SessionLimits(**bounds)  # type: ignore[arg-type]
