"""A quant strategy's whole replay result, through the vectorised path where it is exact.

`trading.vectorised` finds the steps at which a quant strategy's replay could propose an order;
at every other step the replay only settles nothing, marks the books, records the equity and
logs a decision that sends no order. `vectorised_replay` runs the replay's own `CycleEngine`
(agent, risk gate, paper executor, ledger) at those steps and at the bars that fill what they
send, and writes the other steps down as the replay would have recorded them:

- equity: `Ledger.equity()` at that bar's closes, the same Decimal operations in the same order
  (cash + the sum of quantity x close over the positions held, which do not change there);
- the decision: `strategy_targets` read from the signal tables, whose equality with the
  strategy's own function at every bar and direction the vectorised tests check; the gate
  reviewed nothing (no proposal), so the log holds no review.

Stop-loss and take-profit, which `trading.vectorised` refuses, run here: a position's levels
are fixed prices between two fills, so the engine also runs every bar whose close lies within
a guard band of one (`_SparseRun._first_exit`), and the gate's own `protective_exits` decides.

Orders, fills, events and their reasons thus come from the engine itself, the metrics from the
engine's `result`, and the store gets the rows `run_replay` would write. `quant_backtest` picks
the path (`auto`: vectorised where `trading.vectorised` accepts the config and data, else the
replay) and says which ran and why.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import repeat
from operator import add
from typing import Literal, cast

import numpy as np
import pandas as pd

from trading.data import BarSeries, Catalog
from trading.decision import Decision, TradingAgent
from trading.domain import ZERO, EquityPoint, Instrument
from trading.replay import (
    CycleEngine,
    DecisionLog,
    Progress,
    ReplayConfig,
    ReplayResult,
    Tick,
    _persist,
    _to_datetime,
    run_replay,
)
from trading.sizing import SLACK
from trading.storage import Store
from trading.strategies import QuantParams

# The vectorised path's internals: the candidate search lives with the rest of it.
from trading.vectorised import UnsupportedError, _market, _refuse, _Run
from trading.vectorised_equity import EquityRun, IntegerRun, equity_floats, integer_run
from trading.vectorised_market import Floats, Ints, Market, _datetimes

PathName = Literal["vectorised", "replay"]
PathChoice = Literal["auto", "vectorised", "replay"]
PATH_CHOICES: tuple[PathChoice, ...] = ("auto", "vectorised", "replay")


@dataclass(frozen=True, slots=True)
class Backtest:
    """A run's result and the path that produced it; `reason`: why the replay ran when the
    vectorised path was allowed to (`auto`) but refused, else None."""

    # Left out of the repr: `asyncio.run` (3.11) formats the repr of its task's result when it
    # restores the SIGINT handler, which for a whole replay's result took ~0.1 s.
    result: ReplayResult = field(repr=False)
    path: PathName = "replay"
    reason: str | None = None

    def describe(self) -> str:
        """The path as a person reads it: "vectorised", "replay" or "replay (vectorised path:
        <why not>)"."""
        return self.path if self.reason is None else f"replay (vectorised path: {self.reason})"


async def quant_backtest(
    agent: TradingAgent,
    kind: str,
    params: QuantParams,
    catalog: Catalog,
    config: ReplayConfig,
    *,
    run_id: str,
    path: PathChoice = "auto",
    store: Store | None = None,
    created_at: datetime | None = None,
    progress: Progress | None = None,
    instruments: dict[str, Instrument] | None = None,
) -> Backtest:
    """Strategy `kind` with `params` (whose replay agent is `agent`) over `config`: through the
    vectorised path or the replay as `path` says; both give the same result. A forced
    `vectorised` that cannot be exact raises `UnsupportedError` with the reason."""
    reason = None
    if path != "replay":
        try:
            result = await vectorised_replay(
                agent,
                kind,
                params,
                catalog,
                config,
                run_id=run_id,
                store=store,
                created_at=created_at,
                progress=progress,
                instruments=instruments,
            )
        except UnsupportedError as error:
            if path == "vectorised":
                raise
            reason = str(error)
        else:
            return Backtest(result, "vectorised")
    # Paused over the replay too: it logs a decision and a point per bar (17 collections, ~4
    # of ~50 ms for SPX's 5031 bars, against one of ~1.4 ms after), and a quant agent's
    # `decide` returns without suspending, so nothing else runs meanwhile here either.
    with _collection_paused():
        result = await run_replay(
            agent,
            catalog,
            config,
            run_id=run_id,
            store=store,
            created_at=created_at,
            progress=progress,
            instruments=instruments,
        )
    return Backtest(result, "replay", reason)


