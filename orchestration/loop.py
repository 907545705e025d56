"""The autonomous trading loop: a `TradingAgent` (one agent, or a whole team) trades cycle by
cycle, durably.

Each cycle runs the replay's steps (`trading.replay.CycleEngine`: settle the bars, decide, pass
the risk gate, submit to the paper executor) and then commits everything it produced in one
transaction (orders, fills, equity point, decision with its risk reviews and abstentions, the
cycle row with the accounts' snapshot, the agent's transcript and state) before the next cycle
starts. So after any crash the database holds a prefix of whole cycles, and `resume` rebuilds
the accounts from it deterministically: it replays the committed decisions through the same
engine without asking the agent, checks the rebuilt accounts against every committed snapshot,
restores the agent's state and goes on from the next cycle. The result equals a run that was
never interrupted. Orders are named by (run, cycle, symbol), and a key already stored is never
submitted again.

One process at a time trades a run: `start` and `resume` take the run's lease
(`trading.storage_lease`) and release it on the way out; a second process is refused with the
holder's name, and one whose lease was taken over stops before its next commit.

`stop()` (and SIGINT or SIGTERM, through `stop_on_signals`) lets the current cycle finish and
commit, then the loop returns with status "stopped"; `resume` continues it later.

Cycles come from a `CycleSource`: replayed bars by default, or a live one
(`orchestration.live.source.LiveSource`: every N seconds or on each new bar, waiting on an
injected clock and sleep). Orders go to the engine's paper executor unless `start`/`resume` get an
`ExecutorFactory` (paper fills on a live book, or an exchange). Such a run is rebuilt on
resume from its stored fills (`orchestration.recorded`), since a live book cannot fill the
past again, and then trades on through the factory's executor. A `start_up` hook runs before
the first cycle (an exchange reconcile); the events it returns are committed with that cycle.
"""

from __future__ import annotations

import asyncio
import copy
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import Any, Literal, Protocol

import pandas as pd

from orchestration.events import ErrorEvent, EventSink, LoopEvent, ProgressEvent, ResultEvent
from orchestration.recorded import recorded_fills
from orchestration.resume import ResumeError, StoredRun, bars_json, rebuild, stored_run
from trading.clock import Clock, LiveClock, moment_label
from trading.data import Catalog
from trading.decision import TradingAgent
from trading.domain import EquityPoint, Instrument, Order, OrderEvent, OrderFilled
from trading.errors import ConfigError
from trading.executor import ExecutorFactory
from trading.replay import (
    CycleEngine,
    DecisionLog,
    ReplayBars,
    ReplayConfig,
    ReplayResult,
    Tick,
)
from trading.replay_config import describe_instruments
from trading.storage import DecisionRow, Store
from trading.storage_lease import Lease, LeaseLostError, RunLeases

__all__ = [
    "CycleSource",
    "LoopResult",
    "OnceOnly",
    "ReplaySource",
    "ResumeError",
    "StartUp",
    "StatefulAgent",
    "StoredRun",
    "TradingLoop",
    "TranscriptAgent",
    "stop_on_signals",
    "stored_run",
]

RUN_KIND = "trade"

# Runs before the first cycle, on the engine as built (or rebuilt); may raise to stop the run
# before it trades. What it returns (fills found at the exchange) goes into the first cycle.
StartUp = Callable[[CycleEngine], Sequence[OrderEvent]]


class TranscriptAgent(TradingAgent, Protocol):
    """An agent that can say how it reached its latest decision. The loop stores whatever
    `transcript()` returns (plain JSON data; decimals and times are written as strings) with
    the cycle, after each `decide`; None stores nothing. A `transcript` attribute holding the
    data works as well as the method."""

    def transcript(self) -> Mapping[str, Any] | None: ...


class StatefulAgent(TradingAgent, Protocol):
    """An agent whose decisions depend on what it saw before (a team's track record). The loop
    reads `state()` after every cycle, stores it with the cycle when it differs from the one
    stored before, and hands the latest to `restore` on resume, since a resume does not ask the
    agent about the cycles it rebuilds. An agent without these methods must decide from its
    snapshot alone, as the quant agents do."""

    def state(self) -> Mapping[str, Any]: ...

    def restore(self, state: Mapping[str, Any]) -> None: ...


class CycleSource(Protocol):
    """Where cycles come from. `tick(n)` returns cycle n, waiting for it if it lies ahead (a
    live source sleeps on its injected clock), or None when the source has no more; a finite
    source marks its final tick `last`. A resume asks again for the committed cycles, so a
    source must be able to give its past ticks once more. `benchmark` prices equal-weight buy
    and hold of the run's symbols at the equity curve's times, for the metrics."""

    @property
    def total(self) -> int | None: ...

    async def tick(self, cycle: int) -> Tick | None: ...

    def benchmark(self, equity: Sequence[EquityPoint]) -> pd.Series: ...


