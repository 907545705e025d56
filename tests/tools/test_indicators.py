"""Indicators: TA-Lib where it has them, hand-written ones checked against sums done by hand, all
causal (a value never depends on a later bar), with errors that list what is valid."""

from __future__ import annotations

import json
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
from trading.errors import ConfigError, DataError

NAN = math.nan


def bars(
    close: list[float],
    high: list[float] | None = None,
    low: list[float] | None = None,
    volume: list[float] | None = None,
) -> Ohlcv:
    """Bars from closes; high and low default to close +- 1, volume to 100 a bar."""
    c = np.array(close, dtype=np.float64)
    return Ohlcv(
        open=c.copy(),
        high=np.array(high, dtype=np.float64) if high is not None else c + 1,
        low=np.array(low, dtype=np.float64) if low is not None else c - 1,
        close=c,
        volume=np.array(volume if volume is not None else [100.0] * len(c), dtype=np.float64),
    )


def from_log_returns(returns: list[float], start: float = 100.0) -> Ohlcv:
    """Closes whose log returns are exactly `returns` (up to float rounding)."""
    return bars([start * math.exp(sum(returns[:i])) for i in range(len(returns) + 1)])


def only(outputs: dict[str, np.ndarray]) -> np.ndarray:
    [values] = outputs.values()
    return values


# --- TA-Lib-backed indicators: what TA-Lib actually outputs, worked out by hand ---------------


def test_sma_of_three_averages_the_last_three_closes() -> None:
    sma = only(compute_indicator("sma", bars([1, 2, 3, 4, 5]), {"period": 3}))
    # (1+2+3)/3, (2+3+4)/3, (3+4+5)/3
    np.testing.assert_allclose(sma, [NAN, NAN, 2, 3, 4], equal_nan=True)


def test_ema_is_seeded_with_the_simple_mean_of_its_first_period() -> None:
    ema = only(compute_indicator("ema", bars([2, 4, 6, 8, 4]), {"period": 3}))
    # Seed (2+4+6)/3 = 4; then k = 2/(3+1) = 0.5: 0.5*8 + 0.5*4 = 6, 0.5*4 + 0.5*6 = 5.
    np.testing.assert_allclose(ema, [NAN, NAN, 4, 6, 5], equal_nan=True)


def test_rsi_of_a_strictly_rising_series_is_100_after_its_warm_up() -> None:
    rsi = only(compute_indicator("rsi", bars([float(x) for x in range(1, 31)]), {"period": 14}))
    assert np.isnan(rsi[:14]).all()  # 14 changes are needed, the first one is at bar 1
    np.testing.assert_array_equal(rsi[14:], 100.0)


def test_obv_adds_volume_on_up_closes_and_subtracts_it_on_down_closes() -> None:
    data = bars([10, 11, 10.5, 10.5, 12], volume=[100, 200, 50, 70, 30])
    # TA-Lib starts from the first bar's volume: 100, +200, -50, unchanged, +30.
    np.testing.assert_allclose(only(compute_indicator("obv", data)), [100, 300, 250, 250, 280])


def test_atr_seeds_with_the_mean_true_range_from_bar_one_then_smooths_like_wilder() -> None:
    data = bars(
        close=[9, 11, 12, 11, 14, 13],
        high=[10, 12, 13, 12, 15, 14],
        low=[8, 9, 11, 10, 11, 12],
    )
    # True range = max(high - low, |high - previous close|, |low - previous close|):
    # bar 1: max(3, 3, 0) = 3; bar 2: max(2, 2, 1) = 2; bar 3: max(2, 0, 2) = 2;
    # bar 4: max(4, 4, 0) = 4; bar 5: max(2, 0, 2) = 2.
    # ATR(3) at bar 3 = (3+2+2)/3 = 7/3; then (previous*2 + TR)/3:
    # bar 4: (14/3 + 4)/3 = 26/9; bar 5: (52/9 + 2)/3 = 70/27.
    atr = only(compute_indicator("atr", data, {"period": 3}))
    np.testing.assert_allclose(atr, [NAN, NAN, NAN, 7 / 3, 26 / 9, 70 / 27], equal_nan=True)