def vectorised_refusal(
    catalog: Catalog,
    config: ReplayConfig,
    params: QuantParams,
    instruments: Mapping[str, Instrument] | None = None,
) -> str | None:
    """None when `vectorised_replay` runs these params over this config and data, else why
    not; the market it checks is prepared once and kept for the runs that follow."""
    try:
        _refuse_sparse(config, params)
        _market(catalog, config, instruments)
    except UnsupportedError as error:
        return str(error)
    return None


async def vectorised_replay(
    agent: TradingAgent,
    kind: str,
    params: QuantParams,
    catalog: Catalog,
    config: ReplayConfig,
    *,
    run_id: str,
    store: Store | None = None,
    created_at: datetime | None = None,
    progress: Progress | None = None,
    instruments: dict[str, Instrument] | None = None,
) -> ReplayResult:
    """What `run_replay(agent, ...)` returns (and stores) for `agent`, the quant strategy `kind`
    with `params`. `UnsupportedError`, before anything is stored, where it cannot be exact."""
    _refuse_sparse(config, params)
    market = _market(catalog, config, instruments)  # data it cannot align is refused here
    engine = CycleEngine(catalog, config, run_id=run_id, instruments=instruments)
    if store is not None:
        store.create_run(
            run_id,
            "backtest",
            {"agent": agent.name, **config.describe()},
            created_at or _to_datetime(int(market.step_times[0])),
        )
    sparse = _SparseRun(market, kind, params, engine, agent, progress)
    with _collection_paused():
        await sparse.run()
    # The equity points are stamped at the market's stamps, one per step: its index, its
    # benchmark and its periods per year are the ones the replay's result would compute.
    result = engine.result(
        agent.name,
        _MarketBenchmark(market),
        index=market.index,
        periods_per_year=market.periods_per_year,
        values=equity_floats(engine.equity, sparse.equity_runs),
    )
    if store is not None:
        _persist(store, result, engine.clock.now())
    return result


@contextmanager
def _collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off while the run writes its records, as it was after.

    A run writes an equity point and a decision log for every step (10,000 objects for SPX's
    5031 bars), none of them part of a cycle; each 700 allocations start a collection that
    walks the young objects, every tenth the older ones too, so the same records are walked
    again and again for no garbage (~8% of a run's instructions: 170M -> 156M per SPX run,
    callgrind). Reference counting still frees everything as usual; cycles made meanwhile
    wait for the next collection after the run. Nothing else runs while it is off: the run
    awaits nothing that suspends it."""
    if not gc.isenabled():  # someone turned it off: theirs to turn on
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(frozen=True, slots=True)
class _MarketBenchmark:
    """`ReplayBars.benchmark` of an equity curve over the market's steps, prepared."""

    market: Market

    def benchmark(self, equity: Sequence[EquityPoint]) -> pd.Series:
        return self.market.benchmark


def _refuse_sparse(config: ReplayConfig, params: QuantParams) -> None:
    """`trading.vectorised`'s refusal, less stop-loss and take-profit: the engine itself runs
    every bar at which a position may cross one (`_SparseRun._first_exit`), so its exits are
    the replay's."""
    limits = config.limits.model_copy(update={"stop_loss": None, "take_profit": None})
    _refuse(replace(config, limits=limits), params)


