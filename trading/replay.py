"""The replay loop: the whole decision cycle, bar by bar, over history.

At each bar close: the clock moves to it; the executor fills what earlier decisions sent (at
this bar's open, with the shared cost model); the ledger marks to the close and accrues borrow;
the risk gate sees the equity; the agent decides from a point-in-time snapshot; the gate reviews
the orders that would reach the targets; the executor accepts them for the next bar. The last
bar makes no decision, since nothing could fill it.

`ReplayBars` gives the cycles (one `Tick` per close time) and `CycleEngine` holds the run's
accounts and performs each step; `run_replay` drives them in one go, and the durable trading
loop (`orchestration.loop`) drives the same steps with a commit after every cycle.

The engine trades through the paper executor unless it is given an `ExecutorFactory`: live
paper fills on an exchange's book, or the exchange itself. Such an executor's orders live
outside the engine, so its snapshots leave open orders out (the exchange and its journal are
the record of those) and a rebuild cannot replay its fills from bars.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

import numpy as np
import pandas as pd

from trading.clock import ReplayClock
from trading.data import EARLIEST, BarSeries, Catalog, PointInTimeView
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
    equal_weight_buy_and_hold,
)
from trading.paper import PaperExecutor
from trading.replay_config import ReplayConfig as ReplayConfig  # part of the replay's interface
from trading.risk import RiskGate, RiskReview
from trading.sizing import RebalanceGuard, proposals_for_targets
from trading.storage import DecisionRow, RunEnd, Store

Progress = Callable[[int, int], None]


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


# Not frozen, as `DecisionLog`: a replay makes one per bar and a frozen one costs twice as
# much to build (0.6 against 0.3 us); nothing mutates or hashes one.
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
        return _benchmark([self.series[s] for s in self.config.symbols], equity)


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
        # The portfolio `decide` showed the agent, for `execute` on the same tick (the ledger
        # does not change between them); None once a settle may have changed it.
        self._seen: tuple[int, Portfolio] | None = None
        # Every symbol of the run with its instrument (the default where none was given), as
        # sizing and the gate would look each up per proposal.
        self._sizing = {s: self.instruments.get(s) or Instrument(s) for s in config.symbols}
        self._symbols = frozenset(config.symbols)
        self._guard = RebalanceGuard(self._sizing, config.costs, config.rebalance_threshold)

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
        self.clock.advance_to(tick.now)
        self._seen = None
        borrow_rate = self.config.costs.borrow_rate
        ledger = self.ledger
        events, equity = _settle(tick.now, tick.bars, self.executor, ledger, self.gate, borrow_rate)
        if events:
            self.events.extend(events)
        stamp = tick.equity_time or tick.bars[0].time
        self.equity.append(EquityPoint(stamp, ledger.cash, equity))
        return events

    async def decide(self, agent: TradingAgent, tick: Tick) -> Decision:
        portfolio = self.ledger.portfolio()
        self._seen = (tick.cycle, portfolio)
        config, gate = self.config, self.gate
        if gate.tripped_reason and config.flatten_on_kill:
            return Decision({s: ZERO for s in config.symbols}, rationale=gate.tripped_reason)
        return await agent.decide(Snapshot(tick.now, config.symbols, self.view, portfolio))

    def execute(
        self,
        agent: str,
        decision: Decision,
        tick: Tick,
        submit: Callable[[Order], list[OrderEvent]] | None = None,
    ) -> tuple[DecisionLog, list[OrderEvent]]:
        """Stop-loss and take-profit exits, then the decision, through the gate to the
        executor; `submit` may stand in for the executor's own (an idempotency guard)."""
        # The ledger has not changed since `decide`, so this is the portfolio the agent saw
        # (a resume executes stored decisions without asking the agent: it builds one).
        seen = self._seen
        portfolio = seen[1] if seen is not None and seen[0] == tick.cycle else None
        self._seen = None
        if not self._symbols.issuperset(decision.targets):
            unknown = decision.targets.keys() - self._symbols
            raise ConfigError(f"agent targeted symbols outside the run: {sorted(unknown)!r}")
        reviews, events = self._act(
            decision,
            portfolio or self.ledger.portfolio(),
            tick.cycle,
            tick.now,
            submit or self.executor.submit,
        )
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
        submit: Callable[[Order], list[OrderEvent]],
    ) -> tuple[tuple[RiskReview, ...], list[OrderEvent]]:
        """`execute`'s orders: exits, cancels of what the decision supersedes, the proposals
        that reach its targets through the gate, submitted."""
        executor, gate, config = self.executor, self.gate, self.config
        events: list[OrderEvent] = []
        exits = gate.protective_exits(portfolio)
        # A crossed stop outranks the decision on that symbol this cycle; later decisions may
        # open it again: the stop limits a position's loss, it does not ban the symbol.
        exiting = {proposal.symbol for proposal, _ in exits}
        for order in executor.open_orders():
            if order.symbol in decision.targets or order.symbol in exiting:
                events.extend(executor.cancel(order.id, "superseded by a newer decision"))
        if not exits and not decision.targets:  # a bar between decisions: nothing for the gate
            return (), events
        # A flat target on a flat position moves nothing (sizing would skip it): most bars of a
        # strategy out of the market. Left out here, its price is not looked up either. A held
        # position the guard band says stays inside the rebalance threshold is left out too.
        quantity, view, guard = portfolio.quantity, self.view, self._guard
        targets: dict[str, Decimal] = {}
        prices: dict[str, Decimal] = {}
        for s, w in decision.targets.items():
            if s in exiting:
                continue
            held = quantity(s)
            if w == ZERO:
                if held == ZERO:
                    continue
                prices[s] = view.last_bar(s).close
            else:
                price = prices[s] = view.last_bar(s).close
                if held != ZERO and guard.skips(s, w, held, portfolio.equity, price):
                    continue
            targets[s] = w
        if not exits and not targets:
            return (), events
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
        run_id = self.run_id
        for review in reviews:
            if review.quantity == ZERO:
                continue
            proposal = review.proposal
            order = Order(
                id=str(OrderId(run_id, cycle, proposal.symbol)),
                symbol=proposal.symbol,
                side=proposal.side,
                quantity=review.quantity,
                type=OrderType.MARKET,
                created_at=now,
                risk_price=proposal.reference_price,
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
    total = bars.total
    for cycle in range(total):
        tick = bars.tick(cycle)
        engine.settle(tick)
        if progress is not None:
            progress(cycle + 1, total)
        if tick.last:
            break
        decision = await engine.decide(agent, tick)
        engine.execute(agent.name, decision, tick)
    result = engine.result(agent.name, bars)
    if store is not None:
        _persist(store, result, engine.clock.now())
    return result


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
) -> tuple[list[OrderEvent], Decimal]:
    """`settle`, and the equity the gate saw (the books do not change after it)."""
    events = executor.process_bars(bars)
    marks = ledger.marks  # `Ledger.mark` of each bar, without a call per bar
    for bar in bars:
        marks[bar.symbol] = bar.close
    ledger.accrue_borrow(now, borrow_rate)
    ledger.time = now
    equity = ledger.equity()
    gate.observe(now, equity)
    return events, equity


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
        steps = np.unique(np.concatenate(stamps))
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


