"""The SMA crossover signal kept bar by bar: running float sums with a proven error bound, and
numpy's own computation wherever the bound cannot tell.

`strategies._sma_cross` compares `np.add.reduce(window) / n` of a fast and a slow window: two
reductions over a few dozen floats each bar, ~0.9 us apiece in ufunc overhead alone. Here each
window's sum is kept as a float, adding the new close and taking the oldest out, together with
a bound on how far that float is from the exact sum: with positive closes each update rounds
twice, each time by at most u = 2**-53 of a result that is at most `t`, the sum before the
oldest close leaves, so the bound grows by 2u * t a close (kept as 4u * t: the bound's own
roundings then never make it smaller than the error, for fewer than 2**52 updates).

Floating-point summation in any order (numpy's pairwise one included) errs by at most
gamma(n-1) = (n-1)u/(1-(n-1)u) times the sum (Higham, Accuracy and Stability of Numerical
Algorithms, 4.2), and the division by n adds at most u: each computed mean lies within
gamma(n) of the exact one, relatively. Where the exact means differ by more than twice that
(|a - b| * 2**52 > (slow + 2) * (a + b), with a and b the means times fast * slow), numpy's
comparison has the exact one's outcome. The running sums show that condition wherever
|A - B|, their own difference, exceeds twice the errors that can hide in it plus that margin;
everywhere else (ties, near ties, a bound grown too wide) the signal is `sma_cross_signal` on
the closes themselves, and the sums restart from `math.fsum` (the exact sum, rounded once).
A close that is not a positive float between 1e-100 and 1e100 (where the rounding bounds need
normal numbers and positive terms) leaves every later bar of the series to numpy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Closes = np.ndarray[Any, np.dtype[np.float64]]

# Closes the running sums take in: their sums, the bounds and the products stay normal floats.
_LOWEST, _HIGHEST = 1e-100, 1e100
# Twice u per update, doubled again for the bound's own roundings.
_GROWTH = 2.0**-51
_fsum = math.fsum


class SmaCrossTracker:
    """One symbol's fast/slow SMA comparison, bar after bar, fed as `PointInTimeView.closes_since`
    feeds a reader that keeps the continuity itself (`running_strategy`): `restart(values)` with
    the closes so far, then `advance(new_values)` with each bar's new ones; their None means
    "ask `resolve` with the closes array", the rare bar the sums cannot decide."""

    def __init__(self, fast: int, slow: int) -> None:
        self._fast, self._slow = fast, slow
        self._values: list[float] = []  # the closes seen, as floats
        # The running window sums and bounds on their errors; unused once `bounded` is False.
        self._fast_sum = self._slow_sum = 0.0
        self._fast_error = self._slow_error = 0.0
        self._bounded = True
        # |A - B| must exceed 2 * (slow * fast_error + fast * slow_error) + margin * (A + B):
        # twice what the errors and the exact criterion ((n + 2) * 2**-52, n the longer
        # window: `SmaCrossParams` makes it the slow one) ask for, the roundings in A, B and
        # their difference included (4u each, generously).
        self._fast_weight, self._slow_weight = 2.0 * slow, 2.0 * fast
        self._margin = 2.0 * ((max(fast, slow) + 2) * 2.0**-52 + 2.0**-50)

    def restart(self, values: list[float], current: int = 0) -> int | None:
        """Start afresh from these closes (a new series, or one that does not continue)."""
        self._values = []
        self._fast_sum = self._slow_sum = self._fast_error = self._slow_error = 0.0
        self._bounded = True
        return self.advance(values)

    def advance(self, new: list[float], current: int = 0) -> int | None:
        """Take in the closes that follow the ones seen; the signal, or None where only
        `resolve` (numpy on the closes) can say."""
        values = self._values
        fast, slow = self._fast, self._slow
        for value in new:
            values.append(value)
            if not self._bounded:
                continue
            if not _LOWEST < value < _HIGHEST:  # NaN fails both comparisons
                self._bounded = False
                continue
            count = len(values)
            # Each update rounds twice, by at most u of a result no bigger than the sum `t`.
            t = self._fast_sum + value
            self._fast_sum = t - values[count - 1 - fast] if count > fast else t
            self._fast_error += t * _GROWTH
            t = self._slow_sum + value
            self._slow_sum = t - values[count - 1 - slow] if count > slow else t
            self._slow_error += t * _GROWTH
        if len(values) < slow:
            return 0
        if self._bounded:
            a, b = self._fast_sum * slow, self._slow_sum * fast
            difference = a - b
            hidden = (
                self._fast_error * self._fast_weight
                + self._slow_error * self._slow_weight
                + (a + b) * self._margin
            )
            if difference > hidden:
                return 1
            if -difference > hidden:
                return -1
            # Undecided: numpy says, and the sums restart from the exact ones, rounded once.
            self._fast_sum, self._slow_sum = _fsum(values[-fast:]), _fsum(values[-slow:])
            self._fast_error = self._fast_sum * _GROWTH
            self._slow_error = self._slow_sum * _GROWTH
        return None

    def resolve(self, closes: Closes, current: int = 0) -> int:
        """The signal where `advance` gave None: numpy's, on the closes seen."""
        return 0 if closes.size < self._slow else sma_cross_signal(closes, self._fast, self._slow)


def sma_cross_signal(closes: Closes, fast: int, slow: int) -> int:
    """+1 where the mean of the last `fast` closes is above that of the last `slow`, else -1
    (the caller checks that there are `slow` closes)."""
    # np.add.reduce skips np.mean's argument handling, which dominates on short windows.
    fast_mean = np.add.reduce(closes[-fast:]) / fast
    slow_mean = np.add.reduce(closes[-slow:]) / slow
    return 1 if fast_mean > slow_mean else -1
