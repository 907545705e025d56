"""A replay's result reads its equity points' times from the bars' integers (`ReplayBars.stamps`)
rather than from each point's `datetime`: the index, the benchmark and so the metrics must be
the ones the points themselves give, on calendars where symbols come and go."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from agents.quant import build_quant_agent
from tests.helpers import catalog_of, daily_series
from trading.data import BarSeries, Catalog
from trading.metrics import equal_weight_buy_and_hold
from trading.replay import CycleEngine, ReplayBars, ReplayConfig, run_replay

BUNDLED = Catalog.default()


def _without(series: BarSeries, *days: int) -> BarSeries:
    """`series` less its bars at these positions: a calendar with holes."""
    frame = series.to_frame()
    kept = frame.drop(frame.index[list(days)])
    return BarSeries.from_frame(series.symbol, "test", kept, timeframe=timedelta(days=1))


# IXIC misses two of SPX's days and outlasts it by two: some cycles have one symbol's bar,
# and the last ones only IXIC's.
SPX_CLOSES = [11, 12, 11, 13, 14, 12, 15, 16]
IXIC_CLOSES = [52, 51, 55, 54, 56, 57, 56, 59]
RAGGED = catalog_of(
    _without(daily_series("SPX", opens=SPX_CLOSES[:6], closes=SPX_CLOSES[1:7]), 3),
    _without(daily_series("IXIC", opens=IXIC_CLOSES, closes=[*IXIC_CLOSES[1:], 58]), 1, 4),
)
# Two-day bars beside daily ones: where both close together their labels differ, and the
# cycle's point is stamped with the first symbol's.
TWO_DAY = daily_series("IXIC", opens=[50, 52, 51, 55], closes=[52, 51, 55, 54]).to_frame()
TWO_DAY.index = TWO_DAY.index[0] + (TWO_DAY.index - TWO_DAY.index[0]) * 2
MIXED = catalog_of(
    daily_series("SPX", opens=SPX_CLOSES, closes=[*SPX_CLOSES[1:], 15]),
    BarSeries.from_frame("IXIC", "test", TWO_DAY, timeframe=timedelta(days=2)),
)
CASES = [
    (RAGGED, ReplayConfig(symbols=("SPX", "IXIC"))),
    (RAGGED, ReplayConfig(symbols=("IXIC", "SPX"))),  # IXIC's label first where it has a bar
    (
        catalog_of(daily_series("SPX", opens=[80, 81, 82], start=date(1965, 1, 4))),
        ReplayConfig(symbols=("SPX",)),
    ),  # before 1970: negative integers
    (BUNDLED, ReplayConfig(symbols=("SPX", "IXIC"), start=date(2014, 1, 1), end=date(2015, 6, 1))),
]


# (A replay of MIXED with IXIC first has points at repeated times, which metrics refuse.)
MIXED_CASES = [
    (MIXED, ReplayConfig(symbols=("SPX", "IXIC"))),
    (MIXED, ReplayConfig(symbols=("IXIC", "SPX"))),
]


def _reindexed_benchmark(series: list[BarSeries], times: pd.DatetimeIndex) -> pd.Series:
    """The benchmark as it was computed from the points: closes forward-filled by pandas."""
    rows = [s.to_frame()["close"].reindex(times, method="ffill").to_numpy() for s in series]
    closes = np.vstack(rows)
    complete = ~np.isnan(closes).any(axis=0)
    return pd.Series(equal_weight_buy_and_hold(closes[:, complete]), index=times[complete])


@pytest.mark.parametrize(("catalog", "config"), MIXED_CASES + CASES)
def test_the_stamps_are_the_times_of_the_points_settle_makes(
    catalog: Catalog, config: ReplayConfig
) -> None:
    bars = ReplayBars(catalog, config)
    engine = CycleEngine(catalog, config, run_id="r")
    for cycle in range(bars.total):
        engine.settle(bars.tick(cycle))
    times = pd.DatetimeIndex([t for t, _, _ in engine.equity])
    stamps = bars.stamps()
    pd.testing.assert_index_equal(stamps, times, exact=True)
    series = [bars.series[s] for s in config.symbols]
    expected = _reindexed_benchmark(series, times)
    pd.testing.assert_series_equal(bars.benchmark_at(stamps), expected, check_exact=True)
    pd.testing.assert_series_equal(bars.benchmark(engine.equity), expected, check_exact=True)


@pytest.mark.parametrize("kind", ["buy_and_hold", "sma_cross"])
@pytest.mark.parametrize(("catalog", "config"), CASES)
async def test_a_replays_result_is_the_one_its_points_give(
    catalog: Catalog, config: ReplayConfig, kind: str
) -> None:
    params = {"fast": 2, "slow": 3} if kind == "sma_cross" else {}
    result = await run_replay(build_quant_agent(kind, params), catalog, config, run_id="r")
    # The same cycles driven by hand, and the engine's result from the points themselves.
    agent = build_quant_agent(kind, params)
    bars = ReplayBars(catalog, config)
    engine = CycleEngine(catalog, config, run_id="r")
    for cycle in range(bars.total):
        tick = bars.tick(cycle)
        engine.settle(tick)
        if not tick.last:
            engine.execute(agent.name, await engine.decide(agent, tick), tick)
    from_points = engine.result(agent.name, bars)
    assert from_points.metrics == result.metrics
    assert from_points.equity == result.equity
    pd.testing.assert_series_equal(from_points.equity_series(), result.equity_series())
    assert result.fills or kind != "buy_and_hold"


@pytest.mark.parametrize(("catalog", "config"), MIXED_CASES + CASES)
def test_ticks_are_the_ticks_of_every_cycle_in_order(
    catalog: Catalog, config: ReplayConfig
) -> None:
    bars = ReplayBars(catalog, config)
    ticks = list(bars.ticks())
    assert ticks == [bars.tick(cycle) for cycle in range(bars.total)]
    assert [t.last for t in ticks] == [False] * (bars.total - 1) + [True]
