"""The replay loop: the whole decision cycle, bar by bar, over history.

At each bar close: the clock moves to it; the executor fills what earlier decisions sent (at
this bar's open, with the shared cost model); the ledger marks to the close and accrues borrow;
the risk gate sees the equity; the agent decides from a point-in-time snapshot; the gate reviews
the orders that would reach the targets; the executor accepts them for the next bar. The last
bar makes no decision, since nothing could fill it.

`ReplayBars` (`trading.replay_bars`) gives the cycles (one `Tick` per close time) and
`CycleEngine` holds the run's accounts and performs each step; `run_replay` drives them in one
go, and the durable trading loop (`orchestration.loop`) drives the same steps with a commit
after every cycle.

The engine trades through the paper executor unless it is given an `ExecutorFactory`: live
paper fills on an exchange's book, or the exchange itself. Such an executor's orders live
outside the engine, so its snapshots leave open orders out (the exchange and its journal are
the record of those) and a rebuild cannot replay its fills from bars.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from itertools import compress
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple, Protocol

import numpy as np
import pandas as pd

from trading.clock import ReplayClock
from trading.data import EARLIEST, Catalog, PointInTimeView
from trading.decision import Decision, Snapshot, TradingAgent
from trading.domain import (
    ZERO,
    Bar,
    EquityPoint,
    Instrument,
    Order,
    OrderEvent,
    OrderFilled,
    OrderType,
)
from trading.errors import ConfigError
from trading.executor import CycleExecutor, EnginePorts, ExecutorFactory
from trading.ids import OrderId
from trading.ledger import Ledger, Portfolio, RoundTrip
from trading.metrics import (
    ClosedTrade,
    PerformanceMetrics,
    compute_metrics,
)
from trading.paper import PaperExecutor
from trading.replay_bars import ReplayBars as ReplayBars  # part of the replay's interface
from trading.replay_bars import Tick as Tick
from trading.replay_bars import _to_datetime as _to_datetime  # for `trading.vectorised_replay`
from trading.replay_config import ReplayConfig as ReplayConfig
from trading.risk import RiskGate, RiskReview
from trading.sizing import RebalanceGuard, proposals_for_targets
from trading.storage import DecisionColumns, RunEnd, Store

Progress = Callable[[int, int], None]

_new_tuple = tuple.__new__
_NO_SYMBOLS: frozenset[str] = frozenset()


# A NamedTuple, as `EquityPoint`: a backtest makes one per bar, and a tuple is the cheapest to
# build (a frozen dataclass's `__init__` sets each field through `object.__setattr__`: ~4x);
# the vectorised path builds its runs of them by `tuple.__new__` in one pass, with no Python
# call per log. Nothing mutates one; the decision it holds is frozen.
class DecisionLog(NamedTuple):
    time: datetime
    agent: str
    decision: Decision
    reviews: tuple[RiskReview, ...]

    def risk_json(self) -> list[dict[str, Any]]:
        return [
            {
                "symbol": r.proposal.symbol,
                "side": r.proposal.side.value,
                "proposed": str(r.proposal.quantity),
                "approved": str(r.quantity),
                "verdict": r.verdict.value,
                "reasons": list(r.reasons),
            }
            for r in self.reviews
        ]


@dataclass(slots=True, repr=False)
class ReplayResult:
    run_id: str
    agent: str
    config: ReplayConfig
    equity: list[EquityPoint]
    fills: list[OrderFilled]
    orders: list[Order]
    decisions: list[DecisionLog]
    round_trips: list[RoundTrip]
    events: list[OrderEvent]
    metrics: PerformanceMetrics
    final_cash: Decimal
    final_equity: Decimal
    kill_switch: str

    def equity_series(self) -> pd.Series:
        return _equity_series(self.equity)

    def __repr__(self) -> str:
        # Short: `asyncio.run` (3.11) formats the repr of its task's result when it restores
        # the SIGINT handler, and the dataclass repr of a whole replay took ~0.06 s.
        return (
            f"ReplayResult(run_id={self.run_id!r}, agent={self.agent!r}, "
            f"points={len(self.equity)}, fills={len(self.fills)}, "
            f"final_equity={self.final_equity!r}, kill_switch={self.kill_switch!r})"
        )


class Benchmark(Protocol):
    """Buy and hold over the same times as an equity curve (`ReplayBars` is one)."""

    def benchmark(self, equity: Sequence[EquityPoint]) -> pd.Series: ...


def paper_executor(ports: EnginePorts) -> PaperExecutor:
    """The default: simulated fills on the next bar's open, with the run's costs."""
    return PaperExecutor(
        ports.ledger, ports.view, ports.clock, ports.costs, ports.instruments, gate=ports.gate
    )


class CycleEngine:
    """One run's accounts (clock, point-in-time view, ledger, paper executor, risk gate) and the
    steps of a cycle. Whoever drives it must call, per tick: `settle`, then (unless the tick is
    the last) `decide` and `execute`; everything the run produced accumulates here."""

    def __init__(
        self,
        catalog: Catalog,
        config: ReplayConfig,
        *,
        run_id: str,
        instruments: dict[str, Instrument] | None = None,
        executor: ExecutorFactory | None = None,
    ) -> None:
        """`executor` builds the executor from the engine's ports; None: the paper executor."""
        self.config = config
        self.run_id = run_id
        self.instruments = instruments or {}
        self.clock = ReplayClock(EARLIEST)  # before any bar, however old
        self.view = PointInTimeView(catalog, self.clock)
        self.ledger = Ledger(cash=config.cash, margin=config.margin)
        self.gate = RiskGate(config.limits)
        # Only the engine's own paper executor can be rebuilt from bars, open orders included.
        self.external_orders = executor is not None
        self.executor: CycleExecutor = (executor or paper_executor)(self.ports())
        self.equity: list[EquityPoint] = []
        self.decisions: list[DecisionLog] = []
        self.events: list[OrderEvent] = []
        # The portfolio `settle` left, which `decide` shows the agent and `execute` sizes from
        # on the same tick (the ledger does not change between them), with the tick's cycle.
        self._seen: tuple[int, Portfolio] | None = None
        self._borrow_rate = config.costs.borrow_rate
        # Every symbol of the run with its instrument (the default where none was given), as
        # sizing and the gate would look each up per proposal.
        self._sizing = {s: self.instruments.get(s) or Instrument(s) for s in config.symbols}
        self._symbols = frozenset(config.symbols)
        self._guard = RebalanceGuard(self._sizing, config.costs, config.rebalance_threshold)
        # Whether the gate has levels that `protective_exits` checks (it finds none without).
        levels = self.gate.limits
        self._stops = levels.stop_loss is not None or levels.take_profit is not None

    def ports(self) -> EnginePorts:
        return EnginePorts(
            self.ledger, self.view, self.clock, self.config.costs, self.instruments, self.gate
        )

    def use_executor(self, executor: ExecutorFactory) -> None:
        """Trade through another executor from now on (a resume rebuilds the past with one that
        replays the stored fills, then goes on with the live one). Its orders live outside the
        engine, as for any injected executor."""
        self.external_orders = True
        self.executor = executor(self.ports())

    # ---- what a driver of the engine (`orchestration.loop`) asks of it -------------------------

    def submit(self, order: Order) -> list[OrderEvent]:
        """Send `order` to the executor the engine trades through now."""
        return self.executor.submit(order)

    def adopt(self, events: Sequence[OrderEvent]) -> None:
        """Count events found outside a cycle (a reconcile at start-up) as the run's own."""
        self.events.extend(events)

    def orders(self, ids: Iterable[str]) -> list[Order]:
        """The executor's orders of these ids, as they stand now."""
        return [self.executor.orders[order_id] for order_id in ids]

    def last_mark(self) -> EquityPoint:
        """The latest (time, cash, equity) the engine marked; a cycle's settle makes one."""
        return self.equity[-1]

    def can_measure(self) -> bool:
        """Whether the run has the two marks that returns, hence `result`, need."""
        return len(self.equity) >= 2

    def settle(self, tick: Tick) -> list[OrderEvent]:
        """Move the clock to the tick, fill what its bars allow, mark, record the equity."""
        now, bars = tick.now, tick.bars
        self.clock.advance_to(now)
        events, portfolio = _settle(
            now, bars, self.executor, self.ledger, self.gate, self._borrow_rate
        )
        # The books do not change again before `decide` and `execute` of this tick: the
        # picture the gate's equity came from is the one they show the agent and size from.
        self._seen = (tick.cycle, portfolio)
        if events:
            self.events.extend(events)
        stamp = tick.equity_time or bars[0].time
        # `EquityPoint._make`'s own call, without its Python frame: one point per bar.
        self.equity.append(_new_tuple(EquityPoint, (stamp, portfolio.cash, portfolio.equity)))
        return events

    def decide(self, agent: TradingAgent, tick: Tick) -> Coroutine[Any, Any, Decision]:
        """The agent's decision on the tick, to await. Not a coroutine itself, which would put
        a second frame around the agent's on every bar; the flattening after a kill switch is
        a finished one."""
        seen = self._seen
        if seen is None or seen[0] != tick.cycle:  # a driver that did not settle this tick
            seen = self._seen = (tick.cycle, self.ledger.portfolio())
        config, gate = self.config, self.gate
        if gate.tripped_reason and config.flatten_on_kill:
            flat = Decision({s: ZERO for s in config.symbols}, rationale=gate.tripped_reason)
            return _decided(flat)
        # `Snapshot._make`'s own call, without its Python frame.
        snapshot = _new_tuple(Snapshot, (tick.now, config.symbols, self.view, seen[1]))
        return agent.decide(snapshot)

    def execute(
        self,
        agent: str,
        decision: Decision,
        tick: Tick,
        submit: Callable[[Order], list[OrderEvent]] | None = None,
    ) -> tuple[DecisionLog, list[OrderEvent]]:
        """Stop-loss and take-profit exits, then the decision, through the gate to the
        executor; `submit` may stand in for the executor's own (an idempotency guard)."""
        # The ledger has not changed since `settle`, so this is the portfolio the agent saw
        # (a driver that did not settle this tick has none: it builds one).
        seen = self._seen
        portfolio = seen[1] if seen is not None and seen[0] == tick.cycle else None
        self._seen = None
        if not self._symbols.issuperset(decision.targets):
            unknown = decision.targets.keys() - self._symbols
            raise ConfigError(f"agent targeted symbols outside the run: {sorted(unknown)!r}")
        if portfolio is None:
            portfolio = self.ledger.portfolio()
        reviews, events = self._act(decision, portfolio, tick.cycle, tick.now, submit)
        log = DecisionLog(tick.now, agent, decision, reviews)
        self.decisions.append(log)
        if events:
            self.events.extend(events)
        return log, events

    def _act(
        self,
        decision: Decision,
        portfolio: Portfolio,
        cycle: int,
        now: datetime,
        submit: Callable[[Order], list[OrderEvent]] | None,
    ) -> tuple[tuple[RiskReview, ...], list[OrderEvent]]:
        """`execute`'s orders: exits, cancels of what the decision supersedes, the proposals
        that reach its targets through the gate, submitted (by the executor without `submit`)."""
        executor, gate, config = self.executor, self.gate, self.config
        events: list[OrderEvent] = []
        exits = gate.protective_exits(portfolio) if self._stops else []
        # A crossed stop outranks the decision on that symbol this cycle; later decisions may
        # open it again: the stop limits a position's loss, it does not ban the symbol.
        exiting = {proposal.symbol for proposal, _ in exits} if exits else _NO_SYMBOLS
        for order in executor.open_orders():
            if order.symbol in decision.targets or order.symbol in exiting:
                events.extend(executor.cancel(order.id, "superseded by a newer decision"))
        if not exits and not decision.targets:  # a bar between decisions: nothing for the gate
            return (), events
        # A flat target on a flat position moves nothing (sizing would skip it): most bars of a
        # strategy out of the market. Left out here, its price is not looked up either. A held
        # position the guard band says stays inside the rebalance threshold is left out too.
        # What is left (targets and their prices) is built at its first entry: most bars have
        # none, and then no dict is made.
        held_in, view, guard = portfolio.positions, self.view, self._guard
        targets: dict[str, Decimal] | None = None
        prices: dict[str, Decimal]
        for s, w in decision.targets.items():
            if s in exiting:
                continue
            position = held_in.get(s)  # `portfolio.quantity(s)`, without a call per target
            held = ZERO if position is None else position.quantity
            if w == ZERO:
                if held == ZERO:
                    continue
                price = view.last_bar(s).close
            else:
                price = view.last_bar(s).close
                if held != ZERO and guard.skips(s, w, held, portfolio.equity, price):
                    continue
            if targets is None:
                targets, prices = {}, {}
            targets[s] = w
            prices[s] = price
        if targets is None:
            if not exits:
                return (), events
            targets, prices = {}, {}
        proposals = proposals_for_targets(
            targets, portfolio, prices, self._sizing, config.costs, config.rebalance_threshold
        )
        # Exits go through the gate too (they only reduce, so they pass), first, so that the
        # exposure they free is seen by the orders reviewed after them.
        if not exits and not proposals:
            return (), events
        reviews = gate.review([p for p, _ in exits] + proposals, portfolio, self._sizing)
        for i, (_, reason) in enumerate(exits):
            reviews[i] = replace(reviews[i], reasons=(*reviews[i].reasons, reason))
        run_id, submit = self.run_id, submit or executor.submit
        for review in reviews:
            if review.quantity == ZERO:
                continue
            proposal = review.proposal
            symbol = proposal.symbol
            # Positional, in the fields' order (keywords cost a dataclass `__init__` more):
            # id, symbol, side, quantity, type, created_at, limit_price, tag, risk_price.
            order = Order(
                OrderId.spell(run_id, cycle, symbol),
                symbol,
                proposal.side,
                review.quantity,
                OrderType.MARKET,
                now,
                None,
                "",
                proposal.reference_price,
            )
            events.extend(submit(order))
        return tuple(reviews), events

    def snapshot(self) -> dict[str, Any]:
        """The run's state as plain JSON data: what a resumed run must rebuild exactly."""
        ledger, gate = self.ledger, self.gate
        state = {
            "time": _iso(ledger.time),
            "cash": str(ledger.cash),
            "equity": str(ledger.equity()),
            "fees": str(ledger.fees),
            "borrow_costs": str(ledger.borrow_costs),
            "realized_pnl": str(ledger.realized_pnl),
            "traded_notional": str(ledger.traded_notional),
            "last_accrual": _iso(ledger.last_accrual),
            "round_trips": len(ledger.round_trips),
            "marks": {s: str(m) for s, m in sorted(ledger.marks.items())},
            "positions": {
                s: {
                    "quantity": str(p.quantity),
                    "average_price": str(p.average_price),
                    "realized_pnl": str(p.realized_pnl),
                    "fees": str(p.fees),
                    "borrow_costs": str(p.borrow_costs),
                    "trip_opened_at": _iso(p.trip_opened_at),
                    "trip_pnl": str(p.trip_pnl),
                }
                for s, p in sorted(ledger.positions.items())
            },
            "open_orders": {o.id: str(o.remaining_quantity) for o in self.executor.open_orders()},
            "peak_equity": None if gate.peak_equity is None else str(gate.peak_equity),
            "kill_switch": gate.tripped_reason,
        }
        if self.external_orders:
            del state["open_orders"]
        return state

    def result(
        self,
        agent: str,
        bars: Benchmark,
        *,
        index: pd.DatetimeIndex | None = None,
        periods_per_year: float | None = None,
        values: np.ndarray[Any, np.dtype[np.float64]] | None = None,
    ) -> ReplayResult:
        """The run so far (at least two cycles settled) with its metrics; `bars` gives the
        buy-and-hold benchmark. A caller that has them already may give the equity points'
        times as an `index`, what `compute_metrics` would infer from it, and the `values`
        (`float` of each point's equity)."""
        ledger = self.ledger
        metrics = compute_metrics(
            _equity_series(self.equity, index, values),
            benchmark=bars.benchmark(self.equity),
            periods_per_year=periods_per_year,
            closed_trades=[
                ClosedTrade(t.symbol, t.opened_at, t.closed_at, float(t.pnl))
                for t in ledger.round_trips
            ],
            traded_notional=float(ledger.traded_notional),
        )
        return ReplayResult(
            run_id=self.run_id,
            agent=agent,
            config=self.config,
            equity=list(self.equity),
            fills=[e for e in self.events if isinstance(e, OrderFilled)],
            orders=list(self.executor.orders.values()),
            decisions=list(self.decisions),
            round_trips=list(ledger.round_trips),
            events=list(self.events),
            metrics=metrics,
            final_cash=ledger.cash,
            final_equity=ledger.equity(),
            kill_switch=self.gate.tripped_reason,
        )


