"""Indicators: TA-Lib where it has them, hand-written ones checked by hand, all causal."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.indicators import (
    INDICATORS,
    IndicatorError,
    Ohlcv,
    compute_indicator,
    describe_indicators,
    latest_values,
)

NAN = float("nan")


def ohlcv(close: list[float], volume: list[float] | None = None, spread: float = 1.0) -> Ohlcv:
    c = np.array(close, dtype=np.float64)
    v = np.array(volume if volume is not None else [100.0] * len(close), dtype=np.float64)
    return Ohlcv(open=c.copy(), high=c + spread, low=c - spread, close=c, volume=v)


def test_sma_of_three() -> None:
    [sma] = compute_indicator("sma", ohlcv([1, 2, 3, 4, 5]), {"period": 3}).values()
    np.testing.assert_allclose(sma, [NAN, NAN, 2, 3, 4], equal_nan=True)


def test_rsi_of_a_strictly_rising_series_is_100() -> None:
    assert latest_values("rsi", ohlcv([float(x) for x in range(1, 30)]))["rsi"] == 100


def test_obv_adds_volume_on_up_closes_and_subtracts_on_down_closes() -> None:
    data = ohlcv([10, 11, 10.5, 10.5, 12], volume=[100, 200, 50, 70, 30])
    [obv] = compute_indicator("obv", data).values()
    # TA-Lib starts from the first volume: 100, +200, -50, unchanged, +30.
    np.testing.assert_allclose(obv, [100, 300, 250, 250, 280])


def test_vwap_deviation_by_hand() -> None:
    # Typical price = close when high and low sit symmetrically around it.
    data = ohlcv([10, 20, 30], volume=[1, 1, 2])
    [dev] = compute_indicator("vwap_deviation", data, {"window": 2}).values()
    # Bar 1: VWAP = (10*1 + 20*1) / 2 = 15 -> 20/15 - 1; bar 2: (20*1 + 30*2) / 3 = 80/3.
    np.testing.assert_allclose(dev, [NAN, 20 / 15 - 1, 30 / (80 / 3) - 1], equal_nan=True)


def test_volatility_is_the_std_of_log_returns_annualised() -> None:
    data = ohlcv([100, 110, 99, 108.9])
    [vol] = compute_indicator("volatility", data, {"window": 3}).values()
    r = [math.log(1.1), math.log(0.9), math.log(1.1)]
    mean = sum(r) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)
    assert vol[-1] == pytest.approx(std * math.sqrt(252))
    [per_bar] = compute_indicator("volatility", data, {"window": 3, "periods_per_year": 0}).values()
    assert per_bar[-1] == pytest.approx(std)


def test_volume_ratio_compares_with_the_bars_before() -> None:
    data = ohlcv([1, 1, 1, 1], volume=[100, 300, 200, 800])
    [ratio] = compute_indicator("volume_ratio", data, {"window": 2}).values()
    np.testing.assert_allclose(ratio, [NAN, NAN, 200 / 200, 800 / 250], equal_nan=True)


def test_skew_of_symmetric_returns_is_zero_and_kurtosis_is_excess() -> None:
    returns = [0.01, -0.01, 0.02, -0.02, 0.01, -0.01]
    close = [100.0]
    for r in returns:
        close.append(close[-1] * math.exp(r))
    data = ohlcv(close)
    assert latest_values("skew", data, {"window": 6})["skew"] == pytest.approx(0.0, abs=1e-9)
    # Unbiased excess kurtosis of [1,-1,2,-2,1,-1] (x0.01): n=6, m2 = 12/6=2 (population),
    # sample formula gives (n(n+1)/((n-1)(n-2)(n-3))) * sum(z^4) - 3(n-1)^2/((n-2)(n-3)).
    x = np.array(returns)
    n, s = 6, x.std(ddof=1)
    expected = n * (n + 1) / ((n - 1) * (n - 2) * (n - 3)) * np.sum(((x - x.mean()) / s) ** 4)
    expected -= 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))
    assert latest_values("kurtosis", data, {"window": 6})["kurtosis"] == pytest.approx(expected)


def test_bollinger_percent_b_places_the_close_between_the_bands() -> None:
    values = compute_indicator("bbands", ohlcv([1, 2, 3, 4, 5]), {"period": 5, "stddev": 2})
    middle, upper, lower = values["middle"][-1], values["upper"][-1], values["lower"][-1]
    assert middle == 3
    assert upper - middle == pytest.approx(2 * math.sqrt(2))  # population std of 1..5
    assert values["percent_b"][-1] == pytest.approx((5 - lower) / (upper - lower))


def test_unknown_indicator_and_bad_parameters_list_what_is_valid() -> None:
    with pytest.raises(IndicatorError, match="unknown indicator 'foo'; valid: atr, bbands"):
        compute_indicator("foo", ohlcv([1, 2]))
    with pytest.raises(IndicatorError, match=r"parameter 'period'=0.*parameters: period"):
        compute_indicator("rsi", ohlcv([1, 2]), {"period": 0})
    with pytest.raises(IndicatorError, match="unknown parameter 'length'"):
        compute_indicator("sma", ohlcv([1, 2]), {"length": 3})


def test_too_few_bars_is_warm_up_not_an_error() -> None:
    assert latest_values("sma", ohlcv([1.0]), {"period": 5}) == {"sma": None}


def test_every_indicator_is_described_for_tool_users() -> None:
    names = {d["name"] for d in describe_indicators()}
    assert names == set(INDICATORS)


closes = st.lists(st.floats(min_value=1, max_value=1000), min_size=2, max_size=60)


@settings(max_examples=60, deadline=None)
@given(closes=closes, cut=st.integers(min_value=1, max_value=59))
def test_property_values_never_depend_on_later_bars(closes: list[float], cut: int) -> None:
    volume = [float(100 + i % 7) for i in range(len(closes))]
    full = ohlcv(closes, volume)
    cut = min(cut, len(closes))
    head = ohlcv(closes[:cut], volume[:cut])
    for name in INDICATORS:
        whole = compute_indicator(name, full)
        early = compute_indicator(name, head)
        for output, values in early.items():
            np.testing.assert_allclose(
                values,
                whole[output][:cut],
                rtol=1e-9,
                atol=1e-9,
                equal_nan=True,
                err_msg=f"{name}.{output} changed when later bars were added",
            )