class _SparseRun(_Run):
    """The vectorised candidate search over the engine's own ledger: the engine steps through
    the candidate bars and the bars that fill their orders; the rest is written down."""

    def __init__(
        self,
        market: Market,
        kind: str,
        params: QuantParams,
        engine: CycleEngine,
        agent: TradingAgent,
        progress: Progress | None,
    ) -> None:
        super().__init__(market, kind, params)
        self.engine = engine
        self.ledger = engine.ledger  # the search reads the account the engine trades on
        self.agent = agent
        self.progress = progress
        self.index = {symbol: k for k, symbol in enumerate(self.market.symbols)}
        self.settled = -1  # the last step the engine settled
        self.pending_equity = 0  # the first step whose equity is not recorded yet
        self.pending_decision = 0  # the first step whose decision is not logged yet
        self.equity_runs: list[EquityRun] = []  # the points written down, for their floats
        self._decisions: dict[tuple[int, ...], _Decisions] = {}  # by directions held
        # The signals per symbol, direction held and step, as Python ints.
        self.signal_rows: list[list[list[int]]] = [
            [table[row].tolist() for row in range(3)] for table in self.signals
        ]
        self._last_tick: Tick | None = None
        self.moments = _moments(self.market.stamps, self.market.step_times, self.market.series[0])
        limits = engine.config.limits
        self.stop = None if limits.stop_loss is None else float(limits.stop_loss)
        self.take = None if limits.take_profit is None else float(limits.take_profit)

    async def run(self) -> None:
        last = self.market.steps - 1
        step = 0
        while step < last:
            candidate = self._next_candidate(step, last)
            if candidate < 0:
                break
            if await self._decide_at(candidate):
                self._fill_at(candidate + 1)
            step = candidate + 1
        self._settle(last)
        self._write_decisions(last)

    def _next_candidate(self, start: int, stop: int) -> int:
        """The strategy's next candidate (`_Run._next_candidate`), or an earlier step at which
        a stop-loss or take-profit may close a position."""
        candidate = super()._next_candidate(start, stop)
        if self.stop is None and self.take is None:
            return candidate
        exit_step = self._first_exit(start, stop if candidate < 0 else candidate)
        return exit_step if exit_step >= 0 else candidate

    def _first_exit(self, start: int, stop: int) -> int:
        """The first step in [start, stop) whose close may cross a held position's stop-loss or
        take-profit level (`RiskGate.protective_exits`), or -1. Quantities and average prices
        do not change before `stop`, so each level is one price: long, a close at or below
        average x (1 - stop) or at or above average x (1 + take); short, the mirror. A band
        of SLACK around each level in floats keeps every close the exact rule may exit on; a
        false alarm is a bar the engine runs to find nothing to exit."""
        if start >= stop:
            return -1
        first = stop
        for symbol, position in self.ledger.positions.items():
            quantity, average = position.quantity, position.average_price
            if quantity == ZERO or average <= ZERO:
                continue
            closes = self.market.closes[self.index[symbol], start:first]
            price = float(average)
            falls, rises = (self.stop, self.take) if quantity > ZERO else (self.take, self.stop)
            near = np.zeros(len(closes), dtype=bool)
            if falls is not None:
                near |= closes <= price * (1 - falls) * (1 + SLACK) + price * SLACK
            if rises is not None:
                near |= closes >= price * (1 + rises) * (1 - SLACK) - price * SLACK
            found = np.flatnonzero(near)
            if found.size:
                first = start + int(found[0])
        return first if first < stop else -1

    async def _decide_at(self, step: int) -> bool:
        """The engine's decision at `step`; whether it left orders to fill on the next bar."""
        self._settle(step)
        self._write_decisions(step)
        engine, tick = self.engine, self._tick(step)
        # What the agent would decide (`strategy_targets`), from the signal tables as at every
        # other step: the kill switch that could override it is refused on this path.
        directions = tuple(self.directions)
        each = zip(self.signal_rows, directions, strict=True)
        signals = tuple(rows[d + 1][step] for rows, d in each)
        decision = self._decisions_held(directions)[signals]
        engine.execute(self.agent.name, decision, tick)
        self.pending_decision = step + 1
        return bool(engine.executor.open_orders())

    def _fill_at(self, step: int) -> None:
        self._settle(step)
        quantities, self.directions = self._held()
        self.segments.append((step, float(self.ledger.cash), quantities))

    def _settle(self, step: int) -> None:
        """The engine settles `step`, after the steps before it are written down."""
        if step <= self.settled:
            return
        # The replay's borrow accrual starts at the first bar and subtracts from the cash at
        # the second even when nothing is short (a zero, which can change how the cash is
        # written): both go through the engine, so its cash is the replay's from there on.
        for early in (0, 1):
            if self.settled < early < step:
                self._settle(early)
        self._write_decisions(step)
        self._write_equity(step)
        self.engine.settle(self._tick(step))
        self.settled, self.pending_equity = step, step + 1
        if self.progress is not None:
            self.progress(step + 1, self.market.steps)

    def _tick(self, step: int) -> Tick:
        """`ReplayBars.tick(step)` from what the market holds: every symbol has a bar at every
        step (one calendar), and the close time is the step's moment. A decision's step is
        settled first: its tick is built once for both (nothing changes a tick)."""
        tick = self._last_tick
        if tick is not None and tick.cycle == step:
            return tick
        market = self.market
        bars = tuple([market.bar(k, step) for k in range(len(market.symbols))])
        tick = self._last_tick = Tick(step, self.moments[step], bars, step == market.steps - 1)
        return tick

    def _write_equity(self, stop: int) -> None:
        """Equity points of the steps from the first unrecorded one to `stop`, with the account
        as it stands (nothing fills there): `Ledger.equity()` at each step's closes, and the
        float of each for the metrics."""
        start = self.pending_equity
        if start >= stop:
            return
        market, ledger = self.market, self.ledger
        stamps = market.stamps[start:stop]
        cash = ledger.cash
        held = [(self.index[s], p.quantity) for s, p in ledger.positions.items() if p.quantity]
        first = len(self.engine.equity)
        # Each point is built as `EquityPoint._make` builds one, by `tuple.__new__` on its
        # fields: the same tuple, without a Python-level `__new__` call per point.
        point = tuple.__new__
        floats: Floats | None
        if not held:
            flat = cash + ZERO  # `market_value()` is an empty sum then
            points = list(map(point, repeat(EquityPoint), zip(stamps, repeat(cash), repeat(flat))))
            floats = np.full(len(points), float(flat))
        else:
            found = integer_run(cash, held, market.close_units(), start, stop)
            values = self._values(cash, held, start, stop, found)
            points = list(map(point, repeat(EquityPoint), zip(stamps, repeat(cash), values)))
            floats = None if found is None else found.floats
        if floats is not None:
            self.equity_runs.append(EquityRun(first, floats))
        self.engine.equity.extend(points)
        self.pending_equity = stop

    def _values(
        self,
        cash: Decimal,
        held: list[tuple[int, Decimal]],
        start: int,
        stop: int,
        found: IntegerRun | None,
    ) -> list[Decimal]:
        """Each step's cash + (0 + sum of quantity x close), from the run's integers where
        they are exact, else (and at a zero, whose sign the rounding decides) by the Decimal
        operations `Ledger.equity()` does, in its order."""
        if found is not None and found.numerators.all():  # no zero: no value left None
            return cast(list[Decimal], found.values)
        columns = [(q, self._closes(k, start, stop)) for k, q in held]
        values: list[Decimal] = []
        for i in range(stop - start):
            given = None if found is None else found.values[i]
            if given is None:
                total = ZERO
                for quantity, closes in columns:
                    total += quantity * closes[i]
                given = cash + total
                if found is not None:
                    found.floats[i] = float(given)
            values.append(given)
        return values

    def _closes(self, k: int, start: int, stop: int) -> list[Decimal]:
        """Symbol k's closes at steps [start, stop) as its bars hold them."""
        return self.market.close_prices(k)[start:stop]

    def _write_decisions(self, stop: int) -> None:
        """Decision logs of the steps from the first unlogged one to `stop`: the targets the
        strategy gives at each (for the directions held, unchanged there), and no review."""
        start = self.pending_decision
        if start >= stop:
            return
        directions = tuple(self.directions)
        table = self._decisions_held(directions)
        each = zip(self.signal_rows, directions, strict=True)
        rows = [rows[d + 1][start:stop] for rows, d in each]  # per symbol, the row held
        # One pass in C over the steps: each step's signals, its (shared) decision, its log
        # (built as `DecisionLog._make` builds one, by `tuple.__new__` on its fields).
        self.engine.decisions.extend(
            map(
                tuple.__new__,
                repeat(DecisionLog),
                zip(
                    self.moments[start:stop],
                    repeat(self.agent.name),
                    map(table.__getitem__, zip(*rows, strict=True)),
                    repeat(()),
                ),
            )
        )
        self.pending_decision = stop

    def _decisions_held(self, directions: tuple[int, ...]) -> _Decisions:
        table = self._decisions.get(directions)
        if table is None:
            table = self._decisions[directions] = _Decisions(self, directions)
        return table


