"""Cross-sectional factor research: a factor given declaratively (an indicator, or a weighted
combination of indicators' cross-sectional ranks; never code) evaluated over a universe.

Everything is computed from a table of closes that ends at "now" (the caller cuts it there):
the factor at date t uses closes up to t, and the forward return at lag h of date t is
close[t + h] / close[t] - 1, so a date enters the figures of lag h only once t + h has closed.
The result at now is therefore the same whether later data exists or not.

- IC: each date's Spearman rank correlation, across symbols, of the factor with the forward
  return; its mean, standard deviation and t-statistic (mean / (std / sqrt(n))). Forward returns
  of lag h overlap on consecutive dates, which would inflate the t-statistic about sqrt(h)-fold,
  so the t-statistic of lag h is taken on every h-th date only (the last one first).
- Quintiles: each date the symbols are ranked by the factor and split into five groups of as
  equal size as can be (ties broken by symbol order); the mean forward return of each group.
- Top-quintile turnover: the share of the top group's names that were not in it on the
  previous date, averaged over dates.
- The long-short return (top minus bottom quintile at lag 1), compounded by calendar month, is
  what the Fama-French correlations are taken on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import pandas as pd
import talib
from pydantic import Field

from trading.closed import Closed

IC_LAGS = (1, 5, 20)
DECAY_LAGS = (1, 2, 3, 5, 10, 20)
QUINTILES = 5
MIN_NAMES = 3  # fewer symbols on a date than this say nothing about a ranking


IndicatorName = Literal["momentum", "reversal", "volatility", "rsi", "sma_gap", "drawdown"]


class Indicator(Closed):
    """One indicator per symbol, from its own closes up to each date."""

    kind: Literal["indicator"] = "indicator"
    name: IndicatorName = Field(
        description="momentum: return from `window` bars ago to `skip` bars ago; reversal: minus "
        "the return over `window`; volatility: std of daily log returns over `window`; rsi: "
        "Wilder's RSI over `window`; sma_gap: close / SMA(window) - 1; drawdown: close / its "
        "highest close over `window` - 1."
    )
    window: int = Field(20, ge=1, le=756, description="Bars the indicator looks back.")
    skip: int = Field(0, ge=0, le=252, description="Momentum only: most recent bars left out.")
    direction: Literal["high", "low"] = Field(
        "high", description="high: higher values are the better names; low: lower values are."
    )


class RankedPart(Closed):
    indicator: Indicator
    weight: float = Field(1.0, ge=-10, le=10, description="Weight of its cross-sectional rank.")


class Combination(Closed):
    """A weighted sum of the parts' cross-sectional percentile ranks on each date."""

    kind: Literal["combination"] = "combination"
    parts: list[RankedPart] = Field(min_length=1, max_length=8)


FactorSpec = Annotated[Indicator | Combination, Field(discriminator="kind")]


@dataclass(frozen=True, slots=True)
class IcStats:
    lag: int
    mean: float | None
    std: float | None
    t_stat: float | None
    dates: int  # dates in the mean
    independent_dates: int  # every lag-th date: those the t-statistic is taken on


@dataclass(frozen=True, slots=True)
class FactorReport:
    dates: int  # evaluation dates with a factor value for enough symbols
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    ic: list[IcStats]
    decay: list[tuple[int, float | None]]
    quintile_returns: list[float | None]  # mean forward return at lag 1, bottom to top
    monotonic: Literal["increasing", "decreasing", "no"]
    top_turnover: float | None
    long_short_monthly: pd.Series  # compounded by calendar month, indexed by month start


def factor_values(spec: Indicator | Combination, closes: pd.DataFrame) -> pd.DataFrame:
    """The factor on every date and symbol (NaN where its history is too short)."""
    if isinstance(spec, Indicator):
        return _indicator(spec, closes)
    total: pd.DataFrame | None = None
    for part in spec.parts:
        ranks = _indicator(part.indicator, closes).rank(axis=1, pct=True) * part.weight
        total = ranks if total is None else total + ranks
    assert total is not None  # noqa: S101 - min_length=1
    return total


def _indicator(spec: Indicator, closes: pd.DataFrame) -> pd.DataFrame:
    w = spec.window
    if spec.name == "momentum":
        values = closes.shift(spec.skip) / closes.shift(w) - 1.0
    elif spec.name == "reversal":
        values = -(closes / closes.shift(w) - 1.0)
    elif spec.name == "volatility":
        log_closes = pd.DataFrame(np.log(closes.to_numpy()), closes.index, closes.columns)
        values = log_closes.diff().rolling(w, min_periods=w).std(ddof=1)
    elif spec.name == "rsi":
        values = closes.apply(_rsi, window=w)
    elif spec.name == "sma_gap":
        values = closes / closes.rolling(w, min_periods=w).mean() - 1.0
    else:
        values = closes / closes.rolling(w, min_periods=w).max() - 1.0
    return values if spec.direction == "high" else -values


