"""tradepit's own stdio server for one agent (`mcp_server.run_clock`): a tool call carries its
decision time in `_meta`, and the server's clock moves to it before the tool runs, so a call
costs one round trip and the tool sees the market as of that time; never back in time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from agents.mcp_tools import OWN_STDIO
from mcp_server import NOW_META

SEPT = datetime(2008, 9, 15, tzinfo=UTC)
OCT = datetime(2008, 10, 10, tzinfo=UTC)


async def test_each_call_moves_the_clock_to_its_decision_time_and_never_back() -> None:
    async with Client(stdio_client(OWN_STDIO)) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert "get_price" in names
        assert not [n for n in names if "clock" in n]  # no tool of its own to move the clock

        async def price_as_of(now: datetime) -> str:
            meta = {NOW_META: now.isoformat()}
            result = await client.call_tool("get_price", {"symbol": "SPX"}, meta=meta)
            assert not result.is_error, result.content
            assert result.structured_content is not None
            return str(result.structured_content["as_of"])

        assert (await price_as_of(SEPT)).startswith("2008-09-15")
        assert (await price_as_of(OCT)).startswith("2008-10-10")
        assert (await price_as_of(SEPT)).startswith("2008-10-10")  # a clock never goes back
        with pytest.raises(MCPError, match="not a time: 'soon'"):
            await client.call_tool("get_price", {"symbol": "SPX"}, meta={NOW_META: "soon"})