class _Decisions(dict[tuple[int, ...], Decision]):
    """The decision per step's signals, for one set of directions held: `strategy_targets`,
    weight x signal per symbol, less a held signal of a strategy that does not rebalance.
    Decisions are immutable, so each is made once and shared by every step that has it."""

    def __init__(self, run: _SparseRun, directions: tuple[int, ...]) -> None:
        super().__init__()
        self.run = run
        self.directions = directions

    def __missing__(self, signals: tuple[int, ...]) -> Decision:
        run, directions = self.run, self.directions
        targets: Mapping[str, Decimal] = {
            symbol: run.share * signals[k]
            for k, symbol in enumerate(run.market.symbols)
            if run.rebalances or signals[k] != directions[k] or signals[k] == 0
        }
        decision = self[signals] = Decision(targets)
        return decision


def _moments(stamps: list[datetime], closes: Ints, first: BarSeries) -> list[datetime]:
    """Each step's close time (ns in `closes`) as the replay's clock reads it (`from_ns`):
    from the stamps (its first symbol's bar labels) where every bar closes a fixed whole number
    of microseconds after its label, which saves converting each."""
    labels = first.times[np.searchsorted(first.close_times, closes)]
    spans = closes - labels
    whole = not (labels % 1000).any() and not (spans % 1000).any()
    if whole and len(spans) and (spans == spans[0]).all():
        span = timedelta(microseconds=int(spans[0]) // 1000)
        return list(map(add, stamps, repeat(span)))
    return _datetimes(closes)
