"""Performance statistics of an equity curve: return, risk, risk-adjusted ratios, drawdown,
benchmark-relative figures and trade statistics.

Floats throughout: these are statistics, not balances. Every figure is finite, because the
result goes to JSON; where a ratio is undefined (no volatility, no drawdown, no losing trade)
the docstring of `compute_metrics` says what is reported instead.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from trading.errors import FatalError

Floats = npt.NDArray[np.float64]

DAYS_PER_YEAR: Final = 365.25
TRADING_DAYS_PER_YEAR: Final = 252.0
# Below this a per-period standard deviation (or drawdown) is rounding noise, not risk: float64
# returns carry errors near 1e-16, and dividing by such noise would report absurd ratios.
_NEGLIGIBLE: Final = 1e-12
# A run of daily bars counts as an exchange calendar when it averages fewer bars per calendar day
# than this, halfway between 5 of 7 (weekdays) and 7 of 7 (every day).
_EXCHANGE_DENSITY: Final = 6 / 7
_SECONDS_PER_DAY: Final = 86_400.0
_LARGEST: Final = sys.float_info.max
# A DatetimeIndex's integers per second, by its unit; integers below 2**53 are exact floats.
_TICKS_PER_SECOND: Final = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_EXACT_INTEGERS: Final = 2**53
_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday (Monday is 0, as in `day_of_week`)


class MetricsInputError(FatalError, ValueError):
    """An equity curve, benchmark or parameter the metrics cannot be computed from. Also a
    `ValueError`, as bad argument values conventionally are."""


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One round trip, from flat back to flat (or through a flip), as the ledger reports it."""

    symbol: str
    opened_at: datetime
    closed_at: datetime
    pnl: float  # net of fees and borrow costs

    def __post_init__(self) -> None:
        if self.opened_at.tzinfo is None or self.closed_at.tzinfo is None:
            raise MetricsInputError(
                f"trade times must be timezone-aware, got {self.opened_at!r} and {self.closed_at!r}"
            )
        if self.closed_at < self.opened_at:
            raise MetricsInputError(
                f"a trade in {self.symbol!r} closed at {self.closed_at!r}, "
                f"before it opened at {self.opened_at!r}"
            )
        if not math.isfinite(self.pnl):
            raise MetricsInputError(f"trade pnl must be finite, got {self.pnl!r}")


class PerformanceMetrics(BaseModel):
    """Summary statistics of one run. Fractions, not percent: 0.25 means 25%."""

    # allow_inf_nan=False: a NaN or inf here is a bug, and must fail loudly, not reach JSON.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    total_return: float = Field(description="Last equity / first equity - 1.")
    annualized_return: float = Field(
        description="CAGR from first to last equity over elapsed calendar time; -1 when ruined."
    )
    annualized_volatility: float = Field(description="Std of per-bar returns x sqrt(bars/year).")
    sharpe: float = Field(description="Annualised Sharpe ratio of excess returns; 0 if no risk.")
    sortino: float = Field(description="Annualised Sortino ratio; 0 when no period lost.")
    max_drawdown: float = Field(
        ge=0, description="Deepest fall from a running peak, positive: 0.25 is -25%."
    )
    calmar: float = Field(description="Annualised return / max drawdown; 0 with no drawdown.")
    win_rate: float | None = Field(
        ge=0, le=1, description="Share of closed trades with pnl > 0; None without closed trades."
    )
    profit_factor: float | None = Field(
        ge=0,
        description="Gross profit / gross loss; None without closed trades or without a loss.",
    )
    alpha: float | None = Field(description="Annualised alpha vs the benchmark; None without.")
    beta: float | None = Field(description="Beta vs the benchmark; None without a benchmark.")
    information_ratio: float | None = Field(
        description="Annualised information ratio vs the benchmark; None without a benchmark."
    )
    turnover: float = Field(ge=0, description="Traded notional / mean equity, per year.")
    benchmark_total_return: float | None = Field(
        description="Return of the benchmark (equal-weight buy and hold of the run's symbols, "
        "never rebalanced) over the timestamps it shares with the equity curve."
    )
    periods_per_year: float = Field(gt=0, description="Bars per year used to annualise.")
    bars: int = Field(ge=2, description="Points in the equity curve.")


