"""The SMA crossover signal kept bar by bar: exact sums, and numpy only where they cannot tell.

`strategies._sma_cross` compares `np.add.reduce(window) / n` of a fast and a slow window: two
reductions over a few dozen floats each bar, ~0.9 us apiece in ufunc overhead alone. Here each
close enters an integer once (a float is an integer times a power of two), so the window sums
are kept exactly by adding the new close and taking the oldest out. Floating-point summation in
any order (numpy's pairwise one included) errs by at most gamma(n-1) = (n-1)u/(1-(n-1)u) times
the sum of the magnitudes (Higham, Accuracy and Stability of Numerical Algorithms, 4.2), and
the division by n adds at most u (u = 2**-53): each computed mean lies within gamma(n) of the
exact one, relatively. Where the exact means differ by more than twice that, the computed
comparison has the exact one's outcome; only nearer than that (never, on the bundled data) the
signal is computed the way `_sma_cross` computes it. A window with a close that is not a finite
positive float (where the bound's sum of magnitudes would not be the sum) falls back for good.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Closes = np.ndarray[Any, np.dtype[np.float64]]

# Mantissa scale: frexp's fraction in [0.5, 1) times 2**53 is an exact integer below 2**53.
_MANTISSA = float(2**53)
# Binades below the first close that the integer scale covers before it has to widen.
_HEADROOM = 16
_INFINITY = math.inf
_frexp = math.frexp


class SmaCrossTracker:
    """One symbol's fast/slow SMA comparison, bar after bar: `signal(closes)` is
    `sma_cross_signal(closes, fast, slow)` for every array, and incremental while each call's
    closes are the previous call's plus one (all the closes a point-in-time view shows, as
    `PointInTimeView.closes` returns them: a prefix of one series that grows as the clock
    moves). Anything else (a new run, another series, a replaced one) starts it afresh."""

    def __init__(self, fast: int, slow: int) -> None:
        self._fast, self._slow = fast, slow
        self._count = 0  # closes seen
        self._base: object = None  # the array the closes seen are a prefix of
        self._last = math.nan  # the newest close seen
        # The closes seen as integers at scale 2**(shift + 53), and the exact fast and slow
        # window sums; unused once `exact` is False (a close that is not a finite positive float).
        self._units: list[int] = []
        self._shift = 0
        self._fast_sum = self._slow_sum = 0
        self._exact = True
        # Decided where |difference| << 52 exceeds this times the sum: twice gamma(slow) > u*n.
        self._margin = slow + 2

    def signal(self, closes: Closes, current: int = 0) -> int:
        """The signal at these closes (`current`, the position's direction, is not used)."""
        size = closes.size
        if (
            size == self._count + 1
            and closes.base is self._base
            and self._base is not None
            # `item`: a Python float straight from the array, not a numpy scalar (~0.1 us).
            and (size == 1 or not self._exact or closes.item(-2) == self._last)
        ):
            self._count = size
            if self._exact:
                self._extend(closes.item(-1))
        else:
            self._restart(closes)
        if size < self._slow:
            return 0
        if self._exact:
            # The means scaled by fast * slow * 2**(shift + 53): integers, compared exactly.
            a, b = self._fast_sum * self._slow, self._slow_sum * self._fast
            difference = a - b
            if abs(difference) << 52 > self._margin * (a + b):
                return 1 if difference > 0 else -1
        return sma_cross_signal(closes, self._fast, self._slow)

    def _restart(self, closes: Closes) -> None:
        values = closes.tolist()
        self._count = len(values)
        self._base = closes.base
        self._units = []
        self._fast_sum = self._slow_sum = 0
        self._exact = True
        self._shift = _shift_for(values[0]) if values else 0
        for value in values:
            self._extend(value)
            if not self._exact:
                break

    def _extend(self, value: float) -> None:
        self._last = value
        if not 0.0 < value < _INFINITY:  # NaN fails both comparisons
            self._exact = False
            return
        fraction, exponent = _frexp(value)
        places = exponent + self._shift
        if places < 0:  # finer than the scale: widen it (every integer kept stays exact)
            self._widen(-places)
            places = 0
        unit = int(fraction * _MANTISSA) << places
        units = self._units
        units.append(unit)
        count = len(units)
        fast, slow = self._fast, self._slow
        self._fast_sum += unit - units[count - 1 - fast] if count > fast else unit
        self._slow_sum += unit - units[count - 1 - slow] if count > slow else unit

    def _widen(self, places: int) -> None:
        self._shift += places
        self._units = [unit << places for unit in self._units]
        self._fast_sum <<= places
        self._slow_sum <<= places


def _shift_for(first: float) -> int:
    """The scale (less 53) at which `first`, and closes down to 2**-_HEADROOM of it, are
    integers: a close m * 2**e (m in [0.5, 1)) is the integer m * 2**53 shifted by e + shift."""
    if not 0.0 < first < _INFINITY:
        return 0
    return _HEADROOM - _frexp(first)[1]


def sma_cross_signal(closes: Closes, fast: int, slow: int) -> int:
    """+1 where the mean of the last `fast` closes is above that of the last `slow`, else -1
    (the caller checks that there are `slow` closes)."""
    # np.add.reduce skips np.mean's argument handling, which dominates on short windows.
    fast_mean = np.add.reduce(closes[-fast:]) / fast
    slow_mean = np.add.reduce(closes[-slow:]) / slow
    return 1 if fast_mean > slow_mean else -1
