"""The live cycle source: a cycle every N seconds, or on each new closed bar of a timeframe,
waiting on an injected clock and sleep, on Kraken's closed candles (see
`orchestration.live.kraken`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from orchestration.resume import ResumeError
from trading.data import Catalog
from trading.data.series import to_ns
from trading.domain import Bar, EquityPoint
from trading.errors import ConfigError, DataError
from trading.kraken import KrakenMarketData, timeframe_seconds
from trading.metrics import equal_weight_buy_and_hold
from trading.replay import Tick
from trading.storage import Store

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PastCycle:
    """A committed cycle as a resume asks for it again: its time and its bars' labels."""

    time: datetime
    bars: tuple[tuple[str, datetime], ...]


def past_cycles(store: Store, run_id: str) -> list[PastCycle]:
    return [
        PastCycle(
            row.time,
            tuple((str(b["symbol"]), datetime.fromisoformat(str(b["time"]))) for b in row.bars),
        )
        for row in store.cycles(run_id, full=False)
    ]


class LiveSource:
    """Cycles on live Kraken bars (see the module's docstring). `total` is `max_cycles`, or
    None for a run that goes on until stopped; the final cycle of a limited run settles (polls
    the exchange, marks) and decides nothing, as a replay's does."""

    def __init__(
        self,
        market_data: KrakenMarketData,
        catalog: Catalog,
        symbols: Sequence[str],
        *,
        timeframe: str,
        sleep: Sleep,
        every_s: float | None = None,
        max_cycles: int | None = None,
        past: Sequence[PastCycle] = (),
        commit_wait_s: float = 120.0,
        poll_s: float = 5.0,
    ) -> None:
        if every_s is not None and not (math.isfinite(every_s) and every_s > 0):
            raise ConfigError(f"every_s must be a positive number of seconds, got {every_s!r}")
        if max_cycles is not None and max_cycles < 2:
            raise ConfigError(
                f"max_cycles must be at least 2 (a decision and the cycle that settles it), "
                f"got {max_cycles!r}"
            )
        if not symbols:
            raise ConfigError("a live run needs at least one symbol")
        self.market_data = market_data
        self.catalog = catalog
        self.symbols = tuple(symbols)
        self.timeframe = timeframe
        self.step = timedelta(seconds=timeframe_seconds(timeframe))
        self.every_s = every_s
        self.max_cycles = max_cycles
        self.clock = market_data.clock
        self._sleep = sleep
        self._past = list(past)
        self._ticks: dict[int, Tick] = {}
        self.commit_wait_s = commit_wait_s
        self.poll_s = poll_s

    @property
    def total(self) -> int | None:
        return self.max_cycles

    async def tick(self, cycle: int) -> Tick | None:
        if self.max_cycles is not None and cycle >= self.max_cycles:
            return None
        tick = self._ticks.get(cycle)
        if tick is not None:
            return tick
        if cycle < len(self._past):
            # Kraken's REST calls block; on a worker thread they leave the event loop free for
            # a stop signal and the live view.
            tick = await asyncio.to_thread(self._again, cycle)
        elif cycle == 0 or cycle - 1 in self._ticks:
            tick = await self._next(cycle)
        else:
            raise ConfigError(f"live cycle {cycle} was asked for before cycle {cycle - 1}")
        self._ticks[cycle] = tick
        return tick

    def benchmark(self, equity: Sequence[EquityPoint]) -> pd.Series:
        """Equal-weight buy and hold of the symbols (`equal_weight_buy_and_hold`), from each
        symbol's last close at each equity point, once every symbol has one."""
        times = [point.time for point in equity]
        wanted = np.array([to_ns(t) for t in times], dtype=np.int64)
        rows = []
        for symbol in self.symbols:
            series = self.catalog.load(symbol)
            where = np.searchsorted(series.close_times, wanted, side="right") - 1
            rows.append([float(series.close[i]) if i >= 0 else math.nan for i in where])
        closes = np.array(rows, dtype=np.float64).reshape(len(rows), len(times))
        complete = np.asarray(~np.isnan(closes).any(axis=0), dtype=np.bool_)
        index = pd.DatetimeIndex(times)[complete]
        if not complete.any():
            return pd.Series([], index=index, dtype=float)
        return pd.Series(equal_weight_buy_and_hold(closes[:, complete]), index=index)

    def _make(self, cycle: int, now: datetime, bars: tuple[Bar, ...]) -> Tick:
        last = self.max_cycles is not None and cycle == self.max_cycles - 1
        return Tick(cycle, now, bars, last, equity_time=now)

    def _again(self, cycle: int) -> Tick:
        past = self._past[cycle]
        bars = []
        for symbol, label in past.bars:
            found = [
                b
                for b in self.market_data.bars(symbol, self.timeframe, label, label + self.step)
                if b.time == label
            ]
            if not found:
                raise ResumeError(
                    f"cycle {cycle} traded on the {symbol} {self.timeframe} candle of "
                    f"{label.isoformat()}, which neither the candle cache nor Kraken has now"
                )
            bars.append(found[0])
        return self._make(cycle, past.time, tuple(bars))

    async def _next(self, cycle: int) -> Tick:
        previous = self._ticks.get(cycle - 1)
        closing: datetime | None = None  # the close that must be committed, on new bars
        if previous is None:
            due = self.clock.now()
        else:
            if self.every_s is not None:
                due = previous.now + timedelta(seconds=self.every_s)
            else:
                closing = max(b.close_time for b in previous.bars) + self.step
                due = closing
            # Strictly later: a cycle's equity point is keyed by its time.
            due = max(due, previous.now + timedelta(seconds=1))
        now = await self._until(due)
        waited = 0.0
        while True:
            bars = await asyncio.to_thread(self._latest, now)
            if closing is None or all(b.close_time >= closing for b in bars):
                return self._make(cycle, now, bars)
            if waited >= self.commit_wait_s:
                raise DataError(
                    f"Kraken has not committed the {self.timeframe} candles closing at "
                    f"{closing.isoformat()} after {waited:g}s"
                )
            await self._sleep(self.poll_s)
            waited += self.poll_s
            now = self.clock.now()

    async def _until(self, due: datetime) -> datetime:
        while (now := self.clock.now()) < due:
            await self._sleep((due - now).total_seconds())
        return now

    def _latest(self, now: datetime) -> tuple[Bar, ...]:
        bars = []
        for symbol in self.symbols:
            recent = self.market_data.bars(symbol, self.timeframe, now - 3 * self.step, now)
            if not recent:
                raise DataError(
                    f"Kraken has no closed {self.timeframe} {symbol} candle in the three "
                    f"before {now.isoformat()}"
                )
            bars.append(recent[-1])
        return tuple(bars)