def benchmark_name(symbols: Sequence[str]) -> str:
    """What a run's benchmark is, as every table and report names it."""
    if len(symbols) == 1:
        return f"buy and hold of {symbols[0]}"
    return f"equal-weight buy and hold of {', '.join(sorted(symbols))}, never rebalanced"


def equal_weight_buy_and_hold(closes: Floats) -> Floats:
    """The value of equal parts of every symbol bought at the first column and held, never
    rebalanced: the mean of each row of closes (one row per symbol) divided by its first
    value. One symbol gives its closes over the first one, which compares the same way."""
    values: Floats = np.mean(closes / closes[:, :1], axis=0)
    return values


def compute_metrics(
    equity: pd.Series,
    *,
    benchmark: pd.Series | None = None,
    closed_trades: Sequence[ClosedTrade] = (),
    traded_notional: float = 0.0,
    risk_free_rate: float = 0.0,
    periods_per_year: float | None = None,
) -> PerformanceMetrics:
    """Performance statistics of an equity curve.

    Args:
        equity: Equity value per bar on a strictly increasing, timezone-aware DatetimeIndex;
            at least two points, all finite, the first positive. Later values may reach zero
            or below (a ruined account).
        benchmark: Benchmark price or equity per bar, positive where present. Aligned by
            index: only timestamps both series share (after dropping the benchmark's NaNs)
            enter the benchmark figures, and the strategy's returns for those figures are
            taken on that shared grid so each pair of returns spans the same interval.
        closed_trades: Round trips the ledger closed, for win rate and profit factor.
        traded_notional: Sum of |price x quantity| over all fills in the run, non-negative.
        risk_free_rate: Annual rate, compounded down to one bar.
        periods_per_year: Bars per year; inferred from the index when None
            (see `infer_periods_per_year`).

    Definitions, with ppy = periods per year:
        r: simple returns per bar, equity[t] / equity[t-1] - 1, first bar dropped. A bar
            that starts at or below zero equity has no defined return (division by zero, or
            a "return" on a negative base); it counts as 0.0, a ruined account standing still.
        excess: r - rf, with rf = (1 + risk_free_rate) ** (1 / ppy) - 1.
        total_return: equity[-1] / equity[0] - 1.
        annualized_return (CAGR): (equity[-1] / equity[0]) ** (365.25 days / elapsed) - 1,
            elapsed being calendar time from the first to the last timestamp; -1.0 when the
            last equity is zero or below. A short, steep run can annualise beyond what a
            float holds; it is then capped at the largest finite float.
        annualized_volatility: std(r, ddof=1) * sqrt(ppy).
        sharpe: mean(excess) / std(excess, ddof=1) * sqrt(ppy); 0.0 when that std is zero.
        sortino: mean(excess) / downside * sqrt(ppy), downside = sqrt(mean(min(excess, 0)^2))
            over all bars; 0.0 when no bar fell short of the risk-free rate.
        max_drawdown: -min(drawdown_series(equity)), a positive fraction (above 1 only if
            equity went below zero).
        calmar: annualized_return / max_drawdown; 0.0 when there was no drawdown.
        beta: cov(r, rb) / var(rb), both ddof=1, rb being the benchmark's returns; 0.0 when
            the benchmark did not move.
        alpha: (mean(r) - beta * mean(rb)) * ppy, the annualised regression intercept. It
            leaves the risk-free rate out (it is not Jensen's alpha unless that rate is 0).
        information_ratio: mean(r - rb) / std(r - rb, ddof=1) * sqrt(ppy); 0.0 when the
            strategy tracked the benchmark exactly.
        win_rate: share of closed trades with pnl > 0.
        profit_factor: sum of positive pnls / |sum of negative pnls|. None without a losing
            trade rather than infinity, which JSON cannot carry.
        turnover: traded_notional / mean(equity) / elapsed years (365.25-day years); 0.0
            when mean equity is zero or below.

    With fewer than two returns (a two-point curve) there is no standard deviation: the
    volatility and every ratio built on one (sharpe, sortino, information ratio, beta) are 0.0.

    Raises:
        MetricsInputError: (a ValueError) for an empty or one-point curve, a non-datetime,
            timezone-naive or unordered index, NaN or infinite values, a non-positive first
            equity, a benchmark sharing fewer than two timestamps with the curve, or
            out-of-range parameters.
    """
    values = _checked_values(equity, "equity")
    index = cast(pd.DatetimeIndex, equity.index)  # _checked_values raised were it not one
    if values[0] <= 0:
        raise MetricsInputError(
            f"the first equity value must be positive, got {float(values[0])!r} at {index[0]!r}"
        )
    ppy = _checked_periods_per_year(periods_per_year, index)
    if not (math.isfinite(risk_free_rate) and risk_free_rate > -1):
        raise MetricsInputError(
            f"risk_free_rate must be finite and above -1, got {risk_free_rate!r}"
        )
    if not (math.isfinite(traded_notional) and traded_notional >= 0):
        raise MetricsInputError(
            f"traded_notional must be finite and non-negative, got {traded_notional!r}"
        )

    returns = _simple_returns(values)
    rf_per_period = (1.0 + risk_free_rate) ** (1.0 / ppy) - 1.0
    excess = returns - rf_per_period
    years = _elapsed_seconds(index) / _SECONDS_PER_DAY / DAYS_PER_YEAR

    growth = float(values[-1] / values[0])
    cagr = _annualized_growth(growth, years)
    max_drawdown = 0.0 - float(_drawdowns(values).min())  # 0.0 - x: no -0.0 in output
    mean_equity = float(values.mean())

    relative = _benchmark_figures(equity, benchmark, ppy) if benchmark is not None else None
    win_rate, profit_factor = _trade_figures(closed_trades)
    return PerformanceMetrics(
        total_return=growth - 1.0,
        annualized_return=cagr,
        annualized_volatility=_std(returns) * math.sqrt(ppy),
        sharpe=_ratio(float(excess.mean()), _std(excess)) * math.sqrt(ppy),
        sortino=_ratio(float(excess.mean()), _downside_deviation(excess)) * math.sqrt(ppy),
        max_drawdown=max_drawdown,
        calmar=_bounded(_ratio(cagr, max_drawdown)),
        win_rate=win_rate,
        profit_factor=profit_factor,
        alpha=relative.alpha if relative else None,
        beta=relative.beta if relative else None,
        information_ratio=relative.information_ratio if relative else None,
        turnover=_bounded(traded_notional / mean_equity / years) if mean_equity > 0 else 0.0,
        benchmark_total_return=relative.total_return if relative else None,
        periods_per_year=ppy,
        bars=len(values),
    )


