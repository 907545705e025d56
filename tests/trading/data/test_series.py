"""BarSeries: read-only columns, Decimal bars, timeframe inference and validation of frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading.data import EARLIEST, LATEST, BarSeries
from trading.data.series import EPOCH, from_ns, to_ns
from trading.errors import DataError


def frame(times: list[str], **overrides: list[float]) -> pd.DataFrame:
    n = len(times)
    columns: dict[str, list[float]] = {
        "open": [10.0] * n,
        "high": [12.0] * n,
        "low": [9.0] * n,
        "close": [11.0] * n,
        "volume": [100.0] * n,
    }
    columns |= overrides
    return pd.DataFrame(columns, index=pd.DatetimeIndex(times, tz="UTC"))


DAYS = ["2020-01-01", "2020-01-02", "2020-01-03"]


def test_columns_are_read_only() -> None:
    series = BarSeries.from_frame("X", "test", frame(DAYS))
    for column in ("times", "close_times", "open", "high", "low", "close", "volume"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(series, column)[0] = 1


def test_freezing_a_series_leaves_the_callers_arrays_writable() -> None:
    times = np.array([0, 60_000_000_000], dtype=np.int64)
    prices = np.array([1.0, 2.0])
    BarSeries(
        "X",
        "test",
        timedelta(minutes=1),
        times,
        times + 60_000_000_000,
        prices,
        prices,
        prices,
        prices,
        prices,
    )
    prices[0] = 5.0
    assert prices.flags.writeable


def test_columns_of_different_lengths_are_refused() -> None:
    times = np.array([0], dtype=np.int64)
    with pytest.raises(DataError, match="differ in length"):
        BarSeries(
            "X",
            "t",
            timedelta(days=1),
            times,
            times,
            np.ones(1),
            np.ones(1),
            np.ones(1),
            np.ones(2),
            np.ones(1),
        )


def test_bar_has_decimal_prices_and_aware_utc_times_closing_one_timeframe_later() -> None:
    series = BarSeries.from_frame("X", "test", frame(DAYS, open=[10.5, 10.0, 10.0]))
    bar = series.bar(0)
    assert bar.symbol == "X"
    assert bar.time == datetime(2020, 1, 1, tzinfo=UTC)
    assert bar.close_time == datetime(2020, 1, 2, tzinfo=UTC)
    assert bar.open == Decimal("10.5")
    assert (bar.high, bar.low, bar.close) == (Decimal("12.0"), Decimal("9.0"), Decimal("11.0"))
    assert bar.volume == Decimal(100)
    assert series.bar(-1).time == datetime(2020, 1, 3, tzinfo=UTC)


def test_price_decimals_rounds_float_noise_away_in_bars_and_columns() -> None:
    data = frame(
        DAYS[:2],
        open=[1229.229980, 1228.099976],
        close=[1228.099976, 1244.780029],
        high=[1248.810059] * 2,
        low=[1219.099976] * 2,
    )
    series = BarSeries.from_frame("SPX", "test", data, price_decimals=2)
    assert series.bar(0).open == Decimal("1229.23")
    assert series.bar(0).low == Decimal("1219.10")
    assert series.open[0] == 1229.23


def test_without_price_decimals_prices_use_the_shortest_float_repr() -> None:
    series = BarSeries.from_frame("X", "test", frame(DAYS, close=[11.1, 11.0, 11.0]))
    assert series.bar(0).close == Decimal("11.1")


def test_fractional_volume_stays_exact_to_its_repr() -> None:
    series = BarSeries.from_frame("X", "test", frame(DAYS, volume=[0.125, 1.0, 2.0]))
    assert series.bar(0).volume == Decimal("0.125")


def test_first_and_last_time_are_aware_datetimes() -> None:
    series = BarSeries.from_frame("X", "test", frame(DAYS))
    assert series.first_time == datetime(2020, 1, 1, tzinfo=UTC)
    assert series.last_time == datetime(2020, 1, 3, tzinfo=UTC)
    assert len(series) == 3


def test_to_frame_is_indexed_by_utc_label_time() -> None:
    original = frame(DAYS)
    result = BarSeries.from_frame("X", "test", original).to_frame()
    assert list(result.columns) == ["open", "high", "low", "close", "volume"]
    assert isinstance(result.index, pd.DatetimeIndex)
    assert str(result.index.tz) == "UTC"
    assert (result.index == original.index).all()
    assert result["close"].tolist() == [11.0, 11.0, 11.0]


def test_naive_index_is_taken_as_utc() -> None:
    data = frame(DAYS)
    data.index = pd.DatetimeIndex(DAYS)
    assert BarSeries.from_frame("X", "t", data).first_time == datetime(2020, 1, 1, tzinfo=UTC)


def test_index_in_another_zone_is_converted_to_utc() -> None:
    data = frame(DAYS)
    paris = ["2020-01-01 01:00", "2020-01-02 01:00", "2020-01-03 01:00"]
    data.index = pd.DatetimeIndex(paris, tz="Europe/Paris")
    assert BarSeries.from_frame("X", "t", data).first_time == datetime(2020, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        (
            ["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 02:00", "2020-01-01 04:00"],
            timedelta(hours=1),
        ),
        (["2020-01-01 00:00", "2020-01-01 00:05", "2020-01-01 00:10"], timedelta(minutes=5)),
        # Trading days: the weekend gap is not the period.
        (["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07", "2020-01-08"], timedelta(days=1)),
        # Local midnights stored as UTC drift by an hour across daylight saving.
        (
            ["2020-03-27 23:00", "2020-03-28 23:00", "2020-03-29 22:00", "2020-03-30 22:00"],
            timedelta(days=1),
        ),
        (["2020-01-06", "2020-01-13", "2020-01-20", "2020-01-27"], timedelta(days=7)),
    ],
)
def test_timeframe_is_inferred_from_the_most_common_spacing(
    times: list[str], expected: timedelta
) -> None:
    assert BarSeries.from_frame("X", "t", frame(times)).timeframe == expected


def test_a_single_bar_needs_an_explicit_timeframe() -> None:
    with pytest.raises(DataError, match="pass it explicitly"):
        BarSeries.from_frame("X", "t", frame(DAYS[:1]))
    series = BarSeries.from_frame("X", "t", frame(DAYS[:1]), timeframe=timedelta(hours=4))
    assert series.bar(0).close_time == datetime(2020, 1, 1, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"close": [11.0, float("nan"), 11.0]}, "row 2, column 'close': nan is not a finite"),
        ({"open": [10.0, 10.0, 0.0], "low": [9.0, 9.0, 0.0]}, "row 3, column 'open': 0.0 is not"),
        ({"high": [12.0, 8.0, 12.0]}, "row 2, column 'high': 8.0 is below low 9.0"),
        ({"high": [12.0, 10.5, 12.0]}, "row 2, column 'high': 10.5 is below close 11.0"),
        ({"low": [10.5, 9.0, 9.0]}, "row 1, column 'low': 10.5 is above open 10.0"),
        ({"volume": [1.0, -1.0, 1.0]}, "row 2, column 'volume': -1.0 is negative"),
    ],
)
def test_from_frame_refuses_inconsistent_bars(
    overrides: dict[str, list[float]], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        BarSeries.from_frame("X", "t", frame(DAYS, **overrides))


def test_from_frame_refuses_unsorted_times_instead_of_sorting_them() -> None:
    with pytest.raises(DataError, match=r"row 3, column 'time': .*earlier than row 2"):
        BarSeries.from_frame("X", "t", frame(["2020-01-01", "2020-01-03", "2020-01-02"]))


def test_from_frame_refuses_duplicate_times() -> None:
    with pytest.raises(DataError, match=r"row 2, column 'time': .* repeats the timestamp of row 1"):
        BarSeries.from_frame("X", "t", frame(["2020-01-01", "2020-01-01", "2020-01-02"]))


def test_from_frame_names_missing_columns() -> None:
    with pytest.raises(DataError, match=r"lacks columns \['volume'\]"):
        BarSeries.from_frame("X", "t", frame(DAYS).drop(columns="volume"))


def test_earliest_and_latest_are_the_ends_of_int64_nanoseconds_in_whole_microseconds() -> None:
    assert EARLIEST == datetime(1677, 9, 21, 0, 12, 43, 145225, tzinfo=UTC)
    assert LATEST == datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC)
    int64 = np.iinfo(np.int64)
    for end in (EARLIEST, LATEST):
        assert int64.min < to_ns(end) <= int64.max  # int64.min itself is pandas' NaT
        assert from_ns(to_ns(end)) == end
    assert to_ns(EARLIEST - timedelta(microseconds=1)) < int64.min
    assert to_ns(LATEST + timedelta(microseconds=1)) > int64.max


@pytest.mark.parametrize("decimals", [None, 0, 2, 3, 8])
def test_prices_of_many_floats_are_each_the_decimal_price_gives_digit_for_digit(
    decimals: int | None,
) -> None:
    # Halves of the last place (0.125 at 2 places, 2.5 at 0), a value a hair either side of one
    # (the float of 1.005 lies below it), signed zeros, a value rounding to -0, huge and tiny.
    rng = np.random.default_rng(7)
    tricky = [0.125, 2.5, 1.005, 1.015, 0.0, -0.0, -0.001, -12.345, 1e17, 3e-9, 2**53 + 0.0]
    values = np.array(tricky + (rng.random(500) * 10.0 ** rng.integers(-3, 7, 500)).tolist())
    series = BarSeries.from_frame("X", "test", frame(DAYS), price_decimals=decimals)
    expected = [series.price(v) for v in values.tolist()]
    got = series.prices(values)
    assert [str(p) for p in got] == [str(p) for p in expected]
    assert got == expected


@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))])))
def test_to_ns_is_the_exact_count_of_microseconds_since_the_epoch_in_nanoseconds(
    moment: datetime,
) -> None:
    # Before 1970 too, where the timedelta's days are negative and its seconds are not.
    span = moment - datetime(1970, 1, 1, tzinfo=UTC)
    assert to_ns(moment) == span // timedelta(microseconds=1) * 1_000
    assert from_ns(to_ns(moment)) == moment


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-(2**62), max_value=2**62),
            st.integers(min_value=0, max_value=10**15),
            st.floats(min_value=1e-9, max_value=1e12),
            st.floats(min_value=0, max_value=1e15),
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([None, 0, 2, 6]),
)
def test_bar_is_from_ns_and_price_of_each_column_whatever_the_close_times(
    rows: list[tuple[int, int, float, float]], decimals: int | None
) -> None:
    # `bar` reads the columns its own fast way and adds the timeframe when a bar closes one
    # timeframe after its label: each field must still be the slow formula's, digit for digit,
    # also for close times that are not one timeframe (and sub-microsecond) after the label.
    step = to_ns(EPOCH + timedelta(days=1))
    times = np.array([t for t, *_ in rows], dtype=np.int64)
    close_times = times + np.array([g if g % 3 else step for _, g, *_ in rows], dtype=np.int64)
    prices = np.array([p for *_, p, _ in rows])
    volume = np.array([v for *_, v in rows])
    series = BarSeries(
        "X", "test", timedelta(days=1), times, close_times, prices, prices * 1.5, prices / 3,
        prices * 0.7, volume, price_decimals=decimals,
    )  # fmt: skip
    for i in range(len(rows)):
        bar = series.bar(i)
        assert bar.time == from_ns(times[i])
        assert bar.time.tzinfo is UTC
        assert bar.close_time == from_ns(close_times[i])
        assert bar.close_time.tzinfo is UTC
        columns = (series.open, series.high, series.low, series.close)
        expected = [series.price(column[i]) for column in columns]
        got = [bar.open, bar.high, bar.low, bar.close]
        assert [str(d) for d in got] == [str(d) for d in expected]
        shares = float(volume[i])
        expected_volume = Decimal(int(shares)) if shares.is_integer() else Decimal(repr(shares))
        assert str(bar.volume) == str(expected_volume)