async def run_replay(
    agent: TradingAgent,
    catalog: Catalog,
    config: ReplayConfig,
    *,
    run_id: str,
    store: Store | None = None,
    created_at: datetime | None = None,
    progress: Progress | None = None,
    instruments: dict[str, Instrument] | None = None,
) -> ReplayResult:
    bars = ReplayBars(catalog, config)
    engine = CycleEngine(catalog, config, run_id=run_id, instruments=instruments)
    if store is not None:
        store.create_run(
            run_id,
            "backtest",
            {"agent": agent.name, **config.describe()},
            created_at or _to_datetime(bars.steps[0]),
        )
    total, name = bars.total, agent.name
    for tick in bars.ticks():
        engine.settle(tick)
        if progress is not None:
            progress(tick.cycle + 1, total)
        if tick.last:
            break
        engine.execute(name, await engine.decide(agent, tick), tick)
    # Every cycle settled, so the points are at the cycles' stamps: their index, from the
    # integers, serves the equity series and the benchmark.
    stamps = bars.stamps()
    result = engine.result(agent.name, _Stamped(bars, stamps), index=stamps)
    if store is not None:
        _persist(store, result, engine.clock.now())
    return result


@dataclass(frozen=True, slots=True)
class _Stamped:
    """`ReplayBars.benchmark` of an equity curve whose points are at `stamps`."""

    bars: ReplayBars
    stamps: pd.DatetimeIndex

    def benchmark(self, equity: Sequence[EquityPoint]) -> pd.Series:
        return self.bars.benchmark_at(self.stamps)


