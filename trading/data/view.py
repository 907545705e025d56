"""The point-in-time view: the only door through which a run reads market data.

A bar becomes visible at its `close_time`, never earlier, whatever the caller asks for. Everything
the view returns is cut at the clock's "now", so an agent, a tool or an executor cannot see the
future by accident; asking for a future bar by its time is an error, not an empty answer.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar, overload

import pandas as pd

from trading.clock import Clock
from trading.data.series import EPOCH, BarSeries, FloatArray, IntArray, from_ns, to_ns
from trading.data.sources import Catalog
from trading.domain import Bar
from trading.errors import DataError, LookaheadError

ColumnT = TypeVar("ColumnT")


class _VisibleColumn(Generic[ColumnT]):
    """One column of `VisibleArrays`: the series' column cut to the visible rows on first
    read, then kept in the arrays' slot of the same name with a leading underscore."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name, self._slot = name, "_" + name

    @overload
    def __get__(self, arrays: None, owner: type) -> _VisibleColumn[ColumnT]: ...
    @overload
    def __get__(self, arrays: VisibleArrays, owner: type) -> ColumnT: ...
    def __get__(
        self, arrays: VisibleArrays | None, owner: type
    ) -> ColumnT | _VisibleColumn[ColumnT]:
        if arrays is None:
            return self
        column: ColumnT | None = getattr(arrays, self._slot)
        if column is None:
            column = getattr(arrays._series, self._name)[: arrays._count]
            setattr(arrays, self._slot, column)
        return column


class VisibleArrays:
    """Read-only numpy views of the visible bars of one symbol, oldest first (no copies).

    Each column is sliced from the series on first use and kept: a fill reads two of the six
    (times and volume) on every bar the clock moves, and slicing all six cost it ~2 us. The
    series itself stays private; only its first `count` rows are ever handed out."""

    __slots__ = ("_close", "_count", "_high", "_low", "_open", "_series", "_times", "_volume")

    times: _VisibleColumn[IntArray] = _VisibleColumn()
    open: _VisibleColumn[FloatArray] = _VisibleColumn()
    high: _VisibleColumn[FloatArray] = _VisibleColumn()
    low: _VisibleColumn[FloatArray] = _VisibleColumn()
    close: _VisibleColumn[FloatArray] = _VisibleColumn()
    volume: _VisibleColumn[FloatArray] = _VisibleColumn()

    def __init__(self, series: BarSeries, count: int) -> None:
        self._series, self._count = series, count
        self._times = self._open = self._high = self._low = self._close = self._volume = None

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"VisibleArrays({self._series.symbol!r}, {self._count} bars)"


@dataclass(slots=True)
class _Cut:
    """The visible part of one series at one moment; `arrays` is built on first request.

    `due` is the close time of bar `count`, the first still invisible (None once every bar is
    visible): a clock that moves forward by less than a bar, or by one, needs no search."""

    now: datetime
    now_ns: int
    series: BarSeries
    count: int
    due: int | None
    # The series' close times as Python ints: the next `due` is an index into a list, not a
    # numpy scalar converted on every bar the clock moves (~0.1 us).
    close_ns: list[int]
    visible: VisibleArrays | None = None
    # The series' closes as Python floats, made on the first `closes_since` (the whole series:
    # only the first `count` are ever handed out), and the token that stands for the series.
    close_values: list[float] | None = None
    token: object = field(default_factory=object)

    @property
    def arrays(self) -> VisibleArrays:
        if self.visible is None:
            self.visible = VisibleArrays(self.series, self.count)
        return self.visible


