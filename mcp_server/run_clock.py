"""tradepit's MCP server for one LLM agent over stdio, with the clock moved by the agent's run.

`python -m mcp_server.run_clock` serves the agent tools (never the order tools) on the bundled
data, plus one tool the agent's connection calls itself, never offered to a model:
`set_clock`, which moves the session's point-in-time clock forward to the decision being
made, so every tool sees the market as of that moment and nothing after it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from mcp_server.server import build_server, run_stdio
from tools.context import ToolContext
from trading.clock import ReplayClock
from trading.data import EARLIEST, Catalog

SET_CLOCK = "set_clock"


def main() -> None:
    clock = ReplayClock(EARLIEST)
    server = build_server(ToolContext.paper(Catalog.default(), clock=clock, session="agent"))

    @server.tool(name=SET_CLOCK)
    def set_clock(
        now: Annotated[datetime, Field(description="The decision time; never earlier.")],
    ) -> str:
        """Move the session's clock forward to `now` (the run's decision time)."""
        if now > clock.now():
            clock.advance_to(now)
        return clock.now().isoformat()

    run_stdio(server)


if __name__ == "__main__":
    main()
