"""PointInTimeView: a bar is visible only once it has closed; nothing else leaks through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.helpers import catalog_of, daily_series
from trading.clock import ReplayClock
from trading.data import PointInTimeView
from trading.data.series import BarSeries
from trading.errors import DataError, LookaheadError

START = datetime(2020, 1, 1, tzinfo=UTC)
CLOSES = [10.0, 11.0, 12.0, 13.0, 14.0]


SERIES = daily_series("SPX", CLOSES)


def view_at(now: datetime) -> tuple[PointInTimeView, ReplayClock]:
    clock = ReplayClock(now)
    return PointInTimeView(catalog_of(SERIES), clock), clock


def test_bar_closing_after_now_is_invisible() -> None:
    view, _ = view_at(START + timedelta(days=2, hours=23))
    assert view.visible_count("SPX") == 2
    assert view.last_bar("SPX").close_time == START + timedelta(days=2)
    assert view.closes("SPX").tolist() == [10.0, 11.0]


def test_bar_closing_exactly_now_is_visible() -> None:
    view, _ = view_at(START + timedelta(days=3))
    assert view.last_bar("SPX").time == START + timedelta(days=2)


def test_last_bar_before_any_bar_closed_is_an_error() -> None:
    view, _ = view_at(START + timedelta(hours=12))
    assert view.visible_count("SPX") == 0
    with pytest.raises(DataError, match="no SPX bar has closed by 2020-01-01T12:00:00"):
        view.last_bar("SPX")
    assert view.bars("SPX") == []
    assert len(view.arrays("SPX")) == 0


def test_bars_are_the_last_visible_ones_oldest_first() -> None:
    view, _ = view_at(START + timedelta(days=4))
    assert [float(b.close) for b in view.bars("SPX", limit=2)] == [12.0, 13.0]
    assert len(view.bars("SPX")) == 4
    assert view.bars("SPX", limit=0) == []
    assert len(view.bars("SPX", limit=100)) == 4


def test_negative_limit_is_refused() -> None:
    view, _ = view_at(START + timedelta(days=4))
    with pytest.raises(DataError, match="got -1"):
        view.closes("SPX", limit=-1)


def test_closes_with_a_limit_are_the_most_recent() -> None:
    view, _ = view_at(START + timedelta(days=4))
    assert view.closes("SPX", limit=3).tolist() == [11.0, 12.0, 13.0]


def test_arrays_are_read_only_slices_of_the_visible_bars() -> None:
    view, _ = view_at(START + timedelta(days=3))
    arrays = view.arrays("SPX")
    series = SERIES
    assert arrays.close.tolist() == [10.0, 11.0, 12.0]
    assert len(arrays.times) == len(arrays.open) == len(arrays.volume) == 3
    assert np.shares_memory(arrays.close, series.close)
    with pytest.raises(ValueError, match="read-only"):
        arrays.close[0] = 99.0


def test_arrays_taken_earlier_stay_cut_at_their_moment_when_read_after_the_clock_moves() -> None:
    # The columns are sliced on first use: one first read after the clock moved must still be
    # cut where the arrays were taken, and a read at the new moment must see the new bar.
    view, clock = view_at(START + timedelta(days=2))
    earlier = view.arrays("SPX")
    assert earlier.times.tolist() == SERIES.times[:2].tolist()
    clock.advance_to(START + timedelta(days=3))
    assert earlier.close.tolist() == [10.0, 11.0]
    assert len(earlier.volume) == len(earlier.high) == len(earlier.low) == len(earlier) == 2
    later = view.arrays("SPX")
    assert later.close.tolist() == [10.0, 11.0, 12.0]
    assert later.open.tolist() == SERIES.open[:3].tolist()
    assert later.close is later.close  # sliced once, then kept


def test_frame_holds_only_visible_bars() -> None:
    view, _ = view_at(START + timedelta(days=3))
    frame = view.frame("SPX", limit=2)
    assert frame["close"].tolist() == [11.0, 12.0]
    assert frame.index[-1] == START + timedelta(days=2)
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]


def test_view_follows_the_clock_as_it_advances() -> None:
    view, clock = view_at(START + timedelta(days=1))
    assert view.closes("SPX").tolist() == [10.0]
    clock.advance_to(START + timedelta(days=5))
    assert view.closes("SPX").tolist() == CLOSES
    assert view.last_bar("spx").close == 14


def test_bar_at_a_closed_label_returns_that_bar() -> None:
    view, _ = view_at(START + timedelta(days=3))
    assert view.bar_at("SPX", START + timedelta(days=1)).close == 11


def test_bar_at_of_a_future_bar_raises_lookahead_error() -> None:
    view, _ = view_at(START + timedelta(days=2, hours=23))
    with pytest.raises(LookaheadError, match=r"closes at 2020-01-05T00:00:00\+00:00, after now"):
        view.bar_at("SPX", START + timedelta(days=3))
    # The bar that is still forming (label before now, close after) is future too.
    with pytest.raises(LookaheadError):
        view.bar_at("SPX", START + timedelta(days=2))


def test_bar_at_a_future_label_with_no_bar_is_still_lookahead() -> None:
    # Answering "no such bar" would reveal which future days have no trading.
    view, _ = view_at(START + timedelta(days=2))
    with pytest.raises(LookaheadError):
        view.bar_at("SPX", START + timedelta(days=30))


def test_bar_at_a_past_label_with_no_bar_is_a_data_error() -> None:
    view, _ = view_at(START + timedelta(days=5))
    with pytest.raises(DataError, match="no SPX bar is labelled 2020-01-01T06:00:00"):
        view.bar_at("SPX", START + timedelta(hours=6))


def test_naive_times_are_refused() -> None:
    view, _ = view_at(START + timedelta(days=5))
    with pytest.raises(DataError, match="timezone-aware"):
        view.bar_at("SPX", datetime(2020, 1, 2))  # noqa: DTZ001


@given(
    offset=st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=10)),
    limit=st.none() | st.integers(min_value=0, max_value=8),
)
def test_view_never_returns_a_bar_closing_after_now(offset: timedelta, limit: int | None) -> None:
    now = START + offset
    view, _ = view_at(now)
    series = SERIES
    expected = int((series.close_times <= _ns(now)).sum())
    assert view.visible_count("SPX") == expected
    assert all(bar.close_time <= now for bar in view.bars("SPX", limit))
    arrays = view.arrays("SPX")
    assert (series.close_times[: len(arrays)] <= _ns(now)).all()
    assert all(label + timedelta(days=1) <= now for label in view.frame("SPX", limit).index)
    if expected:
        assert view.last_bar("SPX").close_time <= now
    for start in range(8):
        _, count, closes = view.closes_since("SPX", start)
        assert count == expected
        assert closes == series.close[start:expected].tolist()
    for day in range(-1, 7):
        label = START + timedelta(days=day)
        try:
            bar = view.bar_at("SPX", label)
        except LookaheadError:
            assert label + timedelta(days=1) > now
        except DataError:
            assert label + timedelta(days=1) <= now
        else:
            assert bar.close_time <= now


class MovableClock:
    """A clock a test sets anywhere: forward by less than a bar or by several, back, or still."""

    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
START_NS = 1_577_836_800_000_000_000  # START in nanoseconds


@given(
    gaps=st.lists(
        st.integers(min_value=1, max_value=5_000_000) | st.integers(1, 5_000).map((1_000).__mul__),
        min_size=1,
        max_size=10,
    ),
    moves=st.lists(
        st.tuples(st.integers(min_value=-1, max_value=11), st.integers(min_value=-2, max_value=2)),
        min_size=1,
        max_size=30,
    ),
)
# From before the first close to exactly the second: two bars at once, the later one on the dot.
@example(gaps=[1_000] * 4, moves=[(0, -1), (1, 0), (3, 0), (0, 0)])
def test_cut_is_exact_wherever_the_clock_goes(
    gaps: list[int], moves: list[tuple[int, int]]
) -> None:
    # Bars closing nanoseconds or whole microseconds apart (several inside one microsecond);
    # the clock lands on, just before or just after a close, a microsecond apart, in any order.
    close_ns = START_NS + np.cumsum(np.asarray(gaps, dtype=np.int64))
    n = len(close_ns)
    series = BarSeries(
        "SPX",
        "test",
        timedelta(microseconds=1),
        close_ns - 1,
        close_ns,
        *(np.arange(n, dtype=np.float64) for _ in range(5)),
    )
    clock = MovableClock(START)
    view = PointInTimeView(catalog_of(series), clock)
    token, read = view.closes_since("SPX", 0)[0], 0
    for bar, step in moves:
        anchor = int(close_ns[min(bar, n - 1)]) if bar >= 0 else START_NS
        clock.moment = EPOCH + timedelta(microseconds=-(-anchor // 1000) + step)
        visible = int((close_ns <= _ns(clock.moment)).sum())
        assert view.visible_count("SPX") == visible
        assert view.closes("SPX").tolist() == list(range(visible))
        assert len(view.arrays("SPX")) == visible
        if visible:
            assert view.last_bar("SPX").close == visible - 1
        # A reader that keeps what it read, as the quant agent's trackers do: one token
        # throughout (one series), and never a close past the ones visible now.
        same, count, closes = view.closes_since("SPX", read)
        assert (same, count) == (token, visible)
        assert closes == list(range(read, visible))
        read = max(0, min(read + len(closes), visible - 1))


def test_a_replaced_series_is_cut_afresh_when_the_clock_moves() -> None:
    class Growing:
        def __init__(self) -> None:
            self.series = daily_series("SPX", CLOSES[:2])

        def load(self, symbol: str) -> BarSeries:
            return self.series

    catalog = Growing()
    clock = MovableClock(START + timedelta(days=3))
    view = PointInTimeView(catalog, clock)  # type: ignore[arg-type]
    assert view.visible_count("SPX") == 2
    token = view.closes_since("SPX", 0)[0]
    catalog.series = SERIES
    clock.moment += timedelta(hours=1)
    assert view.visible_count("SPX") == 3
    # Another series, another token: a reader cannot take its closes for the old ones'.
    assert view.closes_since("SPX", 0)[0] is not token
    assert view.closes_since("SPX", 0)[1:] == (3, CLOSES[:3])


def test_closes_since_a_negative_start_is_refused() -> None:
    view, _ = view_at(START + timedelta(days=3))
    with pytest.raises(DataError, match="start must be >= 0"):
        view.closes_since("SPX", -1)
    assert view.closes_since("SPX", 5)[1:] == (3, [])  # past the visible ones: none


def test_each_view_gives_its_own_token() -> None:
    first, _ = view_at(START + timedelta(days=3))
    second, _ = view_at(START + timedelta(days=3))
    assert first.closes_since("SPX", 0)[0] is not second.closes_since("SPX", 0)[0]


def _ns(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