def infer_periods_per_year(index: pd.DatetimeIndex) -> float:
    """Bars per year implied by an index's spacing.

    Daily bars (median spacing between half a day and a day and a half) on an exchange
    calendar give 252. The calendar is recognised by no bar falling on a Saturday or Sunday
    (in the index's timezone), or by fewer than 6 bars per 7 calendar days on average, which
    also catches exchanges with other weekends. Anything else gives 365.25 days divided by
    the median spacing: daily crypto 365.25, hourly crypto 8766.

    Intraday bars of an exchange that closes overnight are not recognised (hourly US equities
    would read as 8766, not about 1638): pass `periods_per_year` explicitly for those.

    Raises:
        MetricsInputError: for fewer than two timestamps or an index that is not strictly
            increasing.
    """
    if len(index) < 2:
        raise MetricsInputError(
            f"inferring bars per year needs at least 2 timestamps, got {len(index)}"
        )
    if not _strictly_increasing(index):
        raise MetricsInputError(f"the index must be strictly increasing: {_disorder(index)}")
    spacing_days = _spacing_seconds(index) / _SECONDS_PER_DAY
    median_days = float(np.median(spacing_days))
    if 0.5 <= median_days <= 1.5:
        elapsed_days = _elapsed_seconds(index) / _SECONDS_PER_DAY
        density = (len(index) - 1) / elapsed_days
        if not _weekend_bars(index) or density < _EXCHANGE_DENSITY:
            return TRADING_DAYS_PER_YEAR
    return DAYS_PER_YEAR / median_days


def drawdown_series(equity: pd.Series) -> pd.Series:
    """Equity / running peak - 1 per bar: 0 at a new high, never above 0, -0.25 for a bar 25%
    below the highest equity so far. Below -1 only where equity is below zero.

    Raises:
        MetricsInputError: for an empty series, NaN or infinite values, or a first value at or
            below zero (there is no peak to fall from).
    """
    values = _checked_values(equity, "equity", min_points=1)
    if values[0] <= 0:
        raise MetricsInputError(f"drawdowns need a positive first equity, got {float(values[0])!r}")
    return pd.Series(_drawdowns(values), index=equity.index, name="drawdown")


