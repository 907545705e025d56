"""The cycles of a replay over history: every close time of any of the run's symbols inside its
window, each a `Tick` with the bars that close at it, and the times its equity points are
stamped at, with the buy-and-hold benchmark over them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from trading.data import BarSeries, Catalog
from trading.domain import Bar, EquityPoint
from trading.errors import ConfigError
from trading.metrics import equal_weight_buy_and_hold
from trading.replay_config import ReplayConfig


# Not frozen, as `trading.replay.DecisionLog`: a replay makes one per bar and a frozen one
# costs twice as much to build (0.6 against 0.3 us); nothing mutates or hashes one.
@dataclass(slots=True)
class Tick:
    """One cycle: the moment `now` at which `bars` (one per symbol that has one) close."""

    cycle: int
    now: datetime
    bars: tuple[Bar, ...]
    # The final cycle of a finite source settles and decides nothing: nothing could fill it.
    last: bool
    # When the cycle's equity point is stamped. None: at its first bar's label, as a replay
    # does; a live source cycles more often than bars close, so it stamps the cycle's time.
    equity_time: datetime | None = None


class ReplayBars:
    """The cycles of a replay: every close time of any of the run's symbols inside the window."""

    def __init__(self, catalog: Catalog, config: ReplayConfig) -> None:
        self.config = config
        self.series = {symbol: catalog.load(symbol) for symbol in config.symbols}
        self.steps: list[int] = _timeline(self.series, config).tolist()
        # Which bar of each symbol closes at each step (-1: none), found once for the whole run.
        self._positions = {s: _bar_positions(self.series[s], self.steps) for s in config.symbols}
        self._columns = [(self.series[s], self._positions[s]) for s in config.symbols]
        self._last = len(self.steps) - 1

    @property
    def total(self) -> int:
        return len(self.steps)

    def tick(self, cycle: int) -> Tick:
        last = self._last
        if not 0 <= cycle <= last:
            raise ConfigError(f"cycle {cycle} is outside the replay's 0..{last}")
        columns = self._columns
        if len(columns) == 1:  # one symbol: a bar at every step
            series, found = columns[0]
            bars: tuple[Bar, ...] = (series.bar(found[cycle]),)
        else:
            bars = tuple(
                [series.bar(found[cycle]) for series, found in columns if found[cycle] >= 0]
            )
        # Every step is the close of a bar of some symbol, and its bars close at it: the first
        # one's close time is the step as a datetime, built once with the bar.
        now = bars[0].close_time if bars else _to_datetime(self.steps[cycle])
        return Tick(cycle, now, bars, cycle == last)

    def ticks(self) -> Iterator[Tick]:
        """`tick` of every cycle, in order: what a run that goes through them all takes, without
        the range check and the symbol count of each `tick` call."""
        columns, last = self._columns, self._last
        if len(columns) != 1:
            yield from map(self.tick, range(last + 1))
            return
        series, found = columns[0]
        bar = series.bar
        for cycle, position in enumerate(found):  # one symbol: a bar at every step
            at = bar(position)
            yield Tick(cycle, at.close_time, (at,), cycle == last)

    def uncovered(self) -> list[str]:
        """Where the window asked for runs past a symbol's data, in words: a run is cut to the
        data it has, and a person should hear so rather than read a shorter period unawares."""
        start, end = self.config.start, self.config.end
        notes = []
        for symbol, bars in self.series.items():
            first, last = bars.first_time.date(), bars.last_time.date()
            if start is not None and start < first:
                notes.append(f"{symbol}'s data starts on {first}, after the start {start}")
            if end is not None and end > last:
                notes.append(f"{symbol}'s data ends on {last}, before the end {end}")
        return notes

    def benchmark(self, equity: Sequence[EquityPoint]) -> pd.Series:
        """Equal-weight buy and hold of the symbols over the same bars as the equity."""
        return self.benchmark_at(pd.DatetimeIndex([t for t, _, _ in equity]))

    def benchmark_at(self, times: pd.DatetimeIndex) -> pd.Series:
        """`benchmark` of an equity curve whose points are at `times`."""
        return _benchmark([self.series[s] for s in self.config.symbols], times)

    def stamps(self) -> pd.DatetimeIndex:
        """The times at which `CycleEngine.settle` stamps the cycles' equity points, as the
        index `pd.DatetimeIndex` of those points would be: each cycle's first bar's label, to
        the microsecond a `datetime` holds, built from the integers."""
        labels = np.zeros(len(self.steps), dtype=np.int64)
        for series, found in reversed(self._columns):  # the first symbol with a bar wins
            positions = np.asarray(found, dtype=np.int64)
            has = positions >= 0
            labels[has] = series.times[positions[has]]
        index = pd.DatetimeIndex(pd.to_datetime(labels // 1_000, unit="us", utc=True))
        return index.as_unit("us")


def _window(config: ReplayConfig, joined_by: str) -> str:
    """The window as a person reads it; an open end is the data's own."""
    start = config.start.isoformat() if config.start else "the first bar"
    return start + joined_by + (config.end.isoformat() if config.end else "the last bar")


def _timeline(
    series: Mapping[str, BarSeries], config: ReplayConfig
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Close times (ns) of every bar of any symbol inside the window, in order."""
    stamps: list[np.ndarray[Any, Any]] = []
    for symbol, bars in series.items():
        mask = np.ones(len(bars), dtype=bool)
        if config.start is not None:
            mask &= bars.times >= _day_ns(config.start)
        if config.end is not None:
            mask &= bars.times < _day_ns(config.end + timedelta(days=1))
        if not mask.any():
            raise ConfigError(
                f"no {symbol} bars between {_window(config, ' and ')}; "
                f"{symbol} has data from {bars.first_time.date()} to {bars.last_time.date()}"
            )
        stamps.append(bars.close_times[mask])
    # One symbol's close times, strictly increasing, are their own union (most runs).
    if len(stamps) == 1 and (stamps[0][1:] > stamps[0][:-1]).all():
        steps = stamps[0]
    else:
        # `np.unique`, by sorting and dropping repeats: numpy's unique hashes every value.
        every = np.sort(np.concatenate(stamps), kind="stable")
        distinct = np.ones(len(every), dtype=bool)
        distinct[1:] = every[1:] != every[:-1]
        steps = every[distinct]
    if len(steps) < 2:
        raise ConfigError(
            f"the window {_window(config, ' to ')} holds {len(steps)} bar; a replay needs "
            "at least two (a decision and a fill)"
        )
    return steps


def _bar_positions(series: BarSeries, steps: list[int]) -> list[int]:
    wanted = np.asarray(steps, dtype=np.int64)
    index = np.searchsorted(series.close_times, wanted)
    inside = index < len(series)
    found = np.zeros(len(wanted), dtype=bool)
    found[inside] = series.close_times[index[inside]] == wanted[inside]
    positions: list[int] = np.where(found, index, -1).tolist()
    return positions


def _benchmark(series: Sequence[BarSeries], times: pd.DatetimeIndex) -> pd.Series:
    """Equal-weight buy and hold of the run's symbols over the bars of the equity curve at
    `times` (`trading.metrics.equal_weight_buy_and_hold`), from the first point at which every
    symbol has a close; each symbol's last close stands where it has no bar of its own."""
    # Each time's close is the last bar's labelled at or before it (what a forward-filling
    # `reindex` of the closes gives), found by searching the labels' integers.
    at = times.as_unit("ns").asi8
    rows = []
    for s in series:
        found = np.searchsorted(s.times, at, side="right") - 1
        rows.append(np.where(found >= 0, s.close[np.maximum(found, 0)], np.nan))
    closes = np.vstack(rows)
    complete = ~np.isnan(closes).any(axis=0)
    if not complete.any():
        return pd.Series([], index=pd.DatetimeIndex([]), dtype=float)
    values = equal_weight_buy_and_hold(closes[:, complete])
    return pd.Series(values, index=times[complete])


def _day_ns(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000_000


def _to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC) + timedelta(
        microseconds=(ns % 1_000_000_000) // 1_000
    )