def settle(
    now: datetime,
    bars: Sequence[Bar],
    executor: CycleExecutor,
    ledger: Ledger,
    gate: RiskGate,
    borrow_rate: Decimal,
) -> list[OrderEvent]:
    """What happens when bars close at `now` (the clock already there): the executor fills what
    they allow, the ledger marks to their closes and accrues borrow, the gate sees the equity."""
    return _settle(now, bars, executor, ledger, gate, borrow_rate)[0]


def _settle(
    now: datetime,
    bars: Sequence[Bar],
    executor: CycleExecutor,
    ledger: Ledger,
    gate: RiskGate,
    borrow_rate: Decimal,
) -> tuple[list[OrderEvent], Portfolio]:
    """`settle`, and the portfolio whose equity the gate saw (the books do not change after):
    the one definition of the steps, for the engine on every bar and for the orders tool."""
    events = executor.process_bars(bars)
    marks = ledger.marks  # `Ledger.mark` of each bar, without a call per bar
    for bar in bars:
        marks[bar.symbol] = bar.close
    if borrow_rate:
        ledger.accrue_borrow(now, borrow_rate)
    else:  # all `accrue_borrow` does at a zero rate: the next accrual counts from now
        ledger.last_accrual = now
    ledger.time = now
    # `Ledger.equity()` is the portfolio's equity, the same sum in the same order.
    portfolio = ledger.portfolio()
    gate.observe(now, portfolio.equity)
    return events, portfolio


