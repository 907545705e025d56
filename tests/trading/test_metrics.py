"""Performance metrics, checked against values worked out by hand on tiny equity curves."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from trading.errors import FatalError
from trading.metrics import (
    ClosedTrade,
    MetricsInputError,
    PerformanceMetrics,
    _elapsed_seconds,
    _spacing_seconds,
    _strictly_increasing,
    _weekend_bars,
    compute_metrics,
    drawdown_series,
    infer_periods_per_year,
)

START = pd.Timestamp("2024-01-01", tz="UTC")  # a Monday


def daily(values: list[float], start: pd.Timestamp = START) -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D"))


def trade(pnl: float) -> ClosedTrade:
    opened = datetime(2024, 1, 1, tzinfo=UTC)
    return ClosedTrade("BTC/USD", opened, opened + timedelta(days=1), pnl)


def close(actual: float | None, expected: float) -> bool:
    return actual is not None and math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-12)


# Equity 100 -> 110 -> 99 -> 121 has returns 1/10, -1/10 and 22/99 = 2/9.
# mean = (1/10 - 1/10 + 2/9) / 3 = 2/27
# deviations from the mean, over 270: 27 - 20 = 7, -27 - 20 = -47, 60 - 20 = 40
# sample variance = (7^2 + 47^2 + 40^2) / 270^2 / (3 - 1) = 3858 / 145800 = 1929 / 72900
# sample std = sqrt(1929) / 270
ZIGZAG = [100.0, 110.0, 99.0, 121.0]
ZIGZAG_MEAN = 2 / 27
ZIGZAG_STD = math.sqrt(1929) / 270


def test_total_return_and_max_drawdown_of_a_zigzag() -> None:
    metrics = compute_metrics(daily(ZIGZAG), periods_per_year=252)
    assert close(metrics.total_return, 0.21)  # 121 / 100 - 1
    assert close(metrics.max_drawdown, 0.1)  # 110 down to 99
    assert metrics.bars == 4
    assert metrics.periods_per_year == 252


def test_drawdown_series_is_distance_below_the_running_peak() -> None:
    drawdowns = drawdown_series(daily(ZIGZAG))
    assert drawdowns.tolist() == pytest.approx([0.0, 0.0, -0.1, 0.0])
    assert drawdowns.index.equals(daily(ZIGZAG).index)


def test_sharpe_sortino_and_volatility_of_a_zigzag_without_risk_free_rate() -> None:
    metrics = compute_metrics(daily(ZIGZAG), periods_per_year=252)
    # Sharpe = (2/27) / (sqrt(1929)/270) * sqrt(252) = 20 / sqrt(1929) * sqrt(252)
    assert close(metrics.sharpe, 20 / math.sqrt(1929) * math.sqrt(252))
    assert close(metrics.sharpe, ZIGZAG_MEAN / ZIGZAG_STD * math.sqrt(252))
    # only -1/10 is below zero: downside = sqrt((1/10)^2 / 3) = 1 / (10 sqrt(3))
    # Sortino = (2/27) * 10 sqrt(3) * sqrt(252) = 20 sqrt(3) / 27 * sqrt(252)
    assert close(metrics.sortino, 20 * math.sqrt(3) / 27 * math.sqrt(252))
    assert close(metrics.annualized_volatility, math.sqrt(1929) / 270 * math.sqrt(252))


def test_risk_free_rate_is_subtracted_per_period() -> None:
    # One bar a year, so the per-period rate is the annual 5%: excess = 1/20, -3/20, 31/180.
    metrics = compute_metrics(daily(ZIGZAG), periods_per_year=1, risk_free_rate=0.05)
    # mean excess = 2/27 - 1/20 = 13/540; the std does not move with a constant shift.
    # Sharpe = (13/540) / (sqrt(1929)/270) = 13 / (2 sqrt(1929))
    assert close(metrics.sharpe, 13 / (2 * math.sqrt(1929)))
    # downside = sqrt((3/20)^2 / 3) = 3 / (20 sqrt(3)); Sortino = (13/540) * 20 sqrt(3) / 3
    assert close(metrics.sortino, 13 * math.sqrt(3) / 81)
    # volatility is of raw returns, untouched by the risk-free rate
    assert close(metrics.annualized_volatility, math.sqrt(1929) / 270)


def test_risk_free_rate_is_compounded_down_to_one_bar() -> None:
    # Four bars a year at 21% a year is 1.21^(1/4) - 1 = sqrt(1.1) - 1 per bar. Returns
    # alternate 0% and 10% (mean 1/30, std sqrt(1/300)), so excess mean = 1/30 - sqrt(1.1) + 1.
    equity = daily([100.0, 100.0, 110.0, 110.0])
    metrics = compute_metrics(equity, periods_per_year=4, risk_free_rate=0.21)
    mean_excess = 1 / 30 - (math.sqrt(1.1) - 1)
    assert close(metrics.sharpe, mean_excess / math.sqrt(1 / 300) * 2)


def test_cagr_compounds_over_elapsed_calendar_time() -> None:
    # 100 -> 121 over exactly two 365.25-day years is 10% a year.
    index = pd.DatetimeIndex([START, START + pd.Timedelta(days=730.5)])
    metrics = compute_metrics(pd.Series([100.0, 121.0], index=index))
    assert close(metrics.annualized_return, 0.1)
    assert close(metrics.periods_per_year, 0.5)  # one bar per two years
    assert close(metrics.calmar, 0.0)  # no drawdown: reported as 0, not infinity


def test_calmar_is_cagr_over_max_drawdown() -> None:
    # 100 -> 80 -> 121 over two years: CAGR 10%, drawdown 20%.
    index = pd.DatetimeIndex(
        [START, START + pd.Timedelta(days=1), START + pd.Timedelta(days=730.5)]
    )
    metrics = compute_metrics(pd.Series([100.0, 80.0, 121.0], index=index))
    assert close(metrics.max_drawdown, 0.2)
    assert close(metrics.calmar, 0.1 / 0.2)


def test_a_strategy_at_twice_the_benchmark_has_beta_two_and_no_alpha() -> None:
    # benchmark returns 1%, -2%, 3%; strategy returns exactly double: 2%, -4%, 6%
    benchmark = daily([50.0, 50.5, 49.49, 50.9747])
    equity = daily([100.0, 102.0, 97.92, 103.7952])
    metrics = compute_metrics(equity, benchmark=benchmark, periods_per_year=252)
    assert close(metrics.beta, 2.0)
    assert close(metrics.alpha, 0.0)
    # active returns equal the benchmark's: 1/100, -2/100, 3/100, mean 1/150,
    # deviations over 300: 1, -8, 7, sample variance 114 / 90000 / 2, std sqrt(57) / 300
    # information ratio = (1/150) / (sqrt(57)/300) * sqrt(252) = 2 / sqrt(57) * sqrt(252)
    assert close(metrics.information_ratio, 2 / math.sqrt(57) * math.sqrt(252))
    assert close(metrics.benchmark_total_return, 1.01 * 0.98 * 1.03 - 1)


def test_a_strategy_equal_to_the_benchmark_has_no_active_return() -> None:
    equity = daily(ZIGZAG)
    benchmark = daily([value / 4 for value in ZIGZAG])  # same returns, another scale
    metrics = compute_metrics(equity, benchmark=benchmark, periods_per_year=252)
    assert metrics.information_ratio == 0.0  # no tracking error: reported as 0
    assert close(metrics.beta, 1.0)
    assert close(metrics.alpha, 0.0)
    assert close(metrics.benchmark_total_return, 0.21)


def test_a_flat_benchmark_gives_beta_zero_and_all_return_as_alpha() -> None:
    metrics = compute_metrics(daily(ZIGZAG), benchmark=daily([7.0] * 4), periods_per_year=252)
    assert metrics.beta == 0.0
    assert close(metrics.alpha, ZIGZAG_MEAN * 252)


def test_benchmark_figures_use_only_the_timestamps_both_series_share() -> None:
    equity = daily([100.0, 110.0, 121.0], start=START + pd.Timedelta(days=1))
    # five days from START, missing its second: shares the equity's first and last days
    benchmark = daily([1.0, 2.0, float("nan"), 3.0, 4.0])
    metrics = compute_metrics(equity, benchmark=benchmark, periods_per_year=252)
    # on the shared grid the strategy made 21% in one step while the benchmark made 50%
    assert close(metrics.benchmark_total_return, 0.5)
    assert close(metrics.alpha, (0.21 - 0.0 * 0.5) * 252)  # one shared return: beta is 0


def test_a_benchmark_on_the_curves_own_timestamps_gives_the_aligned_figures_exactly() -> None:
    equity = daily([100.0, 103.0, 98.5, 104.25, 101.0, 107.5])
    benchmark = daily([50.0, 50.5, 49.0, 51.25, 50.75, 52.0])
    # One extra timestamp (and a missing one) make the benchmark go through the alignment.
    padded = pd.concat([benchmark, daily([53.0, float("nan")], start=START + pd.Timedelta(6, "D"))])
    same = compute_metrics(equity, benchmark=benchmark, periods_per_year=252)
    aligned = compute_metrics(equity, benchmark=padded, periods_per_year=252)
    assert same == aligned
    assert same.beta  # a benchmark that moved, so the figures were computed


def test_without_a_benchmark_the_relative_figures_are_none() -> None:
    metrics = compute_metrics(daily(ZIGZAG), periods_per_year=252)
    assert metrics.alpha is None
    assert metrics.beta is None
    assert metrics.information_ratio is None
    assert metrics.benchmark_total_return is None


def test_a_benchmark_sharing_one_timestamp_is_refused() -> None:
    benchmark = daily([1.0, 2.0], start=START + pd.Timedelta(days=3))
    with pytest.raises(MetricsInputError, match="shares 1 timestamp"):
        compute_metrics(daily(ZIGZAG), benchmark=benchmark)


def test_win_rate_and_profit_factor_of_two_wins_and_a_loss() -> None:
    trades = [trade(10.0), trade(-5.0), trade(20.0)]
    metrics = compute_metrics(daily(ZIGZAG), closed_trades=trades, periods_per_year=252)
    assert close(metrics.win_rate, 2 / 3)
    assert close(metrics.profit_factor, 6.0)  # (10 + 20) / 5


def test_profit_factor_is_none_without_a_losing_trade_and_zero_without_a_win() -> None:
    winners = compute_metrics(daily(ZIGZAG), closed_trades=[trade(3.0)], periods_per_year=252)
    assert winners.win_rate == 1.0
    assert winners.profit_factor is None
    losers = compute_metrics(daily(ZIGZAG), closed_trades=[trade(-3.0)], periods_per_year=252)
    assert losers.win_rate == 0.0
    assert losers.profit_factor == 0.0


def test_no_closed_trades_means_no_trade_statistics() -> None:
    metrics = compute_metrics(daily(ZIGZAG), periods_per_year=252)
    assert metrics.win_rate is None
    assert metrics.profit_factor is None


def test_a_break_even_trade_is_not_a_win() -> None:
    metrics = compute_metrics(
        daily(ZIGZAG), closed_trades=[trade(0.0), trade(4.0)], periods_per_year=252
    )
    assert metrics.win_rate == 0.5


def test_turnover_is_traded_notional_over_mean_equity_per_year() -> None:
    index = pd.DatetimeIndex([START, START + pd.Timedelta(days=365.25)])
    metrics = compute_metrics(pd.Series([100.0, 100.0], index=index), traded_notional=200.0)
    assert close(metrics.turnover, 2.0)


def test_flat_equity_has_zero_volatility_and_zero_ratios() -> None:
    metrics = compute_metrics(daily([100.0] * 5), periods_per_year=252)
    assert metrics.annualized_volatility == 0.0
    assert metrics.sharpe == 0.0  # no risk: the ratio is undefined and reported as 0
    assert metrics.sortino == 0.0
    assert metrics.max_drawdown == 0.0
    assert metrics.calmar == 0.0


def test_steady_growth_reports_zero_sharpe_instead_of_a_division_by_rounding_noise() -> None:
    equity = daily([100.0 * 1.01**k for k in range(10)])
    metrics = compute_metrics(equity, periods_per_year=252)
    assert metrics.sharpe == 0.0
    assert metrics.sortino == 0.0  # no period fell short of the risk-free rate


def test_a_two_point_curve_has_one_return_and_no_standard_deviation() -> None:
    metrics = compute_metrics(daily([100.0, 90.0]), periods_per_year=252)
    assert close(metrics.total_return, -0.1)
    assert metrics.annualized_volatility == 0.0
    assert metrics.sharpe == 0.0
    assert metrics.sortino == 0.0
    assert close(metrics.max_drawdown, 0.1)


def test_equity_that_hits_zero_reports_total_loss_and_stays_finite() -> None:
    trades = [trade(-100.0)]
    metrics = compute_metrics(
        daily([100.0, 50.0, 0.0, 0.0, 0.0]), closed_trades=trades, traded_notional=500.0
    )
    assert metrics.total_return == -1.0
    assert metrics.annualized_return == -1.0
    assert metrics.max_drawdown == 1.0
    # returns -1/2, -1, then 0 and 0 (x/0 is undefined: a ruined account stands still)
    mean = -1.5 / 4
    std = math.sqrt(((-0.5 - mean) ** 2 + (-1 - mean) ** 2 + 2 * mean**2) / 3)
    assert close(metrics.sharpe, mean / std * math.sqrt(252))
    # strict JSON: no NaN or Infinity anywhere
    json.loads(metrics.model_dump_json(), parse_constant=pytest.fail)


def test_equity_below_zero_deepens_the_drawdown_past_one() -> None:
    metrics = compute_metrics(daily([100.0, -20.0, -10.0]), periods_per_year=252)
    assert close(metrics.max_drawdown, 1.2)
    assert metrics.annualized_return == -1.0
    assert close(metrics.total_return, -1.1)


def test_a_short_steep_run_caps_cagr_instead_of_overflowing() -> None:
    index = pd.date_range(START, periods=3, freq="min")
    metrics = compute_metrics(pd.Series([100.0, 50.0, 1000.0], index=index))
    assert math.isfinite(metrics.annualized_return)
    assert math.isfinite(metrics.calmar)
    assert metrics.annualized_return > 1e300


def test_metrics_refuse_nan_and_infinity() -> None:
    fields = compute_metrics(daily(ZIGZAG), periods_per_year=252).model_dump()
    with pytest.raises(ValidationError):
        PerformanceMetrics(**{**fields, "sharpe": float("inf")})
    with pytest.raises(ValidationError):
        PerformanceMetrics(**{**fields, "calmar": float("nan")})


@pytest.mark.parametrize(
    ("equity", "message"),
    [
        (pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float), "equity is empty"),
        (daily([100.0]), "has 1 point"),
        (pd.Series([1.0, 2.0], index=pd.date_range("2024-01-01", periods=2)), "timezone-aware"),
        (pd.Series([1.0, 2.0]), "DatetimeIndex"),
        (daily([100.0, float("nan"), 110.0]), "must be finite, got nan at"),
        (daily([0.0, 10.0]), "first equity value must be positive, got 0.0"),
        (daily([100.0, 110.0])[::-1], "strictly increasing"),
    ],
)
def test_unusable_equity_curves_are_refused_by_name(equity: pd.Series, message: str) -> None:
    with pytest.raises(MetricsInputError, match=message):
        compute_metrics(equity)


def test_input_errors_are_value_errors_and_fatal_tradepit_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        drawdown_series(pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float))
    assert issubclass(MetricsInputError, FatalError)


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("periods_per_year", 0.0),
        ("risk_free_rate", -1.0),
        ("traded_notional", -5.0),
        ("traded_notional", float("nan")),
    ],
)
def test_out_of_range_parameters_are_refused(keyword: str, value: float) -> None:
    arguments: dict[str, Any] = {keyword: value}
    with pytest.raises(MetricsInputError, match=keyword):
        compute_metrics(daily(ZIGZAG), **arguments)


def test_a_trade_that_closes_before_it_opens_is_refused() -> None:
    opened = datetime(2024, 1, 2, tzinfo=UTC)
    with pytest.raises(MetricsInputError, match="before it opened"):
        ClosedTrade("ETH/USD", opened, opened - timedelta(hours=1), 1.0)


def test_business_days_are_252_bars_a_year() -> None:
    assert infer_periods_per_year(pd.bdate_range(START, periods=30, tz="UTC")) == 252
    # one week, Monday to Friday, is too short to see a weekend gap but has no weekend bar
    assert infer_periods_per_year(pd.bdate_range(START, periods=5, tz="UTC")) == 252


def test_every_day_bars_are_365_point_25_a_year() -> None:
    index = pd.date_range(START, periods=30, freq="D")
    assert infer_periods_per_year(index) == 365.25


def test_hourly_bars_are_8766_a_year() -> None:
    index = pd.date_range(START, periods=72, freq="h")
    assert infer_periods_per_year(index) == pytest.approx(8766)


def _indexes_of_every_unit_and_zone() -> list[pd.DatetimeIndex]:
    rng = np.random.default_rng(7)
    irregular = np.sort(rng.integers(-(10**18), 10**18, 500))  # nanoseconds, before 1970 too
    indexes = []
    for zone in ("UTC", None, "America/New_York", "Asia/Kolkata"):
        for unit in ("s", "ms", "us", "ns"):
            indexes += [
                pd.bdate_range("1960-01-01", periods=400, tz=zone).as_unit(unit),
                pd.date_range("2021-03-01", periods=400, freq="h", tz=zone).as_unit(unit),
                pd.date_range("2001-01-01", periods=40, freq="D", tz=zone).as_unit(unit),
            ]
        naive = pd.DatetimeIndex(irregular.view("M8[ns]"))
        indexes.append(naive if zone is None else naive.tz_localize("UTC").tz_convert(zone))
    return indexes


@pytest.mark.parametrize("index", _indexes_of_every_unit_and_zone(), ids=lambda i: str(i[0]))
def test_spacing_elapsed_time_and_weekends_read_from_the_integers_are_what_pandas_gives(
    index: pd.DatetimeIndex,
) -> None:
    gaps = np.asarray((index[1:] - index[:-1]).total_seconds(), dtype=np.float64)
    assert _spacing_seconds(index).tobytes() == gaps.tobytes()
    assert _elapsed_seconds(index).hex() == (index[-1] - index[0]).total_seconds().hex()
    assert _weekend_bars(index) == bool((index.day_of_week >= 5).any())
    assert _strictly_increasing(index) is (index.is_monotonic_increasing and index.is_unique)
    assert not _strictly_increasing(index[::-1])
    assert not _strictly_increasing(index.append(index[-1:]))


def test_compute_metrics_infers_bars_per_year_when_not_given() -> None:
    equity = pd.Series(ZIGZAG, index=pd.bdate_range(START, periods=4, tz="UTC"))
    assert compute_metrics(equity).periods_per_year == 252


# -- properties ------------------------------------------------------------------------------

positive_equity = st.lists(
    st.floats(min_value=1e-6, max_value=1e9, allow_nan=False), min_size=2, max_size=60
)
# Returns in whole basis points keep distinct returns far apart compared to rounding noise,
# so "no volatility" is never a borderline call that scaling could tip either way.
basis_point_returns = st.lists(st.integers(-5_000, 5_000), min_size=1, max_size=60)


def curve(returns_bp: list[int], start: float = 100.0) -> pd.Series:
    values = [start]
    for bp in returns_bp:
        values.append(values[-1] * (1 + bp / 10_000))
    return daily(values)


@settings(deadline=None)
@given(positive_equity)
def test_drawdowns_never_rise_above_zero_and_stay_within_total_loss(values: list[float]) -> None:
    equity = daily(values)
    drawdowns = drawdown_series(equity)
    assert (drawdowns <= 0).all()
    metrics = compute_metrics(equity, periods_per_year=252)
    assert 0.0 <= metrics.max_drawdown <= 1.0


@settings(deadline=None)
@given(
    returns_bp=basis_point_returns,
    benchmark_bp=basis_point_returns,
    pnls=st.lists(st.integers(-1_000, 1_000), max_size=5),
    scale=st.sampled_from([1e-3, 0.37, 3.0, 1e6]),
)
def test_scaling_equity_leaves_every_ratio_unchanged(
    returns_bp: list[int], benchmark_bp: list[int], pnls: list[int], scale: float
) -> None:
    equity = curve(returns_bp)
    benchmark = curve((benchmark_bp * len(returns_bp))[: len(returns_bp)], start=50.0)
    trades = [trade(float(pnl)) for pnl in pnls]
    base = compute_metrics(equity, benchmark=benchmark, closed_trades=trades, traded_notional=250.0)
    scaled = compute_metrics(
        equity * scale,
        benchmark=benchmark,
        closed_trades=trades,
        traded_notional=250.0 * scale,  # turnover is notional per unit of equity
    )
    for name, value in base.model_dump().items():
        other = getattr(scaled, name)
        if value is None:
            assert other is None, name
        else:
            assert math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-9), name


def test_a_curve_that_only_rises_has_a_drawdown_of_plain_zero() -> None:
    metrics = compute_metrics(daily([100.0, 101.0, 105.0]), periods_per_year=252)
    assert math.copysign(1.0, metrics.max_drawdown) == 1.0  # 0.0, not -0.0, in the JSON