class PointInTimeView:
    """Market data as it was known at `clock.now()`: a bar is visible once its close_time <= now.

    A replay asks many questions at one moment, so the cut for each (symbol, now) is computed
    once and reused until the clock moves."""

    def __init__(self, catalog: Catalog, clock: Clock) -> None:
        # Private: the catalog holds whole histories, the very thing this view exists to cut.
        self._catalog = catalog
        self._clock = clock
        self._cuts: dict[str, _Cut] = {}
        # The last clock reading converted to nanoseconds (every symbol's cut needs it).
        self._now: datetime | None = None
        self._now_ns = 0

    def symbols(self) -> list[str]:
        return self._catalog.symbols()

    def visible_count(self, symbol: str) -> int:
        """How many of the symbol's bars have closed by now."""
        return self._cut(symbol).count

    def last_bar(self, symbol: str) -> Bar:
        """The most recent closed bar; `DataError` if none has closed yet."""
        cut = self._cut(symbol)
        if cut.count == 0:
            raise DataError(self._nothing_yet(cut))
        return cut.series.bar(cut.count - 1)

    def bars(self, symbol: str, limit: int | None = None) -> list[Bar]:
        """The last `limit` closed bars (all of them when None), oldest first."""
        cut = self._cut(symbol)
        start = self._start(cut, limit)
        return [cut.series.bar(i) for i in range(start, cut.count)]

    def closes(self, symbol: str, limit: int | None = None) -> FloatArray:
        """Closing prices of the last `limit` closed bars, as a read-only float array."""
        cut = self._cut(symbol)
        # All of them (an agent's usual question, every bar) without `_start`'s call.
        start = 0 if limit is None else self._start(cut, limit)
        return cut.series.close[start : cut.count]

    def closes_since(self, symbol: str, start: int) -> tuple[object, int, list[float]]:
        """The closes of the closed bars from position `start` on, as Python floats, for a
        reader that keeps what it has read: (token, count, closes[start:count]).

        `count` is how many bars have closed by now; the token stands for the series they come
        from, and is the same object as long as the view shows the same series, so a caller
        that read `n <= count` closes under this token has read the first `n` of the same ones
        (a new view, or a series replaced in the catalog, gives a new token). A bar-by-bar
        reader pays for one new float a bar, not for an array of all of them."""
        if start < 0:
            raise DataError(f"start must be >= 0, got {start!r}")
        cut = self._cut(symbol)
        values = cut.close_values
        if values is None:
            values = cut.close_values = cut.series.close.tolist()
        count = cut.count
        return cut.token, count, values[start:count]

    def arrays(self, symbol: str) -> VisibleArrays:
        """All closed bars as read-only numpy slices; cheap enough to call on every bar."""
        return self._cut(symbol).arrays

    def frame(self, symbol: str, limit: int | None = None) -> pd.DataFrame:
        """The last `limit` closed bars as a DataFrame indexed by UTC label time (a copy)."""
        cut = self._cut(symbol)
        start = self._start(cut, limit)
        a = cut.arrays
        index = pd.DatetimeIndex(pd.to_datetime(a.times[start:], unit="ns", utc=True), name="time")
        data = {"open": a.open, "high": a.high, "low": a.low, "close": a.close, "volume": a.volume}
        return pd.DataFrame({k: v[start:] for k, v in data.items()}, index=index, copy=True)

    def bar_at(self, symbol: str, time: datetime) -> Bar:
        """The bar labelled `time`. `LookaheadError` if it would close after now, even when no
        such bar exists (answering "no bar" would reveal which future days are trading days);
        `DataError` if no closed bar has that label."""
        cut = self._cut(symbol)
        series = cut.series
        label = to_ns(time)
        closes_at = label + to_ns(EPOCH + series.timeframe)
        if closes_at > cut.now_ns:
            raise LookaheadError(
                f"the {series.symbol} bar labelled {time.isoformat()} closes at "
                f"{from_ns(closes_at).isoformat()}, after now ({cut.now.isoformat()})"
            )
        i = int(series.times[: cut.count].searchsorted(label, side="left"))
        if i == cut.count or int(series.times[i]) != label:
            raise DataError(f"no {series.symbol} bar is labelled {time.isoformat()}")
        return series.bar(i)

    # ---- internals ------------------------------------------------------------------------------

    def _cut(self, symbol: str) -> _Cut:
        now = self._clock.now()
        cut = self._cuts.get(symbol)
        if cut is not None and (cut.now is now or cut.now == now):
            return cut
        series = self._catalog.load(symbol)
        # One conversion per clock reading, whatever the number of symbols asked about.
        if now is self._now:
            now_ns = self._now_ns
        else:
            now_ns = self._now_ns = to_ns(now)
            self._now = now
        # A replay's clock moves forward a bar at a time: from the last cut, the count moves by
        # at most one bar unless the clock went back, skipped bars or the series was replaced
        # (a live catalog's grows), and those are searched for afresh.
        if cut is not None and cut.series is series and now_ns > cut.now_ns:
            due = cut.due
            if due is not None and due <= now_ns:
                count = cut.count + 1
                close_ns = cut.close_ns
                after = close_ns[count] if count < len(close_ns) else None
                if after is not None and after <= now_ns:
                    return self._search(symbol, series, now, now_ns)
                cut.count, cut.due, cut.visible = count, after, None
            cut.now, cut.now_ns = now, now_ns
            return cut
        return self._search(symbol, series, now, now_ns)

    def _search(self, symbol: str, series: BarSeries, now: datetime, now_ns: int) -> _Cut:
        previous = self._cuts.get(symbol)
        same = previous is not None and previous.series is series
        close_ns = (
            previous.close_ns if previous is not None and same else series.close_times.tolist()
        )
        # The close times rise (labels rise, each bar closes one timeframe later), so bisecting
        # their list is numpy's searchsorted(side="right") without its scalar conversions (~1 us
        # on every jump of the clock, which is how the vectorised path moves it).
        count = bisect_right(close_ns, now_ns)
        due = close_ns[count] if count < len(close_ns) else None
        if previous is not None and same:
            # The same series: the cut is moved, not rebuilt (its arrays belong to the old count).
            previous.now, previous.now_ns, previous.count, previous.due = now, now_ns, count, due
            previous.visible = None
            return previous
        cut = self._cuts[symbol] = _Cut(now, now_ns, series, count, due, close_ns)
        return cut

    @staticmethod
    def _start(cut: _Cut, limit: int | None) -> int:
        if limit is None:
            return 0
        if limit < 0:
            raise DataError(f"limit must be >= 0 or None, got {limit!r}")
        return max(0, cut.count - limit)

    @staticmethod
    def _nothing_yet(cut: _Cut) -> str:
        series = cut.series
        if len(series) == 0:
            return f"{series.symbol} has no bars"
        first = series.bar(0).close_time.isoformat()
        return (
            f"no {series.symbol} bar has closed by {cut.now.isoformat()}; the first closes at "
            f"{first}"
        )