def _drawdowns(values: Floats) -> Floats:
    peaks = np.maximum.accumulate(values)
    # x / peak <= 1 holds exactly in IEEE division for 0 < x <= peak, so no bar rounds above 0.
    return values / peaks - 1.0


@dataclass(frozen=True, slots=True)
class _Relative:
    alpha: float
    beta: float
    information_ratio: float
    total_return: float


def _benchmark_figures(equity: pd.Series, benchmark: pd.Series, ppy: float) -> _Relative:
    raw = benchmark.to_numpy()
    # np.isnan on a float array is the same test as `hasnans`, without its pandas overhead.
    missing = bool(np.isnan(raw).any()) if raw.dtype.kind == "f" else benchmark.hasnans
    present = benchmark.dropna() if missing else benchmark
    prices = _checked_values(present, "benchmark", min_points=0)
    if (prices <= 0).any():
        where = int(np.argmax(prices <= 0))
        raise MetricsInputError(
            f"benchmark values must be positive, got {float(prices[where])!r} "
            f"at {present.index[where]!r}"
        )
    if present.index.equals(equity.index):
        # The shared grid is the whole curve: alignment would select every value in order,
        # and its pandas indexing costs more than all the figures (evolution scores thousands).
        equity_values, bench_values = equity.to_numpy(dtype=float), prices
    else:
        shared = equity.index.intersection(present.index)
        if len(shared) < 2:
            raise MetricsInputError(
                f"the benchmark shares {len(shared)} timestamp(s) with the equity curve; at "
                f"least 2 are needed (equity spans {equity.index[0]!r} to {equity.index[-1]!r})"
            )
        equity_values = equity.loc[shared].to_numpy(dtype=float)
        bench_values = present.loc[shared].to_numpy(dtype=float)
    strategy = _simple_returns(equity_values)
    bench = _simple_returns(bench_values)
    bench_std = _std(bench)
    # A benchmark that never moved explains nothing: beta 0, all of the return is alpha.
    beta = _covariance(strategy, bench) / bench_std**2 if bench_std > _NEGLIGIBLE else 0.0
    active = strategy - bench
    return _Relative(
        alpha=float(strategy.mean() - beta * bench.mean()) * ppy,
        beta=beta,
        information_ratio=_ratio(float(active.mean()), _std(active)) * math.sqrt(ppy),
        total_return=float(bench_values[-1] / bench_values[0]) - 1.0,
    )


def _trade_figures(trades: Sequence[ClosedTrade]) -> tuple[float | None, float | None]:
    if not trades:
        return None, None
    wins = sum(1 for trade in trades if trade.pnl > 0)
    gross_profit = sum(trade.pnl for trade in trades if trade.pnl > 0)
    gross_loss = -sum(trade.pnl for trade in trades if trade.pnl < 0)
    profit_factor = _bounded(gross_profit / gross_loss) if gross_loss > 0 else None
    return wins / len(trades), profit_factor


def _checked_values(series: pd.Series, name: str, min_points: int = 2) -> Floats:
    if not isinstance(series, pd.Series):
        raise MetricsInputError(f"{name} must be a pandas Series, got {type(series).__name__!r}")
    if len(series) == 0 and min_points > 0:
        raise MetricsInputError(f"{name} is empty: at least {min_points} point(s) are needed")
    if len(series) < min_points:
        raise MetricsInputError(
            f"{name} has {len(series)} point: at least {min_points} are needed for returns"
        )
    index = series.index
    if not isinstance(index, pd.DatetimeIndex):
        raise MetricsInputError(f"{name} must have a DatetimeIndex, got {type(index).__name__!r}")
    if index.tz is None:
        raise MetricsInputError(f"{name} index must be timezone-aware (UTC), got tz {index.tz!r}")
    if not _strictly_increasing(index):
        raise MetricsInputError(f"{name} index must be strictly increasing: {_disorder(index)}")
    try:
        values = series.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise MetricsInputError(f"{name} must be numeric, got dtype {series.dtype!r}") from error
    finite = np.isfinite(values)
    if not finite.all():
        where = int(np.argmin(finite))
        raise MetricsInputError(
            f"{name} must be finite, got {float(values[where])!r} at {index[where]!r}"
        )
    return values