async def _decided(decision: Decision) -> Decision:
    return decision


def _equity_series(
    equity: Sequence[EquityPoint],
    index: pd.DatetimeIndex | None = None,
    values: np.ndarray[Any, np.dtype[np.float64]] | None = None,
) -> pd.Series:
    if index is None:
        index = pd.DatetimeIndex([t for t, _, _ in equity])
    elif len(index) != len(equity):
        raise ValueError(f"{len(index)} times for {len(equity)} equity points")
    if values is None:
        # In loops that run in C: the point's equity, then its float (a point per bar).
        values = np.fromiter(map(float, map(_EQUITY, equity)), np.float64, len(equity))
    elif len(values) != len(equity):
        raise ValueError(f"{len(values)} values for {len(equity)} equity points")
    return pd.Series(values, index=index, name="equity")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _persist(store: Store, result: ReplayResult, finished_at: datetime) -> None:
    store.save_records(
        result.run_id,
        orders=result.orders,
        fills=result.fills,
        equity=result.equity,
        decisions=_decision_columns(result.decisions),
        end=RunEnd(
            "finished",
            {
                "metrics": result.metrics.model_dump(mode="json"),
                "final_equity": str(result.final_equity),
                "kill_switch": result.kill_switch,
            },
            finished_at,
        ),
    )


def _decision_columns(logs: Sequence[DecisionLog]) -> DecisionColumns:
    """The decisions of a run as the store's columns, a field at a time in loops that run in C
    (a run logs a decision per bar). Almost every bar's decision has no reviews: one empty list
    stands for all of them (the store writes alike what is stored alike once)."""
    if not logs:
        return DecisionColumns((), (), (), (), (), ())
    times, agents, decisions, reviews = zip(*logs, strict=True)  # one pass for four fields
    no_risk: list[dict[str, Any]] = []
    risks = [no_risk] * len(logs)
    for i in compress(range(len(logs)), reviews):
        risks[i] = logs[i].risk_json()
    return DecisionColumns(
        times=times,
        agents=agents,
        targets=list(map(_TARGETS, decisions)),
        rationales=list(map(_RATIONALE, decisions)),
        risks=risks,
        abstentions=list(map(_ABSTENTIONS, decisions)),
    )


_EQUITY = itemgetter(2)  # `EquityPoint.equity`, by position as the tuple holds it
_TARGETS, _RATIONALE, _ABSTENTIONS = map(attrgetter, ("targets", "rationale", "abstentions"))
