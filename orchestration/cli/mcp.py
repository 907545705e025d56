"""`tradepit mcp`: the financial tools served to MCP clients over stdio or streamable HTTP."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mcp_server.session_limits import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_MAX_SESSIONS_PER_CLIENT,
    SessionLimits,
)
from orchestration.cli.common import (
    DataFiles,
    JsonFlag,
    catalog,
    clean_errors,
    fail,
    parse_date,
    parse_decimal,
    print_table,
    stdout,
)

if TYPE_CHECKING:
    from tools.registry import ToolSpec


@clean_errors
def mcp(
    transport: Annotated[
        str, typer.Option(help="stdio (for desktop clients) or http (streamable HTTP).")
    ] = "stdio",
    host: Annotated[
        str, typer.Option(help="HTTP address to bind; anything but loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="HTTP port; 0 picks a free one (printed on stderr).", min=0)
    ] = 8765,
    allow_trading: Annotated[
        bool, typer.Option("--allow-trading", help="Also serve the order tools (paper only).")
    ] = False,
    auth_token: Annotated[
        str | None,
        typer.Option(
            help="Bearer token every HTTP request must carry. Prefer $TRADEPIT_MCP_TOKEN: "
            "other users of this machine can read command lines."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Start the clock at 00:00 UTC of this date (YYYY-MM-DD), so the last bar "
            "seen is the previous session's; default: the latest bar's close."
        ),
    ] = None,
    data: DataFiles = None,
    cash: Annotated[str, typer.Option(help="Starting cash of the paper account.")] = "100000",
    max_sessions: Annotated[
        str,
        typer.Option(
            metavar="N",
            help="HTTP: stateful sessions open at once, in all; one more is answered 503.",
        ),
    ] = str(DEFAULT_MAX_SESSIONS),
    max_sessions_per_client: Annotated[
        str,
        typer.Option(
            metavar="N",
            help="HTTP: sessions one client address may hold; one more is answered 429. "
            "Every local client shares 127.0.0.1.",
        ),
    ] = str(DEFAULT_MAX_SESSIONS_PER_CLIENT),
    session_idle_timeout: Annotated[
        str,
        typer.Option(
            metavar="SECONDS",
            help="HTTP: seconds a session may go without a request before it is closed.",
        ),
    ] = f"{DEFAULT_IDLE_TIMEOUT:g}",
    list_tools: Annotated[
        bool, typer.Option("--list-tools", help="Print the tools that would be served and exit.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Serve tradepit's financial tools to MCP clients (Claude Desktop, IDEs, agents).

    Market data is point-in-time: the session's clock stands at --as-of (default: the latest
    bar) and no tool sees past it. Order tools appear only with --allow-trading, and trade on
    paper. Over stdio, stdout carries only the protocol; logs go to stderr. Over HTTP the
    endpoint is http://HOST:PORT/mcp, loopback by default, with Host/Origin checks against
    DNS rebinding; binding elsewhere requires a bearer token. Clients on the older,
    stateful protocol each hold a session; few are kept, and an idle one is closed.
    """
    from mcp_server.server import build_server, check_exposure, resolve_token, run_http, run_stdio
    from tools.context import ToolContext
    from tools.registry import tools_for

    if transport not in {"stdio", "http"}:
        fail(f"--transport takes stdio or http, got {transport!r}")
    if port > 65535:
        fail(f"--port takes 0 to 65535, got {port!r}")
    limits = SessionLimits(
        max_sessions=_parse_count("--max-sessions", max_sessions),
        idle_timeout=_parse_seconds("--session-idle-timeout", session_idle_timeout),
        max_sessions_per_client=_parse_count("--max-sessions-per-client", max_sessions_per_client),
    )
    if list_tools:
        _print_tools(tools_for(allow_trading), as_json)
        return
    token = resolve_token(auth_token)
    if transport == "http":
        check_exposure(host, token)  # refuse before loading data or binding anything
    day = parse_date("--as-of", as_of)
    moment = datetime.combine(day, datetime.min.time(), UTC) if day else None
    context = ToolContext.paper(
        catalog(data), as_of=moment, cash=parse_decimal("--cash", cash, Decimal("0.01"))
    )
    server = build_server(context, allow_trading=allow_trading)
    if transport == "stdio":
        run_stdio(server)
    else:
        run_http(server, host, port, token, limits)


def _parse_count(option: str, value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        fail(f"{option} takes a whole number of at least 1, got {value!r}")
    return count


def _parse_seconds(option: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        fail(f"{option} takes a finite number of seconds above 0, got {value!r}")
    return seconds


def _print_tools(specs: list[ToolSpec], as_json: bool) -> None:
    if as_json:
        rows = [
            {
                "name": t.name,
                "title": t.title,
                "read_only": t.read_only,
                "destructive": not t.read_only,
                "description": t.summary,
            }
            for t in specs
        ]
        print(json.dumps({"tools": rows}, indent=2))
        return
    table = Table(title="MCP tools")
    table.add_column("name", no_wrap=True)  # a name is what a client calls: never cut it
    for column in ("title", "kind", "what it does"):
        table.add_column(column)
    for t in specs:
        kind = "read-only" if t.read_only else "destructive (paper)"
        table.add_row(t.name, t.title, kind, t.summary)
    print_table(stdout, table)