def _strictly_increasing(index: pd.DatetimeIndex) -> bool:
    """`is_monotonic_increasing and is_unique`, from the integers: no hash table of the times."""
    return not index.hasnans and bool((np.diff(index.asi8) > 0).all())


def _spacing_seconds(index: pd.DatetimeIndex) -> Floats:
    """`(index[1:] - index[:-1]).total_seconds()` as an array. Where every gap is a whole
    number of seconds (below 2**53) that float is the integer itself, however pandas divides:
    taken from the integers, without building the TimedeltaIndex."""
    per_second = _TICKS_PER_SECOND.get(index.unit)
    gaps = np.diff(index.asi8)
    if per_second is not None and not (gaps % per_second).any():
        whole = gaps // per_second
        if not len(whole) or int(np.abs(whole).max()) < _EXACT_INTEGERS:
            seconds: Floats = whole.astype(np.float64)
            return seconds
    return np.asarray((index[1:] - index[:-1]).total_seconds(), dtype=np.float64)


def _elapsed_seconds(index: pd.DatetimeIndex) -> float:
    """`(index[-1] - index[0]).total_seconds()`, from the integers where the span is a whole
    number of seconds (exact, as in `_spacing_seconds`)."""
    per_second = _TICKS_PER_SECOND.get(index.unit)
    span = int(index.asi8[-1]) - int(index.asi8[0])
    if per_second is not None and span % per_second == 0 and abs(span) < _EXACT_INTEGERS:
        return float(span // per_second)
    return float((index[-1] - index[0]).total_seconds())


def _weekend_bars(index: pd.DatetimeIndex) -> bool:
    """Whether a time falls on a Saturday or Sunday in the index's timezone: counted from the
    integers where that is UTC (or none), days since the epoch (a Thursday), else by pandas."""
    per_second = _TICKS_PER_SECOND.get(index.unit)
    if per_second is not None and (index.tz is None or str(index.tz) == "UTC"):
        days = index.asi8 // (per_second * 86_400)
        return bool(((days + _EPOCH_WEEKDAY) % 7 >= 5).any())
    return bool((index.day_of_week >= 5).any())


def _disorder(index: pd.DatetimeIndex) -> str:
    steps = index[1:] - index[:-1]
    where = int(np.argmax(steps <= pd.Timedelta(0)))
    return f"{index[where + 1]!r} follows {index[where]!r}"


def _checked_periods_per_year(given: float | None, index: pd.DatetimeIndex) -> float:
    if given is None:
        return infer_periods_per_year(index)
    if not (math.isfinite(given) and given > 0):
        raise MetricsInputError(f"periods_per_year must be finite and positive, got {given!r}")
    return float(given)


def _simple_returns(values: Floats) -> Floats:
    previous, current = values[:-1], values[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = current / previous - 1.0
    # After equity reaches zero or below, a "return" is x/0 or measured on a negative base:
    # undefined either way. Such a bar counts as flat, so ruin shows in the drawdown and total
    # return instead of poisoning every average with inf or NaN.
    returns[previous <= 0] = 0.0
    return returns


def _annualized_growth(growth: float, years: float) -> float:
    if growth <= 0:
        return -1.0  # everything lost: no rate of compounding gets there, -100% a year says it
    exponent = math.log(growth) / years
    # exp overflows past log(largest float); cap there instead of raising or returning inf.
    return math.expm1(min(exponent, math.log(_LARGEST)))


def _std(values: Floats) -> float:
    if len(values) < 2:
        return 0.0
    return float(np.std(values, ddof=1))


def _covariance(left: Floats, right: Floats) -> float:
    if len(left) < 2:
        return 0.0
    return float(np.cov(left, right, ddof=1)[0, 1])


def _downside_deviation(excess: Floats) -> float:
    if len(excess) < 2:
        return 0.0
    return float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, or 0.0 when the denominator is negligible: a ratio to no risk
    is undefined, and 0.0 keeps it finite without claiming any skill."""
    if abs(denominator) <= _NEGLIGIBLE:
        return 0.0
    return numerator / denominator


def _bounded(value: float) -> float:
    return max(-_LARGEST, min(value, _LARGEST))