def test_macd_histogram_is_the_line_minus_its_signal() -> None:
    data = bars([100 + 10 * math.sin(i / 5) for i in range(60)])
    macd = compute_indicator("macd", data)
    # Warm-up of TA-Lib's MACD(12, 26, 9): (26 - 1) + (9 - 1) = 33 bars.
    assert np.isnan(macd["histogram"][:33]).all()
    assert np.isfinite(macd["histogram"][33:]).all()
    np.testing.assert_allclose(macd["histogram"], macd["macd"] - macd["signal"], equal_nan=True)


def test_bollinger_percent_b_places_the_close_between_the_bands() -> None:
    bands = compute_indicator("bbands", bars([1, 2, 3, 4, 5]), {"period": 5, "stddev": 2.0})
    # Mean 3; population variance (4+1+0+1+4)/5 = 2; bands 3 +- 2*sqrt(2).
    assert bands["middle"][-1] == pytest.approx(3)
    assert bands["upper"][-1] == pytest.approx(3 + 2 * math.sqrt(2))
    assert bands["lower"][-1] == pytest.approx(3 - 2 * math.sqrt(2))
    # %B = (5 - (3 - 2*sqrt(2))) / (4*sqrt(2)).
    assert bands["percent_b"][-1] == pytest.approx((2 + 2 * math.sqrt(2)) / (4 * math.sqrt(2)))


def test_bollinger_percent_b_is_undefined_when_the_bands_have_no_width() -> None:
    bands = compute_indicator("bbands", bars([7, 7, 7, 7]), {"period": 3})
    assert bands["upper"][-1] == bands["lower"][-1] == 7
    assert np.isnan(bands["percent_b"]).all()


# --- Hand-written indicators -------------------------------------------------------------------


def test_vwap_deviation_compares_the_close_with_the_volume_weighted_typical_price() -> None:
    data = bars(
        close=[10, 12, 12, 15, 12, 12],
        high=[11, 12, 13, 15, 14, 13],
        low=[9, 9, 11, 12, 10, 11],
        volume=[100, 200, 100, 100, 200, 100],
    )
    # Typical prices (h+l+c)/3: 30/3=10, 33/3=11, 36/3=12, 42/3=14, 36/3=12, 36/3=12.
    # VWAP(3) at bar 2: (10*100 + 11*200 + 12*100) / 400 = 4400/400 = 11
    #         at bar 3: (11*200 + 12*100 + 14*100) / 400 = 4800/400 = 12
    #         at bar 4: (12*100 + 14*100 + 12*200) / 400 = 5000/400 = 12.5
    #         at bar 5: (14*100 + 12*200 + 12*100) / 400 = 5000/400 = 12.5
    deviation = only(compute_indicator("vwap_deviation", data, {"window": 3}))
    expected = [NAN, NAN, 12 / 11 - 1, 15 / 12 - 1, 12 / 12.5 - 1, 12 / 12.5 - 1]
    np.testing.assert_allclose(deviation, expected, equal_nan=True)


def test_vwap_deviation_is_undefined_over_a_window_without_volume() -> None:
    data = bars([10, 11, 12], volume=[100, 0, 0])
    deviation = only(compute_indicator("vwap_deviation", data, {"window": 2}))
    assert np.isfinite(deviation[1])  # bar 0's volume still weighs
    assert np.isnan(deviation[2])


def test_volatility_is_the_sample_std_of_log_returns_scaled_by_sqrt_periods_per_year() -> None:
    data = from_log_returns([0.01, 0.03, 0.02, 0.04, 0.06, 0.02])
    # Windows of 3 returns, sample std (ddof=1):
    # bar 3: .01 .03 .02 -> mean .02, deviations -.01 .01 0 -> sqrt(.0002/2) = .01
    # bar 4: .03 .02 .04 -> mean .03, deviations 0 -.01 .01 -> .01
    # bar 5: .02 .04 .06 -> mean .04, deviations -.02 0 .02 -> sqrt(.0008/2) = .02
    # bar 6: .04 .06 .02 -> mean .04, deviations 0 .02 -.02 -> .02
    per_bar = [NAN, NAN, NAN, 0.01, 0.01, 0.02, 0.02]
    raw = only(compute_indicator("volatility", data, {"window": 3, "periods_per_year": 1.0}))
    np.testing.assert_allclose(raw, per_bar, rtol=1e-9, equal_nan=True)
    annual = only(compute_indicator("volatility", data, {"window": 3}))  # 252 by default
    np.testing.assert_allclose(
        annual, np.array(per_bar) * math.sqrt(252), rtol=1e-9, equal_nan=True
    )