def _rsi(column: pd.Series, window: int) -> pd.Series:
    # TA-Lib's RSI is causal; it needs a contiguous float64 array without gaps.
    present = column.dropna()
    if len(present) <= window:
        return pd.Series(np.nan, index=column.index)
    values = talib.RSI(np.ascontiguousarray(present.to_numpy(), dtype=np.float64), window)
    return pd.Series(values, index=present.index).reindex(column.index)


def forward_returns(closes: pd.DataFrame, lag: int) -> pd.DataFrame:
    """close[t + lag] / close[t] - 1; NaN where t + lag is not in the table (not yet closed)."""
    return closes.shift(-lag) / closes - 1.0


def daily_ic(factor: pd.DataFrame, returns: pd.DataFrame) -> pd.Series:
    """Each date's Spearman correlation across symbols (dates with < MIN_NAMES pairs dropped)."""
    both = factor.notna() & returns.notna()
    f = factor.where(both).rank(axis=1)
    r = returns.where(both).rank(axis=1)
    count = both.sum(axis=1)
    fc = f.sub(f.mean(axis=1), axis=0)
    rc = r.sub(r.mean(axis=1), axis=0)
    denominator = ((fc**2).sum(axis=1) * (rc**2).sum(axis=1)) ** 0.5
    ic = (fc * rc).sum(axis=1) / denominator.where(denominator > 0)
    kept: pd.Series = ic[(count >= MIN_NAMES) & ic.notna()]
    return kept


def ic_stats(ic: pd.Series, lag: int) -> IcStats:
    if ic.empty:
        return IcStats(lag, None, None, None, 0, 0)
    independent = ic.iloc[::-1].iloc[::lag]  # the last date, then every lag-th before it
    mean = float(ic.mean())
    std = float(ic.std(ddof=1)) if len(ic) > 1 else None
    t_stat = None
    if len(independent) > 1:
        spread = float(independent.std(ddof=1))
        if spread > 0:
            t_stat = float(independent.mean()) / (spread / math.sqrt(len(independent)))
    return IcStats(lag, mean, std, t_stat, len(ic), len(independent))


def quintile_labels(factor: pd.DataFrame) -> pd.DataFrame:
    """1 (lowest factor) to 5 (highest) per date; NaN where the factor is missing or fewer than
    MIN_NAMES symbols have one. Ties go by symbol order, so the groups are always filled."""
    ranks = factor.rank(axis=1, method="first")
    count = factor.notna().sum(axis=1)
    scaled = ranks.div(count, axis=0) * QUINTILES
    labels = pd.DataFrame(np.ceil(scaled.to_numpy()), scaled.index, scaled.columns)
    return labels.where(count >= MIN_NAMES, axis=0)


def evaluate(spec: Indicator | Combination, closes: pd.DataFrame, dates: int) -> FactorReport:
    """The factor's figures over the last `dates` rows of `closes` (whose history before them
    feeds the indicators' windows)."""
    factor = factor_values(spec, closes).iloc[-dates:]
    labels = quintile_labels(factor)
    judged = labels.notna().any(axis=1)
    ics = {}
    for lag in sorted({*IC_LAGS, *DECAY_LAGS}):
        ahead = forward_returns(closes, lag).iloc[-dates:]
        ics[lag] = daily_ic(factor, ahead)
    next_day = forward_returns(closes, 1).iloc[-dates:]
    quintiles: list[float | None] = []
    for q in range(1, QUINTILES + 1):
        group = next_day.where(labels == q)
        per_date = group.mean(axis=1).dropna()
        quintiles.append(float(per_date.mean()) if len(per_date) else None)
    spread = (
        next_day.where(labels == QUINTILES).mean(axis=1) - next_day.where(labels == 1).mean(axis=1)
    ).dropna()
    return FactorReport(
        dates=int(judged.sum()),
        first=factor.index[judged][0] if judged.any() else None,
        last=factor.index[judged][-1] if judged.any() else None,
        ic=[ic_stats(ics[lag], lag) for lag in IC_LAGS],
        decay=[(lag, float(ics[lag].mean()) if len(ics[lag]) else None) for lag in DECAY_LAGS],
        quintile_returns=quintiles,
        monotonic=_monotonic(quintiles),
        top_turnover=_turnover(labels == QUINTILES, judged),
        long_short_monthly=_monthly(spread),
    )


def _monotonic(values: Sequence[float | None]) -> Literal["increasing", "decreasing", "no"]:
    if any(v is None for v in values):
        return "no"
    steps = np.diff(np.array(values, dtype=np.float64))
    if (steps > 0).all():
        return "increasing"
    if (steps < 0).all():
        return "decreasing"
    return "no"


def _turnover(top: pd.DataFrame, judged: pd.Series) -> float | None:
    held = top[judged].to_numpy(dtype=bool)
    if len(held) < 2:
        return None
    kept = (held[1:] & held[:-1]).sum(axis=1)
    size = held[1:].sum(axis=1)
    return float(np.mean(1.0 - kept / size))


def _monthly(returns: pd.Series) -> pd.Series:
    if returns.empty:
        return returns
    index = pd.DatetimeIndex(returns.index)
    naive = index.tz_localize(None) if index.tz is not None else index
    grown: pd.Series = (1.0 + returns).groupby(naive.to_period("M").to_timestamp()).prod() - 1.0
    return grown