def _benchmark(series: Sequence[BarSeries], equity: Sequence[EquityPoint]) -> pd.Series:
    """Equal-weight buy and hold of the run's symbols over the bars of the equity curve
    (`trading.metrics.equal_weight_buy_and_hold`), from the first point at which every symbol
    has a close; each symbol's last close stands where it has no bar of its own."""
    times = pd.DatetimeIndex([t for t, _, _ in equity])
    rows = [s.to_frame()["close"].reindex(times, method="ffill").to_numpy() for s in series]
    closes = np.vstack(rows)
    complete = ~np.isnan(closes).any(axis=0)
    if not complete.any():
        return pd.Series([], index=pd.DatetimeIndex([]), dtype=float)
    values = equal_weight_buy_and_hold(closes[:, complete])
    return pd.Series(values, index=times[complete])


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
        values = np.array([float(v) for _, _, v in equity], dtype=np.float64)
    elif len(values) != len(equity):
        raise ValueError(f"{len(values)} values for {len(equity)} equity points")
    return pd.Series(values, index=index, name="equity")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _day_ns(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000_000


def _to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC) + timedelta(
        microseconds=(ns % 1_000_000_000) // 1_000
    )


def _persist(store: Store, result: ReplayResult, finished_at: datetime) -> None:
    # Almost every bar's decision has no reviews and no abstentions: one empty list and one
    # empty mapping stand for all of them (the store writes alike what is stored alike once).
    no_risk: list[dict[str, Any]] = []
    no_abstentions: dict[str, str] = {}
    store.save_records(
        result.run_id,
        orders=result.orders,
        fills=result.fills,
        equity=result.equity,
        decisions=[
            DecisionRow(
                d.time,
                d.agent,
                decision.targets,  # shared by decisions that share it: written out once
                decision.rationale,
                d.risk_json() if d.reviews else no_risk,
                dict(decision.abstentions) if decision.abstentions else no_abstentions,
            )
            for d in result.decisions
            for decision in (d.decision,)
        ],
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
