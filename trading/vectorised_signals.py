"""Signals of the quant strategies over a whole close array, for the vectorised path.

`signal_table` gives, for every bar and each direction a position may hold, exactly what the
strategy's own function (`trading.strategies`) returns for the closes up to that bar. The
vectorised formulas round differently from the per-bar ones (a rolling mean from a running sum,
deviations over a sliding window), so wherever a float result lies within its error bound of a
decision threshold, the strategy's own function decides that bar.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import talib
from numpy.lib.stride_tricks import sliding_window_view

from trading.errors import ConfigError
from trading.strategies import (
    STRATEGIES,
    BuyAndHoldParams,
    MeanReversionParams,
    MomentumParams,
    QuantParams,
    RsiParams,
    SmaCrossParams,
)

Floats = np.ndarray[Any, np.dtype[np.float64]]
Signals = np.ndarray[Any, np.dtype[np.int8]]

# Unit roundoff of float64: the bound on the relative error of one rounded operation.
_U: Final = float(np.finfo(np.float64).eps) / 2


def signal_table(kind: str, params: QuantParams, closes: Floats, cumsum: Floats) -> Signals:
    """The strategy's signal at every bar for each direction held: row d + 1 is the signal when
    the position's direction is d (-1, 0, 1), column t the signal from closes[: t + 1]. Shorts
    are clipped to flat when the genome does not short, as `strategy_targets` does."""
    if kind not in STRATEGIES or not isinstance(params, STRATEGIES[kind].params):
        raise ConfigError(f"params {params!r} are not the parameters of strategy {kind!r}")
    n = len(closes)
    table = np.zeros((3, n), dtype=np.int8)
    held = np.array([[-1], [0], [1]], dtype=np.int8)
    ambiguous = np.zeros(n, dtype=bool)
    if isinstance(params, BuyAndHoldParams):
        table[:] = 1
    elif isinstance(params, SmaCrossParams):
        fast, slow = params.fast, params.slow
        if n >= slow:
            # Bars t = slow - 1 .. n - 1, as slices (views) rather than gathers by index.
            ends = cumsum[slow:]  # cumsum[t + 1]
            fast_mean = (ends - cumsum[slow - fast : n + 1 - fast]) / fast
            slow_mean = (ends - cumsum[: n + 1 - slow]) / slow
            table[:, slow - 1 :] = np.where(fast_mean > slow_mean, 1, -1)
            # Recursive summation errs by at most (m - 1) u times the sum of m positive terms;
            # both running sums and the replay's own sum stay inside 4 (t + 2) u cumsum[t + 1]
            # / fast.
            bound = 4 * np.arange(slow + 1, n + 2) * _U * ends / fast
            ambiguous[slow - 1 :] = np.abs(fast_mean - slow_mean) <= bound
    elif isinstance(params, MomentumParams):
        lookback, threshold = params.lookback, params.threshold
        # Element-wise division and subtraction round exactly as the scalar ones: no ambiguity.
        change = closes[lookback:] / closes[:-lookback] - 1.0
        table[:, lookback:] = np.where(change > threshold, 1, np.where(change < -threshold, -1, 0))
    elif isinstance(params, MeanReversionParams):
        _mean_reversion(params, closes, table, held, ambiguous)
    elif isinstance(params, RsiParams):
        period, lower, upper = params.period, params.lower, params.upper
        # TA-Lib's RSI is causal and iterates from the first bar either way, so its value at t
        # over the whole array is the replay's over closes[: t + 1]; checked near thresholds.
        value = talib.RSI(np.ascontiguousarray(closes), period)[period:]
        decided = np.where(value < lower, 1, np.where(value > upper, -1, 2))
        table[:, period:] = np.where(decided == 2, held, decided)
        near = (np.abs(value - lower) <= 1e-7) | (np.abs(value - upper) <= 1e-7)
        ambiguous[period:] = near
    else:
        raise ConfigError(f"strategy {kind!r} has no vectorised signal")
    signal = STRATEGIES[kind].signal
    for bar in np.flatnonzero(ambiguous):
        for row, direction in enumerate((-1, 0, 1)):
            table[row, bar] = signal(params, closes[: bar + 1], direction)
    if not params.allow_short:
        np.maximum(table, 0, out=table)
    return table


def _mean_reversion(
    params: MeanReversionParams,
    closes: Floats,
    table: Signals,
    held: Signals,
    ambiguous: np.ndarray[Any, np.dtype[np.bool_]],
) -> None:
    window, entry, exit_ = params.window, params.entry_z, params.exit_z
    if len(closes) < window:
        return
    windows = sliding_window_view(closes, window)
    mean = windows.mean(axis=1)
    deviation = windows.std(axis=1, ddof=1)
    gap = windows[:, -1] - mean
    with np.errstate(divide="ignore", invalid="ignore"):
        z = gap / deviation
    decided = np.where(z <= -entry, 1, np.where(z >= entry, -1, np.where(np.abs(z) <= exit_, 0, 2)))
    decided[deviation == 0.0] = 2
    table[:, window - 1 :] = np.where(decided == 2, held, decided)
    # Two-pass mean and deviation of prices err by far less than 1e-10 of the largest price;
    # near a threshold (gap = c x deviation) or a zero deviation, the replay's function decides.
    bound = 1e-10 * windows.max(axis=1) * (1 + entry)
    near = deviation <= bound
    for level in (entry, exit_):
        near |= np.abs(np.abs(gap) - level * deviation) <= bound
    ambiguous[window - 1 :] = near