class ReplaySource:
    """Replayed history: each close time of the run's symbols is a cycle, with no waiting."""

    def __init__(self, bars: ReplayBars) -> None:
        self.bars = bars

    @property
    def total(self) -> int:
        return self.bars.total

    async def tick(self, cycle: int) -> Tick | None:
        return self.bars.tick(cycle) if cycle < self.bars.total else None

    def benchmark(self, equity: Sequence[EquityPoint]) -> pd.Series:
        return self.bars.benchmark(equity)


class OnceOnly:
    """Submits an order only if its id, the idempotency key (run, cycle, symbol), was never
    stored for the run nor submitted by this process; otherwise it is a no-op. A paper
    executor rebuilt by a resume already knows its orders; an exchange adapter does not, and
    this guard (with the key as the exchange's client order id) keeps a restart from sending
    an order twice."""

    def __init__(self, submit: Callable[[Order], list[OrderEvent]], stored: set[str]) -> None:
        self._submit = submit
        self.seen = set(stored)
        self.skipped: list[str] = []

    def __call__(self, order: Order) -> list[OrderEvent]:
        if order.id in self.seen:
            self.skipped.append(order.id)
            return []
        self.seen.add(order.id)
        return self._submit(order)


@dataclass(frozen=True, slots=True)
class LoopResult:
    run_id: str
    status: Literal["finished", "stopped"]
    cycles: int  # committed cycles, all of them, including those of earlier processes
    total: int | None
    # The run so far with its metrics; None until two cycles are committed.
    replay: ReplayResult | None
    skipped_orders: tuple[str, ...] = ()


