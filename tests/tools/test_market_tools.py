"""Market tools read through the point-in-time view: nothing after "now" reaches a caller."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
import talib
from pydantic import ValidationError

from tools.context import ToolContext
from tools.market import (
    compute_indicator,
    get_market_summary,
    get_news_sentiment,
    get_ohlcv,
    get_price,
)
from trading.data import Catalog
from trading.errors import ConfigError, LookaheadError, UnknownSymbolError

# Tuesday 2008-09-16 00:00 UTC: the Monday 2008-09-15 bar (Lehman's bankruptcy) has closed.
AFTER_LEHMAN = datetime(2008, 9, 16, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.default()


@pytest.fixture
def ctx(catalog: Catalog) -> ToolContext:
    return ToolContext.paper(catalog, as_of=AFTER_LEHMAN)


def spx_close(catalog: Catalog, day: str) -> Decimal:
    frame = catalog.load("SPX").to_frame()
    return Decimal(f"{frame.loc[day, 'close']:.2f}")


def test_get_price_is_the_close_of_the_latest_completed_bar(
    ctx: ToolContext, catalog: Catalog
) -> None:
    quote = get_price(ctx, "SPX")
    assert quote.price == spx_close(catalog, "2008-09-15")
    assert quote.bar.time == datetime(2008, 9, 15, tzinfo=UTC)
    assert quote.as_of == AFTER_LEHMAN


def test_get_price_mid_bar_still_sees_only_the_previous_close(catalog: Catalog) -> None:
    ctx = ToolContext.paper(catalog, as_of=datetime(2008, 9, 15, 18, tzinfo=UTC))
    assert get_price(ctx, "spx").price == spx_close(catalog, "2008-09-12")


def test_unknown_symbol_lists_the_known_ones(ctx: ToolContext) -> None:
    with pytest.raises(UnknownSymbolError, match="unknown symbol 'FOO'; available: AAPL, AMD"):
        get_price(ctx, "FOO")


def test_get_ohlcv_returns_the_last_bars_up_to_now(ctx: ToolContext, catalog: Catalog) -> None:
    result = get_ohlcv(ctx, "SPX", limit=3)
    assert [b.time.date().isoformat() for b in result.bars] == [
        "2008-09-11",
        "2008-09-12",
        "2008-09-15",
    ]
    assert result.bars[-1].close == spx_close(catalog, "2008-09-15")


def test_get_ohlcv_refuses_an_end_after_now(ctx: ToolContext) -> None:
    with pytest.raises(LookaheadError, match="after now"):
        get_ohlcv(ctx, "SPX", end=datetime(2008, 9, 17, tzinfo=UTC))


def test_weekly_bars_aggregate_days_and_flag_the_running_week(
    ctx: ToolContext, catalog: Catalog
) -> None:
    weeks = get_ohlcv(ctx, "SPX", timeframe="1w", limit=2).bars
    frame = catalog.load("SPX").to_frame().loc["2008-09-08":"2008-09-12"]
    full = weeks[0]
    assert not full.partial
    assert full.open == Decimal(f"{frame['open'].iloc[0]:.2f}")
    assert full.high == Decimal(f"{frame['high'].max():.2f}")
    assert full.low == Decimal(f"{frame['low'].min():.2f}")
    assert full.close == Decimal(f"{frame['close'].iloc[-1]:.2f}")
    running = weeks[1]
    assert running.partial  # only Monday of that week has closed
    assert running.close == spx_close(catalog, "2008-09-15")


def test_a_week_cut_by_end_before_its_last_session_is_partial(
    ctx: ToolContext, catalog: Catalog
) -> None:
    wednesday = datetime(2008, 9, 10, tzinfo=UTC)  # the week of 8-12 September ended long ago
    weeks = get_ohlcv(ctx, "SPX", timeframe="1w", limit=2, end=wednesday).bars
    assert [(w.time.date().isoformat(), w.partial) for w in weeks] == [
        ("2008-09-01", False),
        ("2008-09-08", True),  # Thursday's and Friday's sessions are left out
    ]
    assert weeks[1].close == spx_close(catalog, "2008-09-10")
    friday = datetime(2008, 9, 12, tzinfo=UTC)  # the week's last session: the bar is whole
    [whole] = get_ohlcv(ctx, "SPX", timeframe="1w", limit=1, end=friday).bars
    assert not whole.partial
    assert whole.close == spx_close(catalog, "2008-09-12")


def test_a_month_cut_by_end_mid_month_is_partial(ctx: ToolContext) -> None:
    mid_august = datetime(2008, 8, 15, tzinfo=UTC)
    months = get_ohlcv(ctx, "SPX", timeframe="1mo", limit=2, end=mid_august).bars
    assert [(m.time.date().isoformat(), m.partial) for m in months] == [
        ("2008-07-01", False),
        ("2008-08-01", True),
    ]


def test_a_timeframe_finer_than_the_data_is_refused(ctx: ToolContext) -> None:
    with pytest.raises(ConfigError, match="finer than the data"):
        get_ohlcv(ctx, "SPX", timeframe="1h")


def test_compute_indicator_uses_bars_up_to_now_only(ctx: ToolContext, catalog: Catalog) -> None:
    result = compute_indicator(ctx, "SPX", "rsi", {"period": 14}, history=3)
    closes = catalog.load("SPX").to_frame().loc[:"2008-09-15", "close"].to_numpy()
    expected = talib.RSI(np.ascontiguousarray(closes), 14)
    assert [p.time.date().isoformat() for p in result.history] == [
        "2008-09-11",
        "2008-09-12",
        "2008-09-15",
    ]
    [value] = result.values.values()
    assert value == pytest.approx(expected[-1])


def test_unknown_indicator_lists_the_valid_ones(ctx: ToolContext) -> None:
    with pytest.raises(ConfigError, match=r"unknown indicator 'foo'; valid: .*rsi"):
        compute_indicator(ctx, "SPX", "foo")


def test_tool_arguments_are_validated_in_process_too(ctx: ToolContext) -> None:
    with pytest.raises(ValidationError, match="history"):
        compute_indicator(ctx, "SPX", "rsi", history=0)


def test_market_summary_covers_several_symbols_in_one_call(
    ctx: ToolContext, catalog: Catalog
) -> None:
    summary = get_market_summary(ctx, ["SPX", "IXIC"])
    spx, ixic = summary.symbols
    assert (spx.symbol, ixic.symbol) == ("SPX", "IXIC")
    closes = catalog.load("SPX").to_frame().loc[:"2008-09-15", "close"]
    assert spx.returns["1"] == pytest.approx(closes.iloc[-1] / closes.iloc[-2] - 1)
    assert spx.returns["252"] == pytest.approx(closes.iloc[-1] / closes.iloc[-253] - 1)
    assert spx.trend == "down"  # September 2008: below a falling 50 and 200-day average
    assert spx.sma_200 == pytest.approx(closes.iloc[-200:].mean())


def test_news_sentiment_is_point_in_time_and_quotes_headlines(ctx: ToolContext) -> None:
    news = get_news_sentiment(ctx, "SPX", lookback_hours=24 * 7)
    assert news.count >= 1
    assert all(item.time <= ctx.now for item in news.items)
    assert any("Lehman" in item.quoted_title for item in news.items)
    assert all(item.quoted_title.startswith('"') for item in news.items)
    assert news.mean_sentiment is not None
    assert news.mean_sentiment < 0
    earlier = get_news_sentiment(
        ToolContext.paper(as_of=datetime(2008, 9, 14, tzinfo=UTC)), "SPX", lookback_hours=24
    )
    assert not any("Lehman" in item.quoted_title for item in earlier.items)


def test_close_only_bars_aggregate_without_inventing_a_range() -> None:
    ctx = ToolContext.paper(as_of=datetime(2019, 1, 1, tzinfo=UTC))
    [week] = get_ohlcv(ctx, "AAPL", timeframe="1w", limit=1).bars
    assert (week.open, week.high, week.low, week.volume) == (None, None, None, None)
    assert week.close == Decimal("37.951")
    with pytest.raises(ConfigError, match=r"AAPL has closes only .* 'atr' needs"):
        compute_indicator(ctx, "AAPL", "atr")
    assert compute_indicator(ctx, "AAPL", "rsi").values["rsi"] is not None
