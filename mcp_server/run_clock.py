"""tradepit's MCP server for one LLM agent over stdio, with the clock moved by the agent's run.

`python -m mcp_server.run_clock` serves the agent tools (never the order tools) on the bundled
data. Each tool call carries the decision being made in its `_meta` (`NOW_META`); a
middleware moves the session's point-in-time clock forward to it before the tool runs, so
every tool sees the market as of that moment and nothing after it, at no extra round trip.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from mcp_server import NOW_META
from mcp_server.server import build_server, run_stdio
from tools.context import ToolContext
from trading.clock import ReplayClock
from trading.data import EARLIEST, Catalog


class MoveClock:
    """Moves the clock to a tool call's decision time; never back, and never unasked."""

    def __init__(self, clock: ReplayClock) -> None:
        self.clock = clock

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        given = (ctx.meta or {}).get(NOW_META) if ctx.method == "tools/call" else None
        if given is not None:
            try:
                now = datetime.fromisoformat(str(given))
            except ValueError:
                raise MCPError(INVALID_PARAMS, f"_meta {NOW_META}: not a time: {given!r}") from None
            if now.tzinfo is None:
                raise MCPError(INVALID_PARAMS, f"_meta {NOW_META}: no time zone: {given!r}")
            if now > self.clock.now():
                self.clock.advance_to(now)
        return await call_next(ctx)


def main() -> None:
    clock = ReplayClock(EARLIEST)
    server = build_server(ToolContext.paper(Catalog.default(), clock=clock, session="agent"))
    server.middleware.append(MoveClock(clock))
    run_stdio(server)


if __name__ == "__main__":
    main()
