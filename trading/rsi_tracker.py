"""Wilder's RSI kept bar by bar: TA-Lib's own recurrence, so the same float on every bar.

`talib.RSI(closes, period)[-1]` runs a recurrence from the first close to the last: the first
`period` changes are summed into a gain and a loss and averaged, every later change updates
them as `(average * (period - 1) + change) / period`, and the value is
`100 * (gain / (gain + loss))` (0 where the sum is "zero" to TA-Lib's epsilon). Redone over the
whole history on every bar that is O(n) a bar, O(n^2) a run. The state at a bar depends on the
closes up to it only, so carrying it from bar to bar and making the same IEEE double operations
in the same order as TA-Lib's C (one rounding each; Python's floats round the same way) gives
the very float TA-Lib gives. `RsiTracker` does that where it can show it is the same
computation, and asks TA-Lib otherwise:

- the closes must continue the ones seen (the same series from the same first close: the
  caller's to know, as `running_strategy` knows it from `closes_since`'s token and count);
- every close must be finite (TA-Lib skips leading NaNs; a NaN or infinity later poisons it);
- TA-Lib must run its default algorithm (no unstable period, no Metastock compatibility);
- a gain + loss within 1e-7 of zero is TA-Lib's to judge (its epsilon has been 1e-8 and 1e-14
  across versions);
- on first use per period, the recurrence is checked against `talib.RSI` at every bar of a
  fixed random walk (`talibs_division`): how the build at hand divides is found out there,
  never assumed.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import talib

from trading.sma_cross_tracker import Closes

# A gain + loss under this is left to TA-Lib's own zero test (its epsilon is smaller).
_NEAR_ZERO = 1e-7
_isfinite = math.isfinite


def talib_rsi(closes: Closes, period: int) -> float:
    """TA-Lib's RSI at the last close (NaN where it has none); it needs a contiguous float64
    array, which the closes a point-in-time view shows already are (no copy then)."""
    return float(talib.RSI(np.ascontiguousarray(closes, dtype=np.float64), period)[-1])


def rsi_signal(value: float, lower: float, upper: float, current: int) -> int:
    """Long under `lower`, short over `upper`, else (NaN included) the position as it is."""
    if value < lower:
        return 1
    if value > upper:
        return -1
    return current


class RsiTracker:
    """One symbol's RSI signal, bar after bar, fed as `PointInTimeView.closes_since` feeds a
    reader that keeps the continuity itself (`running_strategy`): `restart(values, current)`
    with the closes so far, then `advance(new, current)` with each bar's new ones; their None
    means "ask `resolve` with the closes array" (TA-Lib's to compute)."""

    def __init__(self, period: int, lower: float, upper: float) -> None:
        self._period, self._lower, self._upper = period, lower, upper
        self._count = 0  # closes seen
        # TA-Lib's state after the closes seen; None where it is TA-Lib's to compute.
        self._averages: WilderAverages | None = None

    def restart(self, values: list[float], current: int = 0) -> int | None:
        """Start afresh from these closes (a new series, or one that does not continue)."""
        self._count = 0
        self._averages = None
        if (
            not values
            or not _isfinite(values[0])  # TA-Lib skips leading NaNs: not this recurrence
            or _talib_settings() != (0, 0)
            or (by_reciprocal := talibs_division(self._period)) is None
        ):
            self._count = len(values)
            return 0 if self._count <= self._period else None
        self._count = 1
        self._averages = WilderAverages(self._period, values[0], by_reciprocal=by_reciprocal)
        return self.advance(values[1:], current)

    def advance(self, new: list[float], current: int = 0) -> int | None:
        """Take in the closes that follow the ones seen; the signal, or None where only
        `resolve` (TA-Lib on the closes) can say."""
        averages = self._averages
        index = self._count
        self._count = index + len(new)
        if averages is not None:
            for close in new:
                if not averages.take(close, index):
                    averages = self._averages = None
                    break
                index += 1
        if self._count <= self._period:
            return 0
        if averages is not None:
            gain = averages.gain
            total = gain + averages.loss
            if not -_NEAR_ZERO < total < _NEAR_ZERO:
                return rsi_signal(100.0 * (gain / total), self._lower, self._upper, current)
        return None

    def resolve(self, closes: Closes, current: int = 0) -> int:
        """The signal where `advance` gave None: TA-Lib's, on the closes seen."""
        if closes.size <= self._period:
            return 0
        return rsi_signal(talib_rsi(closes, self._period), self._lower, self._upper, current)


class WilderAverages:
    """TA-Lib's RSI state after a series' closes: the sums of the first `period` changes, then
    Wilder's smoothed average gain and loss, updated as TA-Lib updates them. `ta_RSI.c` reads
    as dividing by the period; the build the `ta-lib` wheel ships (TA-Lib 0.8.1) multiplies by
    its reciprocal instead (another rounding where 1/period is not a power of two), so which one
    is made is a parameter, and `talibs_division` finds out which this process's TA-Lib does."""

    __slots__ = ("by_reciprocal", "gain", "last", "loss", "period", "reciprocal")

    def __init__(self, period: int, first: float, *, by_reciprocal: bool) -> None:
        self.period = period
        self.by_reciprocal, self.reciprocal = by_reciprocal, 1.0 / period
        self.gain = self.loss = 0.0
        self.last = first  # the newest close taken

    def take(self, close: float, index: int) -> bool:
        """Take in the close at `index` (>= 1) of the series; False where the state is not
        TA-Lib's from here on (a close, or the first, that is not finite)."""
        change = close - self.last
        if not _isfinite(change):
            return False
        self.last = close
        period = self.period
        if index > period:  # Wilder's smoothing: multiply, add the change, divide
            loss = self.loss * (period - 1)
            gain = self.gain * (period - 1)
            if change < 0.0:
                loss -= change
            else:
                gain += change
        else:  # the first `period` changes are summed, then averaged
            loss, gain = self.loss, self.gain
            if change < 0.0:
                loss -= change
            else:
                gain += change
            if index < period:
                self.loss, self.gain = loss, gain
                return True
        if self.by_reciprocal:
            self.loss, self.gain = loss * self.reciprocal, gain * self.reciprocal
        else:
            self.loss, self.gain = loss / period, gain / period
        return True


def _talib_settings() -> tuple[int, int]:
    """TA-Lib's unstable period for RSI and its compatibility (0, 0 by default): global
    settings that change what `talib.RSI` computes."""
    # Both are imported into talib's namespace but left out of its __all__, hence the ignores.
    unstable = talib.get_unstable_period("RSI")  # type: ignore[attr-defined]
    compatibility = talib.get_compatibility()  # type: ignore[attr-defined]
    return int(unstable), int(compatibility)


@functools.cache
def talibs_division(period: int) -> bool | None:
    """How this process's TA-Lib averages by `period`: True where `WilderAverages` gives
    `talib.RSI`'s value on every bar of a fixed random walk by multiplying by the reciprocal,
    False where by dividing, None where neither (the tracker then leaves every bar to TA-Lib).
    Once per period and process: one TA-Lib build serves the process's life."""
    steps = np.random.default_rng(period).normal(0.0, 0.02, 400)
    walk = 100.0 * np.exp(np.cumsum(steps))
    expected = talib.RSI(walk, period).tolist()
    values = walk.tolist()
    for by_reciprocal in (True, False):
        averages = WilderAverages(period, values[0], by_reciprocal=by_reciprocal)
        for index in range(1, len(values)):
            averages.take(values[index], index)
            if index >= period:
                gain = averages.gain
                if 100.0 * (gain / (gain + averages.loss)) != expected[index]:
                    break
        else:
            return by_reciprocal
    return None
