"""Resampling statistics for comparing equity curves: is a Sharpe ratio, or its lead over a
benchmark, more than luck?

Daily returns are autocorrelated and volatility clusters, so resampling single days (the iid
bootstrap) understates how uncertain a Sharpe ratio is. A block bootstrap resamples runs of
consecutive days instead, keeping short-range dependence inside each block:

- stationary (Politis & Romano, 1994): blocks of random length, geometric with mean L, starting
  at uniformly random days; the series wraps around its end.
- circular (Politis & Romano, 1992): blocks of exactly L days at uniformly random starts,
  wrapping around the end; the last block is cut to the series length.

The block length L defaults to ceil(n ** (1/3)), the rate that is optimal for variance-type
statistics such as the Sharpe ratio (Hall, Horowitz & Jing, 1995): 7 days for a year of daily
bars, 11 for five years, 16 for twenty.

Comparing several curves on the same resampled days (the same index matrix for all of them)
makes a comparison paired: the interval of Sharpe(entrant) - Sharpe(benchmark) keeps whatever
the two share (a common market), which is what makes a small difference detectable.

Pure numpy, floats throughout (statistics, not balances); randomness only from the seed given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Indices = npt.NDArray[np.int64]
Method = Literal["stationary", "circular"]

# Below this a standard deviation is float noise, not risk: the Sharpe ratio is then 0, as
# `trading.metrics` reports it.
_NEGLIGIBLE: Final = 1e-12


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate and its percentile bootstrap interval."""

    estimate: float
    lower: float
    upper: float
    confidence: float

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of zero."""
        return self.lower > 0.0 or self.upper < 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "lower": self.lower,
            "upper": self.upper,
            "confidence": self.confidence,
            "excludes_zero": self.excludes_zero,
        }


@dataclass(frozen=True, slots=True)
class Spread:
    """Mean and spread of one figure over repeated runs (different seeds)."""

    mean: float
    std: float  # sample standard deviation (ddof=1); 0 for a single run
    minimum: float
    maximum: float
    runs: int

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "std": self.std,
            "min": self.minimum,
            "max": self.maximum,
            "runs": self.runs,
        }


def auto_block_length(n: int) -> int:
    """ceil(n ** (1/3)), at least 1: the default block length for n returns."""
    if n < 1:
        raise ValueError(f"a block length needs at least one return, got n={n!r}")
    # The 1e-9 keeps perfect cubes exact: 1000 ** (1/3) is 10.000000000000002 in floats.
    return max(1, math.ceil(math.pow(n, 1.0 / 3.0) - 1e-9))


def bootstrap_indices(
    n: int,
    *,
    samples: int,
    seed: int,
    block_length: int | None = None,
    method: Method = "stationary",
) -> Indices:
    """A (samples, n) matrix of resampled positions 0..n-1, built from blocks of consecutive
    positions that wrap around the end. The same seed gives the same matrix.

    Raises:
        ValueError: for n or samples below 1, a block length below 1, or an unknown method.
    """
    if n < 1 or samples < 1:
        raise ValueError(f"need n >= 1 and samples >= 1, got n={n!r}, samples={samples!r}")
    length = auto_block_length(n) if block_length is None else block_length
    if length < 1:
        raise ValueError(f"block_length must be at least 1, got {length!r}")
    rng = np.random.default_rng(seed)
    positions = np.arange(n, dtype=np.int64)
    if method == "circular":
        blocks = math.ceil(n / length)
        starts = rng.integers(0, n, size=(samples, blocks), dtype=np.int64)
        within = np.arange(length, dtype=np.int64)
        chained = (starts[:, :, None] + within[None, None, :]).reshape(samples, blocks * length)
        return chained[:, :n] % n
    if method == "stationary":
        starts = rng.integers(0, n, size=(samples, n), dtype=np.int64)
        # Each position opens a new block with probability 1/L, so lengths are geometric with
        # mean L; the first position always opens one.
        opens = rng.random((samples, n)) < 1.0 / length
        opens[:, 0] = True
        last_open = np.maximum.accumulate(np.where(opens, positions, 0), axis=1)
        rows = np.arange(samples)[:, None]
        return (starts[rows, last_open] + (positions - last_open)) % n
    raise ValueError(f"unknown bootstrap method {method!r}; use 'stationary' or 'circular'")


def sharpe_ratio(returns: Floats, periods_per_year: float) -> Floats:
    """Annualised Sharpe ratio (risk-free rate 0) along the last axis: mean / std(ddof=1) x
    sqrt(periods per year); 0 where the standard deviation is negligible or there are fewer
    than two returns, as in `trading.metrics`."""
    values = np.asarray(returns, dtype=np.float64)
    if values.shape[-1] < 2:
        return np.zeros(values.shape[:-1])
    std = values.std(axis=-1, ddof=1)
    mean = values.mean(axis=-1)
    safe = np.where(std > _NEGLIGIBLE, std, 1.0)
    return np.where(std > _NEGLIGIBLE, mean / safe, 0.0) * math.sqrt(periods_per_year)


def sharpe_intervals(
    runs: Floats,
    indices: Indices,
    *,
    periods_per_year: float,
    confidence: float = 0.95,
    benchmark: Floats | None = None,
) -> tuple[Interval, Interval | None]:
    """The interval of an entrant's Sharpe ratio and, with a benchmark, of its Sharpe minus
    the benchmark's, both resampled on the rows of `indices`.

    Args:
        runs: Returns per period, shape (periods,) for one run or (runs, periods) for repeated
            runs of a stochastic entrant over the same periods; the statistic is then the mean
            Sharpe over the runs, and each resample applies the same days to every run.
        indices: From `bootstrap_indices(periods, ...)`; share one matrix between every
            entrant and the benchmark so all comparisons are paired.
        periods_per_year: For annualising.
        confidence: Two-sided coverage, e.g. 0.95.
        benchmark: The benchmark's returns over the same periods, shape (periods,).

    Raises:
        ValueError: for mismatched shapes or a confidence outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    matrix = np.atleast_2d(np.asarray(runs, dtype=np.float64))
    periods = matrix.shape[1]
    if indices.ndim != 2 or indices.shape[1] != periods:
        raise ValueError(f"indices of shape {indices.shape!r} do not resample {periods} periods")
    # (runs, samples, periods) -> mean Sharpe over runs per sample.
    resampled = sharpe_ratio(matrix[:, indices], periods_per_year).mean(axis=0)
    estimate = float(sharpe_ratio(matrix, periods_per_year).mean())
    own = _interval(estimate, resampled, confidence)
    if benchmark is None:
        return own, None
    bench = np.asarray(benchmark, dtype=np.float64)
    if bench.shape != (periods,):
        raise ValueError(f"benchmark of shape {bench.shape!r} does not cover {periods} periods")
    bench_resampled = sharpe_ratio(bench[indices], periods_per_year)
    difference = estimate - float(sharpe_ratio(bench, periods_per_year))
    return own, _interval(difference, resampled - bench_resampled, confidence)


def spread(values: list[float] | Floats) -> Spread:
    """Mean, sample standard deviation, minimum and maximum over repeated runs.

    Raises:
        ValueError: for no values.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("a spread needs at least one run")
    std = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return Spread(
        mean=float(array.mean()),
        std=std,
        minimum=float(array.min()),
        maximum=float(array.max()),
        runs=int(array.size),
    )


def simple_returns(equity: Floats) -> Floats:
    """equity[t] / equity[t-1] - 1; a period starting at or below zero equity counts as 0, as
    in `trading.metrics` (a ruined account standing still)."""
    values = np.asarray(equity, dtype=np.float64)
    previous, current = values[..., :-1], values[..., 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = current / previous - 1.0
    return np.where(previous > 0, returns, 0.0)


def _interval(estimate: float, resampled: Floats, confidence: float) -> Interval:
    tail = (1.0 - confidence) / 2.0
    lower, upper = np.quantile(resampled, [tail, 1.0 - tail])
    return Interval(estimate, float(lower), float(upper), confidence)
