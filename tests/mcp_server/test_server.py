"""The MCP server in memory, through the SDK's own client: every tool, its annotations,
structured outputs and clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NoReturn

import pytest
from mcp import Client
from typer.testing import CliRunner

from mcp_server.server import allowed_names, build_server, http_app
from orchestration.cli import app
from tools.context import ToolContext
from trading.errors import ConfigError
from trading.risk import RiskLimits

AS_OF = datetime(2008, 9, 16, tzinfo=UTC)
READ_ONLY = {
    "get_price",
    "get_ohlcv",
    "compute_indicator",
    "get_market_summary",
    "get_news_sentiment",
    "get_factor_series",
    "evaluate_factor",
    "analyze_portfolio",
    "backtest_strategy",
    "get_portfolio",
}
TRADING = {"place_order", "cancel_order", "advance_clock"}


async def call(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    """The structured result, checked against the text copy that older clients read."""
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    [text] = result.content
    assert json.loads(getattr(text, "text", "")) == result.structured_content
    return result.structured_content


async def error_of(client: Client, name: str, **arguments: Any) -> str:
    result = await client.call_tool(name, arguments)
    assert result.is_error
    return " ".join(getattr(c, "text", "") for c in result.content)


async def test_read_only_server_offers_no_order_tools() -> None:
    server = build_server(ToolContext.paper(as_of=AS_OF))
    async with Client(server) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert names == READ_ONLY


async def test_tool_annotations_mark_reads_and_destructive_orders() -> None:
    server = build_server(ToolContext.paper(as_of=AS_OF), allow_trading=True)
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == READ_ONLY | TRADING
    for name, tool in tools.items():
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is (name in READ_ONLY)
        assert tool.annotations.destructive_hint is (name in TRADING)
        assert tool.annotations.idempotent_hint is (name in READ_ONLY)
        assert tool.annotations.open_world_hint is False
        assert tool.title
        assert tool.description
        assert tool.output_schema is not None
        assert tool.output_schema["type"] == "object"
    price_schema = tools["get_price"].output_schema or {}
    assert set(price_schema["properties"]) == {"symbol", "price", "as_of", "bar"}
    symbol = tools["get_price"].input_schema["properties"]["symbol"]
    assert "SPX" in symbol["description"]


async def test_every_tool_answers_with_structured_content() -> None:
    server = build_server(ToolContext.paper(as_of=AS_OF), allow_trading=True)
    async with Client(server) as client:
        price = await call(client, "get_price", symbol="SPX")
        assert price["price"] == "1192.70"
        bars = await call(client, "get_ohlcv", symbol="SPX", limit=2)
        assert [b["time"][:10] for b in bars["bars"]] == ["2008-09-12", "2008-09-15"]
        rsi = await call(
            client, "compute_indicator", symbol="SPX", indicator="rsi", params={"period": 14}
        )
        assert 0 < rsi["values"]["rsi"] < 100
        summary = await call(client, "get_market_summary", symbols=["SPX", "IXIC"])
        assert [s["symbol"] for s in summary["symbols"]] == ["SPX", "IXIC"]
        news = await call(client, "get_news_sentiment", symbol="SPX", lookback_hours=48)
        assert any("Lehman" in item["quoted_title"] for item in news["items"])
        risk = await call(client, "analyze_portfolio", holdings={"SPX": "10"})
        assert risk["weights"] == {"SPX": 1.0}
        backtest = await call(
            client,
            "backtest_strategy",
            spec={"type": "quant", "strategy": "sma_cross", "params": {"fast": 10, "slow": 50}},
            symbol="SPX",
            start="2005-01-01",
            end="2007-12-31",
        )
        assert backtest["fills"] > 0
        placed = await call(client, "place_order", symbol="SPX", side="buy", quantity="5")
        assert placed["status"] == "accepted"
        moved = await call(client, "advance_clock", bars=1)
        assert moved["fills"][0]["price"] == "1188.31"  # the 2008-09-16 open
        portfolio = await call(client, "get_portfolio")
        assert Decimal(portfolio["positions"][0]["quantity"]) == 5
        limit = await call(
            client,
            "place_order",
            symbol="SPX",
            side="buy",
            quantity="1",
            type="limit",
            limit_price="500",
        )
        canceled = await call(client, "cancel_order", order_id=limit["order_id"])
        assert canceled["status"] == "canceled"


async def test_bad_input_comes_back_as_a_clear_tool_error() -> None:
    server = build_server(ToolContext.paper(as_of=AS_OF), allow_trading=True)
    async with Client(server) as client:
        assert (await error_of(client, "get_price", symbol="FOO")).startswith(
            "unknown symbol 'FOO'; available: AAPL, AMD,"
        )
        assert await error_of(client, "place_order", symbol="SPX", side="buy", quantity="-1") == (
            "quantity: Input should be greater than 0 (got '-1')"
        )
        assert await error_of(client, "place_order", symbol="SPX", side="hold") == (
            "side: Input should be 'buy' or 'sell' (got 'hold'); quantity: Field required"
        )
        assert (
            await error_of(client, "compute_indicator", symbol="SPX", indicator="foo")
        ).startswith("unknown indicator 'foo'; valid: atr, bbands, ema,")
        assert await error_of(client, "get_ohlcv", symbol="SPX", end="2008-09-20T00:00:00Z") == (
            "end 2008-09-20T00:00:00+00:00 is after now (2008-09-16T00:00:00+00:00)"
        )


class BrokenView:
    """A market-data port that fails the way a bug would, with internals in its message."""

    def last_bar(self, symbol: str) -> NoReturn:
        raise RuntimeError(f"/srv/secret/path.parquet is corrupt near {symbol}")


async def test_a_crash_reaches_the_client_without_its_details() -> None:
    ctx = ToolContext.paper(as_of=AS_OF)
    ctx.view = BrokenView()  # type: ignore[assignment]
    async with Client(build_server(ctx)) as client:
        message = await error_of(client, "get_price", symbol="SPX")
    assert message == "Error executing tool get_price"


async def test_instructions_say_point_in_time_and_untrusted_headlines() -> None:
    async with Client(build_server(ToolContext.paper(as_of=AS_OF))) as client:
        instructions = client.instructions
    assert instructions is not None
    assert "point-in-time" in instructions
    assert "untrusted" in instructions


def test_a_public_bind_without_a_token_is_refused() -> None:
    server = build_server(ToolContext.paper(as_of=AS_OF))
    with pytest.raises(ConfigError, match="without a token"):
        http_app(server, "0.0.0.0", 8765, None)  # noqa: S104 - the refusal is the point


@pytest.mark.parametrize(
    ("host", "extra"),
    [
        ("127.0.0.1", []),
        ("localhost", []),
        ("192.0.2.7", ["192.0.2.7"]),
        ("fd00::7", ["[fd00::7]"]),
    ],
)
def test_only_loopback_names_and_the_bound_address_may_appear_in_host(
    host: str, extra: list[str]
) -> None:
    assert allowed_names(host) == ["127.0.0.1", "localhost", "[::1]", *extra]


@pytest.mark.parametrize("trading", [False, True])
def test_list_tools_shows_order_tools_only_when_trading_is_allowed(trading: bool) -> None:
    result = CliRunner().invoke(
        app, ["mcp", "--list-tools", "--json", *(["--allow-trading"] if trading else [])]
    )
    assert result.exit_code == 0, result.stderr
    tools = {t["name"]: t for t in json.loads(result.stdout)["tools"]}
    assert set(tools) == (READ_ONLY | TRADING if trading else READ_ONLY)
    assert tools["get_price"] == {
        "name": "get_price",
        "title": "Latest price",
        "read_only": True,
        "destructive": False,
        "description": "Last price of a symbol: the close of its latest completed bar.",
    }
    if trading:
        assert tools["place_order"]["destructive"] is True


async def test_a_marketable_limit_over_mcp_is_held_to_the_order_notional_cap() -> None:
    # The reported bypass, word for word: a sell limit at 0.01 for 1,000,000 SPX, then one bar.
    limits = RiskLimits(max_order_notional=Decimal(1000))
    server = build_server(ToolContext.paper(as_of=AS_OF, limits=limits), allow_trading=True)
    async with Client(server) as client:
        await call(
            client,
            "place_order",
            symbol="SPX",
            side="sell",
            quantity="1000000",
            type="limit",
            limit_price="0.01",
        )
        moved = await call(client, "advance_clock", bars=1)
        [fill] = moved["fills"]
        assert Decimal(fill["quantity"]) * Decimal(fill["price"]) <= 1000


async def test_evaluate_factor_takes_a_declared_factor_over_mcp() -> None:
    server = build_server(ToolContext.paper(as_of=AS_OF), allow_trading=False)
    factor = {"kind": "indicator", "name": "momentum", "window": 252, "skip": 21}
    async with Client(server) as client:
        result = await call(client, "evaluate_factor", factor=factor, lookback_bars=500)
        assert [s["lag"] for s in result["ic"]] == [1, 5, 20]
        assert result["last"] < AS_OF.isoformat()
        assert len(result["symbols"]) == 20
        code = {"kind": "code", "source": "import os"}
        assert "kind" in await error_of(client, "evaluate_factor", factor=code)
