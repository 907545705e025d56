"""Small market data built in tests: an in-memory source the real catalog and view accept, and
buy and hold replayed on it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd

from agents.quant import build_quant_agent
from trading.data import BarSeries, Catalog
from trading.domain import Instrument
from trading.replay import ReplayConfig, ReplayResult, run_replay


class FrameSource:
    """A `MarketDataSource` over DataFrames made in the test."""

    def __init__(self, series: dict[str, BarSeries], name: str = "test") -> None:
        self.name = name
        self._series = series

    def symbols(self) -> list[str]:
        return sorted(self._series)

    def load(self, symbol: str) -> BarSeries:
        return self._series[symbol]


def daily_series(
    symbol: str,
    opens: Sequence[float],
    closes: Sequence[float] | None = None,
    *,
    highs: Sequence[float] | None = None,
    lows: Sequence[float] | None = None,
    volumes: Sequence[float] | None = None,
    start: date = date(2020, 1, 1),
) -> BarSeries:
    """Daily bars on consecutive calendar days; high and low default to cover open and close."""
    closes = list(closes if closes is not None else opens)
    opens = list(opens)
    highs = (
        list(highs)
        if highs is not None
        else [max(o, c) for o, c in zip(opens, closes, strict=True)]
    )
    lows = (
        list(lows) if lows is not None else [min(o, c) for o, c in zip(opens, closes, strict=True)]
    )
    index = pd.DatetimeIndex(
        [pd.Timestamp(start + timedelta(days=i), tz="UTC") for i in range(len(opens))]
    )
    frame = pd.DataFrame(
        {
            "open": opens,
            "high": highs,
            "low": lows,
            "close": closes,
            "volume": list(volumes) if volumes is not None else [0.0] * len(opens),
        },
        index=index,
    )
    return BarSeries.from_frame(symbol, "test", frame, timeframe=timedelta(days=1))


def catalog_of(*series: BarSeries) -> Catalog:
    return Catalog([FrameSource({s.symbol: s for s in series})])


async def hold(series: BarSeries, config: ReplayConfig) -> ReplayResult:
    """Buy and hold replayed on `series` under `config`, trading whole units of it."""
    whole = {series.symbol: Instrument(series.symbol, quantity_increment=Decimal(1))}
    agent = build_quant_agent("buy_and_hold")
    return await run_replay(agent, catalog_of(series), config, run_id="r", instruments=whole)