class TradingLoop:
    """Runs `agent` over a run's cycles, committing each. One loop object runs one run at a
    time; `start` begins a new run, `resume` continues a stored one."""

    def __init__(
        self,
        agent: TradingAgent,
        catalog: Catalog,
        store: Store,
        *,
        events: EventSink | None = None,
        clock: Clock | None = None,
        leases: RunLeases | None = None,
    ) -> None:
        """`clock` stamps the run's creation and end (the CLI passes a `LiveClock`); without
        one the replay's own times are used, which keeps tests deterministic. `leases` keep a
        second process off the run; by default they are this process's, timed by `clock`, or
        the wall clock (a lease's expiry is wall time, whatever the run replays)."""
        self.agent = agent
        self.catalog = catalog
        self.store = store
        self.events = events
        self.clock = clock
        self.leases = leases or RunLeases(store.engine, clock or LiveClock())
        self._stop_reason = ""
        # The agent's state as the run's database holds it: a cycle stores only a new one.
        self._stored_state: dict[str, Any] | None = None

    # ---- control ----------------------------------------------------------------------------

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the loop to stop after the cycle under way is committed. Safe from a signal
        handler: it only sets a flag."""
        self._stop_reason = reason or "stop requested"

    @property
    def stop_requested(self) -> str:
        return self._stop_reason

    # ---- runs -------------------------------------------------------------------------------

    async def start(
        self,
        config: ReplayConfig,
        *,
        run_id: str,
        instruments: dict[str, Instrument] | None = None,
        meta: Mapping[str, Any] | None = None,
        source: CycleSource | None = None,
        executor: ExecutorFactory | None = None,
        start_up: StartUp | None = None,
    ) -> LoopResult:
        """A new run, over replayed bars unless `source` gives the cycles, through the paper
        executor unless `executor` builds another. `meta` is stored with the run's config for
        whoever resumes it (the CLI keeps the team file and data files there)."""
        self._stop_reason = ""
        self._stored_state = None
        with self._errors_emitted(run_id):
            if self.store.run(run_id) is not None:
                raise ConfigError(f"run {run_id!r} already exists; resume it or pick a new id")
            with self.leases.hold(run_id) as lease:
                if source is None:
                    source = ReplaySource(ReplayBars(self.catalog, config))
                engine = CycleEngine(
                    self.catalog, config, run_id=run_id, instruments=instruments, executor=executor
                )
                found = list(start_up(engine)) if start_up is not None else []
                first = await source.tick(0)
                if first is None:
                    raise ConfigError(f"run {run_id!r}: its cycle source has no first cycle")
                described = {
                    "agent": self.agent.name,
                    **config.describe(),
                    "instruments": describe_instruments(instruments or {}),
                    "meta": dict(meta or {}),
                }
                self.store.create_run(run_id, RUN_KIND, described, self._now(first.now))
                return await self._drive(engine, source, 0, lease, finished=False, found=found)

    async def resume(
        self,
        run_id: str,
        *,
        source: CycleSource | None = None,
        executor: ExecutorFactory | None = None,
        start_up: StartUp | None = None,
    ) -> LoopResult:
        """Continue a stored run (crashed, stopped or failed) from its next cycle, with the
        accounts rebuilt from the database and checked against it. A finished run is rebuilt
        and returned as it is, without asking the agent anything. `source`, `executor` and
        `start_up` are the ones the run was started with (see `start`)."""
        self._stop_reason = ""
        with self._errors_emitted(run_id):
            # The lease first: what is stored (a status, the last cycle) may change until then.
            with self.leases.hold(run_id) as lease:
                stored = stored_run(self.store, run_id)
                if stored.kind != RUN_KIND:
                    raise ConfigError(
                        f"run {run_id!r} is a {stored.kind!r} run; only {RUN_KIND!r} runs resume"
                    )
                if stored.agent != self.agent.name:
                    raise ConfigError(
                        f"run {run_id!r} was traded by agent {stored.agent!r}, not "
                        f"{self.agent.name!r}: resume it with the same agent"
                    )
                return await self._continue(stored, lease, source, executor, start_up)

    async def _continue(
        self,
        stored: StoredRun,
        lease: Lease,
        source: CycleSource | None,
        executor: ExecutorFactory | None,
        start_up: StartUp | None,
    ) -> LoopResult:
        run_id = stored.run_id
        if source is None:
            source = ReplaySource(ReplayBars(self.catalog, stored.config))
        engine = CycleEngine(
            self.catalog,
            stored.config,
            run_id=run_id,
            instruments=stored.instruments,
            executor=None if executor is None else recorded_fills(self.store, run_id),
        )
        rebuilt = await rebuild(self.store, engine, source, run_id)
        if executor is not None:
            engine.use_executor(executor)
        if rebuilt.agent_state is not None:
            restore = getattr(self.agent, "restore", None)
            if not callable(restore):
                raise ConfigError(
                    f"run {run_id!r} stored the state of agent {stored.agent!r}, but this "
                    "agent has no restore(state) method"
                )
            restore(rebuilt.agent_state)
        self._stored_state = rebuilt.agent_state
        tick = rebuilt.last_tick
        if tick is not None:
            self._emit(
                self._progress(
                    engine,
                    tick,
                    source.total,
                    0,
                    f"resumed after cycle {tick.cycle}: {rebuilt.cycles} committed cycles "
                    "rebuilt and checked",
                )
            )
        finished = stored.status == "finished"
        found = list(start_up(engine)) if start_up is not None and not finished else []
        if not finished:
            self.store.set_status(run_id, "running")
        return await self._drive(
            engine, source, rebuilt.cycles, lease, finished=finished, found=found
        )

    # ---- the cycle --------------------------------------------------------------------------

    async def _drive(
        self,
        engine: CycleEngine,
        source: CycleSource,
        cycle: int,
        lease: Lease,
        *,
        finished: bool,
        found: Sequence[OrderEvent] = (),
    ) -> LoopResult:
        run_id = engine.run_id
        guard = OnceOnly(engine.submit, self.store.order_ids(run_id))
        status: Literal["finished", "stopped"] = "finished"
        try:
            # A finished run has nothing left to do; a stop must not demote it to "stopped".
            while not finished:
                if self._stop_reason:
                    status = "stopped"
                    break
                tick = await source.tick(cycle)
                if tick is None:
                    break
                await self._cycle(engine, tick, source.total, guard, lease, found)
                found = ()
                cycle += 1
                if tick.last:
                    break
        except LeaseLostError:
            raise  # the run is another process's now, its status too
        except Exception:
            # The committed cycles stay; `resume` continues from them. The original error
            # matters more than a status that could not be written.
            with suppress(Exception):
                self.store.set_status(run_id, "failed")
            raise
        replay = engine.result(self.agent.name, source) if engine.can_measure() else None
        if status == "stopped":
            self.store.set_status(run_id, "stopped")
        elif not finished:
            summary: dict[str, Any] = {
                "final_equity": str(engine.ledger.equity()),
                "kill_switch": engine.gate.tripped_reason,
                "cycles": cycle,
            }
            if replay is not None:
                summary["metrics"] = replay.metrics.model_dump(mode="json")
            self.store.finish_run(run_id, "finished", summary, self._now(engine.clock.now()))
        self._emit(
            ResultEvent(
                run_id=run_id,
                status=status,
                cycles=cycle,
                total=source.total,
                final_equity=engine.ledger.equity(),
                final_cash=engine.ledger.cash,
                kill_switch=engine.gate.tripped_reason,
                metrics=None if replay is None else replay.metrics.model_dump(mode="json"),
            )
        )
        return LoopResult(run_id, status, cycle, source.total, replay, tuple(guard.skipped))

    async def _cycle(
        self,
        engine: CycleEngine,
        tick: Tick,
        total: int | None,
        submit: OnceOnly,
        lease: Lease,
        found: Sequence[OrderEvent] = (),
    ) -> None:
        lease.check()  # a process whose lease was taken over sends and commits nothing more
        engine.adopt(found)
        # Settling and executing may call an exchange, whose client blocks: on a worker thread
        # they leave the event loop free for a stop signal and the live view. The engine is
        # touched by one thread at a time, since each step is awaited.
        events = [*found, *(await asyncio.to_thread(engine.settle, tick))]
        log: DecisionLog | None = None
        transcript: dict[str, Any] | None = None
        if not tick.last:
            decision = await engine.decide(self.agent, tick)
            transcript = _transcript_of(self.agent)
            log, more = await asyncio.to_thread(
                engine.execute, self.agent.name, decision, tick, submit
            )
            events = events + more
        fills = [e for e in events if isinstance(e, OrderFilled)]
        changed = sorted({e.order_id for e in events})
        state = _state_of(self.agent)
        new_state = state if state is not None and state != self._stored_state else None
        lease.check()  # deciding can take minutes: the lease may have gone meanwhile
        self.store.commit_cycle(
            engine.run_id,
            tick.cycle,
            tick.now,
            bars=bars_json(tick.bars),
            ledger=engine.snapshot(),
            orders=engine.orders(changed),
            fills=fills,
            equity=[engine.last_mark()],
            decision=None if log is None else _decision_row(log),
            details=None if log is None else dict(log.decision.details),
            transcript=transcript,
            agent_state=new_state,
        )
        if new_state is not None:
            self._stored_state = new_state
        # Emitted only after the commit: a reader that sees cycle n knows it is stored.
        self._emit(self._progress(engine, tick, total, len(fills)))

    # ---- helpers ----------------------------------------------------------------------------

    def _progress(
        self, engine: CycleEngine, tick: Tick, total: int | None, fills: int, message: str = ""
    ) -> ProgressEvent:
        mark = engine.last_mark()
        return ProgressEvent(
            run_id=engine.run_id,
            step=tick.cycle + 1,
            total=total,
            message=message or f"{_moment(tick)} equity {mark.equity:.2f}",
            cycle=tick.cycle,
            time=tick.now,
            as_of=_moment(tick),
            equity=mark.equity,
            cash=mark.cash,
            fills=fills,
        )

    def _now(self, replay_time: datetime) -> datetime:
        return self.clock.now() if self.clock is not None else replay_time

    def _emit(self, event: LoopEvent) -> None:
        if self.events is not None:
            self.events(event)

    @contextmanager
    def _errors_emitted(self, run_id: str) -> Iterator[None]:
        """Any failure in the block is emitted as an error event, then goes on."""
        try:
            yield
        except Exception as error:
            self._emit(ErrorEvent(str(error), {"kind": type(error).__name__, "run_id": run_id}))
            raise


@contextmanager
def stop_on_signals(
    loop: TradingLoop, signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM ask `loop` to stop after its current cycle (a second
    SIGINT raises KeyboardInterrupt: the user insists). Handlers can only be installed from
    the main thread; the previous ones come back on exit."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if loop.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        loop.stop(f"{signal.Signals(signum).name} received")

    previous = {s: signal.signal(s, handle) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def _moment(tick: Tick) -> str:
    return moment_label(tick.bars[0].time, tick.now) if tick.bars else tick.now.isoformat()


def _decision_row(log: DecisionLog) -> DecisionRow:
    decision = log.decision
    return DecisionRow(
        time=log.time,
        agent=log.agent,
        targets=dict(decision.targets),
        rationale=decision.rationale,
        risk=log.risk_json(),
        abstentions=dict(decision.abstentions),
    )


def _transcript_of(agent: TradingAgent) -> dict[str, Any] | None:
    value = getattr(agent, "transcript", None)
    if callable(value):
        value = value()
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"agent {agent.name!r} gave a transcript that is not a mapping: {value!r}"
        )
    return dict(value)


def _state_of(agent: TradingAgent) -> dict[str, Any] | None:
    state = getattr(agent, "state", None)
    if not callable(state) or not callable(getattr(agent, "restore", None)):
        return None
    # A copy: the agent may change what it returned, and the loop compares it with the next.
    return copy.deepcopy(dict(state()))
