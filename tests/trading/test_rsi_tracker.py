"""The incremental RSI is TA-Lib's float on every bar, and its signal `_rsi`'s; where it cannot
show that (odd closes, other TA-Lib settings, a series that does not continue) it asks TA-Lib."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from tests.trading.price_walks import BarByBar, frozen, restarted, walk
from trading import rsi_tracker
from trading.data import Catalog
from trading.rsi_tracker import RsiTracker, WilderAverages, talibs_division
from trading.sma_cross_tracker import Closes
from trading.strategies import STRATEGIES, RsiParams

PERIODS = [2, 3, 5, 14, 30, 100]


def real(symbol: str) -> Closes:
    return Catalog.default().load(symbol).close


def signals_bar_by_bar(series: Closes, params: RsiParams) -> list[tuple[int, int]]:
    """(tracker, straightforward) signals at each prefix, the tracker fed a close a bar, the
    position following the signal as a replay's would."""
    fed = BarByBar(RsiTracker(params.period, params.lower, params.upper), series)
    straightforward = STRATEGIES["rsi"].signal
    pairs, current = [], 0
    for n in range(1, series.size + 1):
        expected = straightforward(params, series[:n], current)
        pairs.append((fed.signal(current), expected))
        current = expected
    return pairs


def assert_same_signals(series: Closes, params: RsiParams) -> list[int]:
    pairs = signals_bar_by_bar(series, params)
    assert [t for t, _ in pairs] == [s for _, s in pairs]
    return [s for _, s in pairs]


def values_bar_by_bar(series: Closes, period: int) -> list[float]:
    values = series.tolist()
    by_reciprocal = talibs_division(period)
    assert by_reciprocal is not None
    averages = WilderAverages(period, values[0], by_reciprocal=by_reciprocal)
    out = []
    for index in range(1, len(values)):
        assert averages.take(values[index], index)
        if index >= period:
            out.append(100.0 * (averages.gain / (averages.gain + averages.loss)))
    return out


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("series", ["SPX", "IXIC", "AAPL", "walk"])
def test_every_bars_value_is_talibs_over_the_whole_history(series: str, period: int) -> None:
    closes = walk(period, 3000) if series == "walk" else real(series)
    expected = talib.RSI(closes, period)[period:]
    # Bit for bit, at every bar: the value at t is what talib.RSI(closes[: t + 1])[-1] gives.
    assert values_bar_by_bar(closes, period) == expected.tolist()
    assert float(talib.RSI(closes[:1000], period)[-1]) == expected[1000 - 1 - period]


@pytest.mark.parametrize(("period", "lower", "upper"), [(2, 30, 70), (5, 45, 55), (14, 30, 70)])
@pytest.mark.parametrize("series", ["SPX", "IXIC", "walk"])
def test_every_bars_signal_is_the_straightforward_one(
    series: str, period: int, lower: float, upper: float
) -> None:
    closes = walk(7, 1500) if series == "walk" else real(series)[:1500]
    signals = assert_same_signals(closes, RsiParams(period=period, lower=lower, upper=upper))
    assert {1, -1} <= set(signals)  # both thresholds were crossed


@pytest.mark.parametrize("odd", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("at", [0, 3, 40])
def test_a_close_that_is_not_finite_leaves_the_value_to_talib(odd: float, at: int) -> None:
    values = walk(3, 200).copy()
    values[at] = odd
    assert_same_signals(frozen(values), RsiParams(period=5, lower=45, upper=55))


def test_a_flat_series_is_talibs_zero() -> None:
    # No gain, no loss: TA-Lib's RSI is 0 (its zero test), so the signal says oversold.
    closes = frozen(np.concatenate([np.full(30, 10.0), walk(1, 100, 10.0), np.full(40, 9.5)]))
    signals = assert_same_signals(closes, RsiParams(period=5, lower=45, upper=55))
    assert signals[20:30] == [1] * 10


def test_tiny_gains_and_losses_are_left_to_talibs_zero_test() -> None:
    # Changes of 1e-12: gain + loss under every epsilon TA-Lib has used, or between them.
    closes = frozen(1.0 + np.cumsum(np.random.default_rng(2).choice([-1e-12, 1e-12, 3e-9], 300)))
    assert_same_signals(closes, RsiParams(period=3, lower=45, upper=55))


def test_other_talib_settings_are_talibs_to_apply() -> None:
    closes = real("SPX")[:400]
    params = RsiParams(period=5, lower=45, upper=55)
    try:
        talib.set_unstable_period("RSI", 10)
        # The first 15 values are NaN now: the position is kept there, not the tracker's say.
        assert assert_same_signals(closes, params)[5:15] == [0] * 10
        talib.set_unstable_period("RSI", 0)
        talib.set_compatibility(1)  # Metastock's first bar
        assert_same_signals(closes, params)
    finally:
        talib.set_unstable_period("RSI", 0)
        talib.set_compatibility(0)


def test_a_series_that_does_not_continue_starts_afresh() -> None:
    spx, ixic = real("SPX"), real("IXIC")
    params = RsiParams(period=5, lower=45, upper=55)
    straightforward = STRATEGIES["rsi"].signal
    tracker = RsiTracker(params.period, params.lower, params.upper)
    cases = [
        spx[:300],
        spx[:301],
        ixic[:302],  # another series, one close more
        spx[1:304],  # the same one, from a later first close
        spx[:304],
        spx[:304].copy(),
        spx[:305],
        spx[:100],  # a new run
        spx[:101],
    ]
    for closes in cases:
        assert restarted(tracker, closes, 0) == straightforward(params, closes, 0)
        assert restarted(tracker, closes[:-1].copy(), 1) == straightforward(params, closes[:-1], 1)


def test_this_talib_is_followed_for_every_period_the_params_allow() -> None:
    # Otherwise every bar would be TA-Lib's: right, and as slow as before.
    assert all(talibs_division(period) is not None for period in range(2, 101))


def test_a_replayed_series_never_asks_talib(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    original = rsi_tracker.talib_rsi

    def talib_rsi(closes: Closes, period: int) -> float:
        asked.append(closes.size)
        return original(closes, period)

    monkeypatch.setattr(rsi_tracker, "talib_rsi", talib_rsi)
    closes = real("SPX")
    fed = BarByBar(RsiTracker(14, 30, 70), closes)
    signals = [fed.signal() for _ in range(closes.size)]
    assert asked == []
    assert {1, -1} <= set(signals)


@pytest.mark.parametrize("period", PERIODS)
def test_fed_in_jumps_it_gives_the_straightforward_signal(period: int) -> None:
    # As `PointInTimeView.closes_since` feeds it: a first batch, then one close or several.
    params = RsiParams(period=period, lower=45, upper=55)
    series = real("SPX")[:700]
    values = series.tolist()
    tracker = RsiTracker(params.period, params.lower, params.upper)
    straightforward = STRATEGIES["rsi"].signal
    seen, current, step = 3, 0, 0
    decided = tracker.restart(values[:seen], current)
    while True:
        closes = series[:seen]
        got = tracker.resolve(closes, current) if decided is None else decided
        assert got == straightforward(params, closes, current), seen
        if seen == len(values):
            break
        current, step = got, step % 3 + 1
        decided = tracker.advance(values[seen : seen + step], current)
        seen = min(seen + step, len(values))
    assert tracker.advance([], current) is not None  # TA-Lib's recurrence, all the way