def test_skew_and_excess_kurtosis_use_the_unbiased_sample_formulas() -> None:
    data = from_log_returns([0.01, 0.01, 0.01, 0.05, -0.03])
    # Window of 4 returns, in units of 0.01 around their mean (both statistics ignore scale):
    # bar 4: 1 1 1 5, mean 2 -> deviations -1 -1 -1 3; m2 = 12/4 = 3, m3 = 24/4 = 6,
    #   m4 = 84/4 = 21. g1 = 6 / 3**1.5; G1 = sqrt(4*3)/(4-2) * g1 = 2.
    #   g2 = 21/9 - 3 = -2/3; G2 = (4-1)/((4-2)(4-3)) * ((4+1)*g2 + 6) = 3/2 * 8/3 = 4.
    # bar 5: 1 1 5 -3, mean 1 -> deviations 0 0 4 -4; m2 = 32/4 = 8, m3 = 0,
    #   m4 = 512/4 = 128. G1 = 0; g2 = 128/64 - 3 = -1; G2 = 3/2 * (5*(-1) + 6) = 3/2.
    skew = only(compute_indicator("skew", data, {"window": 4}))
    kurtosis = only(compute_indicator("kurtosis", data, {"window": 4}))
    np.testing.assert_allclose(skew, [NAN] * 4 + [2, 0], atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(kurtosis, [NAN] * 4 + [4, 1.5], atol=1e-6, equal_nan=True)


def test_volume_ratio_compares_with_the_mean_of_the_bars_before_not_including_this_one() -> None:
    data = bars([1] * 6, volume=[100, 300, 200, 800, 0, 250])
    # Window 2: 200/((100+300)/2) = 1; 800/((300+200)/2) = 3.2; 0/((200+800)/2) = 0;
    # 250/((800+0)/2) = 0.625.
    ratio = only(compute_indicator("volume_ratio", data, {"window": 2}))
    np.testing.assert_allclose(ratio, [NAN, NAN, 1, 3.2, 0, 0.625], equal_nan=True)


def test_volume_ratio_is_undefined_after_bars_without_volume() -> None:
    ratio = only(
        compute_indicator("volume_ratio", bars([1, 1, 1], volume=[0, 0, 5]), {"window": 2})
    )
    assert np.isnan(ratio).all()


# --- Shape, warm-up and inputs -----------------------------------------------------------------


def test_every_indicator_returns_its_declared_outputs_at_full_length() -> None:
    data = bars([100 + math.sin(i) for i in range(40)])
    for name, spec in INDICATORS.items():
        outputs = compute_indicator(name, data)
        assert tuple(outputs) == spec.outputs, name
        assert all(v.shape == (40,) and v.dtype == np.float64 for v in outputs.values()), name


def test_too_few_bars_is_warm_up_not_an_error() -> None:
    for name, spec in INDICATORS.items():
        assert latest_values(name, bars([])) == dict.fromkeys(spec.outputs), name
        if name != "obv":  # OBV needs no warm-up: it starts at the first bar's volume
            assert latest_values(name, bars([5.0])) == dict.fromkeys(spec.outputs), name
    assert latest_values("sma", bars([1, 2]), {"period": 5}) == {"sma": None}


def test_latest_values_reports_the_last_bar() -> None:
    assert latest_values("sma", bars([1, 2, 3, 4, 5]), {"period": 3}) == {"sma": 4.0}


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(DataError, match="differ in length"):
        Ohlcv(*(np.ones(3),) * 4, volume=np.ones(2))


# --- Errors that list what is valid ------------------------------------------------------------


def test_an_unknown_indicator_lists_the_valid_names() -> None:
    with pytest.raises(IndicatorError) as caught:
        compute_indicator("foo", bars([1, 2]))
    assert str(caught.value) == (
        "unknown indicator 'foo'; valid: atr, bbands, ema, kurtosis, macd, obv, rsi, skew, sma, "
        "volatility, volume_ratio, vwap_deviation"
    )
    assert isinstance(caught.value, ConfigError)


@pytest.mark.parametrize(
    ("name", "params", "complaint"),
    [
        ("rsi", {"period": 0}, "parameter 'period'=0: Input should be greater than or equal to 2"),
        ("rsi", {"period": 5001}, "parameter 'period'=5001"),
        ("rsi", {"period": "14"}, "parameter 'period'='14': Input should be a valid integer"),
        ("rsi", {"period": 14.5}, "parameter 'period'=14.5"),
        ("rsi", {"period": True}, "parameter 'period'=True"),
        ("rsi", {"length": 14}, "unknown parameter 'length'=14"),
    ],
)
def test_a_bad_parameter_names_it_and_lists_the_valid_ones(
    name: str, params: dict[str, object], complaint: str
) -> None:
    with pytest.raises(IndicatorError) as caught:
        compute_indicator(name, bars([1, 2]), params)
    message = str(caught.value)
    assert message.startswith(f"indicator 'rsi': {complaint}")
    assert message.endswith("; valid parameters: period (int, 2..5000, default 14)")


def test_macd_refuses_a_fast_average_slower_than_the_slow_one() -> None:
    with pytest.raises(IndicatorError, match=r"fast \(26\) must be below slow \(12\); valid param"):
        compute_indicator("macd", bars([1, 2]), {"fast": 26, "slow": 12})


def test_a_parameter_for_an_indicator_without_any_says_so() -> None:
    with pytest.raises(IndicatorError, match="unknown parameter 'period'=3; it takes no param"):
        compute_indicator("obv", bars([1, 2]), {"period": 3})


def test_every_indicator_is_described_in_json_for_tool_users() -> None:
    described = json.loads(json.dumps(describe_indicators()))
    assert [d["name"] for d in described] == sorted(INDICATORS)
    [rsi] = [d for d in described if d["name"] == "rsi"]
    assert rsi["outputs"] == ["rsi"]
    assert rsi["params"] == [
        {
            "name": "period",
            "type": "int",
            "default": 14,
            "bounds": {"ge": 2, "le": 5000},
            "description": "Bars of Wilder smoothing.",
        }
    ]
    assert all(p["description"] for d in described for p in d["params"])


# --- Causality ---------------------------------------------------------------------------------


def smallest_params(name: str) -> dict[str, object]:
    """Every parameter at its lower bound: the shortest warm-ups, so short series get values."""
    [doc] = [d for d in describe_indicators() if d["name"] == name]
    params = doc["params"]
    assert isinstance(params, list)
    return {p["name"]: p["bounds"]["ge"] for p in params}


@st.composite
def random_bars(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(min_value=1, max_value=80))

    def column(values: st.SearchStrategy[float]) -> np.ndarray:
        return np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float64)

    prices = st.floats(min_value=0.5, max_value=1000)
    close, open_ = column(prices), column(prices)
    wick = column(st.floats(min_value=0, max_value=0.4))
    # Zero and repeated volumes reach the "no volume" branches.
    volume = column(st.sampled_from([0.0, 1.0, 250.0]) | st.floats(min_value=0, max_value=1e6))
    high = np.maximum(open_, close) * (1 + wick)
    low = np.minimum(open_, close) * (1 - wick)
    table = np.column_stack([open_, high, low, close, volume])
    # Read-only and strided, as a point-in-time view may hand them over: a write would raise.
    table.setflags(write=False)
    return table


@settings(max_examples=150, deadline=None)
@given(table=random_bars(), data=st.data())
def test_property_a_value_never_depends_on_later_bars(
    table: np.ndarray, data: st.DataObject
) -> None:
    t = data.draw(st.integers(min_value=0, max_value=len(table) - 1), label="t")
    full, upto_t = Ohlcv(*table.T), Ohlcv(*table[: t + 1].T)
    for name in INDICATORS:
        for params in ({}, smallest_params(name)):
            whole = compute_indicator(name, full, params)
            seen = compute_indicator(name, upto_t, params)
            for output, values in seen.items():
                np.testing.assert_allclose(
                    values,
                    whole[output][: t + 1],
                    rtol=1e-12,
                    atol=1e-12,
                    equal_nan=True,
                    err_msg=f"{name}({params!r}).{output} changed when later bars were added",
                )
