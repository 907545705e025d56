"""The replay loop: the whole decision cycle, bar by bar, over history.

At each bar close: the clock moves to it; the executor fills what earlier decisions sent (at
this bar's open, with the shared cost model); the ledger marks to the close and accrues borrow;
the risk gate sees the equity; the agent decides from a point-in-time snapshot; the gate reviews
the orders that would reach the targets; the executor accepts them for the next bar. The last
bar makes no decision, since nothing could fill it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from trading.clock import ReplayClock
from trading.costs import CostModel
from trading.data import BarSeries, Catalog, PointInTimeView
from trading.decision import Decision, Snapshot, TradingAgent
from trading.domain import ZERO, Bar, Instrument, Order, OrderEvent, OrderFilled, OrderType
from trading.errors import ConfigError
from trading.ledger import Ledger, MarginSettings, Portfolio, RoundTrip
from trading.metrics import ClosedTrade, PerformanceMetrics, compute_metrics
from trading.paper import PaperExecutor
from trading.risk import RiskGate, RiskLimits, RiskReview
from trading.sizing import proposals_for_targets
from trading.storage import Store

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    symbols: tuple[str, ...]
    start: date | None = None
    end: date | None = None
    cash: Decimal = Decimal(100_000)
    costs: CostModel = field(default_factory=CostModel)
    limits: RiskLimits = field(default_factory=RiskLimits)
    margin: MarginSettings = field(default_factory=MarginSettings)
    rebalance_threshold: Decimal = Decimal("0.02")
    flatten_on_kill: bool = True

    def describe(self) -> dict[str, Any]:
        return {
            "symbols": list(self.symbols),
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "cash": str(self.cash),
            "costs": self.costs.model_dump(mode="json"),
            "limits": self.limits.model_dump(mode="json"),
            "margin": {
                "allow_shorting": self.margin.allow_shorting,
                "short_margin": str(self.margin.short_margin),
                "max_cash_borrow": str(self.margin.max_cash_borrow),
            },
            "rebalance_threshold": str(self.rebalance_threshold),
            "flatten_on_kill": self.flatten_on_kill,
        }


@dataclass(frozen=True, slots=True)
class DecisionLog:
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


@dataclass(slots=True)
class ReplayResult:
    run_id: str
    agent: str
    config: ReplayConfig
    equity: list[tuple[datetime, Decimal, Decimal]]
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
    series = {symbol: catalog.load(symbol) for symbol in config.symbols}
    steps = _timeline(series, config)
    first = min(steps)
    clock = ReplayClock(datetime.fromtimestamp(0, UTC))
    view = PointInTimeView(catalog, clock)
    ledger = Ledger(cash=config.cash, margin=config.margin)
    instruments = instruments or {}
    executor = PaperExecutor(ledger, view, clock, config.costs, instruments)
    gate = RiskGate(config.limits)
    if store is not None:
        store.create_run(
            run_id,
            "backtest",
            {"agent": agent.name, **config.describe()},
            created_at or _to_datetime(first),
        )

    equity: list[tuple[datetime, Decimal, Decimal]] = []
    decisions: list[DecisionLog] = []
    events: list[OrderEvent] = []
    total = len(steps)
    # Which bar of each symbol closes at each step (-1: none), found once for the whole run.
    positions = {s: _bar_positions(series[s], steps) for s in config.symbols}
    for cycle, close_ns in enumerate(steps):
        now = _to_datetime(close_ns)
        clock.advance_to(now)
        bars = [
            series[s].bar(positions[s][cycle]) for s in config.symbols if positions[s][cycle] >= 0
        ]
        events.extend(settle(now, bars, executor, ledger, gate, config.costs.borrow_rate))
        value = ledger.equity()
        equity.append((bars[0].time, ledger.cash, value))
        if progress is not None:
            progress(cycle + 1, total)
        if cycle == total - 1:
            break
        portfolio = ledger.portfolio()
        decision = await _decide(agent, portfolio, view, config, gate, now)
        reviews = _execute(
            decision, portfolio, view, executor, gate, config, instruments, run_id, cycle, now
        )
        events.extend(reviews[1])
        decisions.append(DecisionLog(now, agent.name, decision, reviews[0]))

    fills = [e for e in events if isinstance(e, OrderFilled)]
    metrics = compute_metrics(
        _equity_series(equity),
        benchmark=_benchmark(series[config.symbols[0]], equity),
        closed_trades=[
            ClosedTrade(t.symbol, t.opened_at, t.closed_at, float(t.pnl))
            for t in ledger.round_trips
        ],
        traded_notional=float(ledger.traded_notional),
    )
    result = ReplayResult(
        run_id=run_id,
        agent=agent.name,
        config=config,
        equity=equity,
        fills=fills,
        orders=list(executor.orders.values()),
        decisions=decisions,
        round_trips=list(ledger.round_trips),
        events=events,
        metrics=metrics,
        final_cash=ledger.cash,
        final_equity=ledger.equity(),
        kill_switch=gate.tripped_reason,
    )
    if store is not None:
        _persist(store, result, clock.now())
    return result


def settle(
    now: datetime,
    bars: Sequence[Bar],
    executor: PaperExecutor,
    ledger: Ledger,
    gate: RiskGate,
    borrow_rate: Decimal,
) -> list[OrderEvent]:
    """What happens when bars close at `now` (the clock already there): the executor fills what
    they allow, the ledger marks to their closes and accrues borrow, the gate sees the equity."""
    events: list[OrderEvent] = []
    for bar in bars:
        events.extend(executor.process_bar(bar))
        ledger.mark(bar.symbol, bar.close)
    ledger.accrue_borrow(now, borrow_rate)
    ledger.time = now
    gate.observe(now, ledger.equity())
    return events


async def _decide(
    agent: TradingAgent,
    portfolio: Portfolio,
    view: PointInTimeView,
    config: ReplayConfig,
    gate: RiskGate,
    now: datetime,
) -> Decision:
    if gate.tripped and config.flatten_on_kill:
        return Decision({s: ZERO for s in config.symbols}, rationale=gate.tripped_reason)
    snapshot = Snapshot(now, config.symbols, view, portfolio)
    return await agent.decide(snapshot)


def _execute(
    decision: Decision,
    portfolio: Portfolio,
    view: PointInTimeView,
    executor: PaperExecutor,
    gate: RiskGate,
    config: ReplayConfig,
    instruments: dict[str, Instrument],
    run_id: str,
    cycle: int,
    now: datetime,
) -> tuple[tuple[RiskReview, ...], list[OrderEvent]]:
    events: list[OrderEvent] = []
    unknown = set(decision.targets) - set(config.symbols)
    if unknown:
        raise ConfigError(f"agent targeted symbols outside the run: {sorted(unknown)!r}")
    for order in executor.open_orders():
        if order.symbol in decision.targets:
            events.extend(executor.cancel(order.id, "superseded by a newer decision"))
    prices = {s: view.last_bar(s).close for s in decision.targets}
    proposals = proposals_for_targets(
        decision.targets, portfolio, prices, instruments, config.costs, config.rebalance_threshold
    )
    reviews = tuple(gate.review(proposals, portfolio, instruments))
    for review in reviews:
        if review.quantity == ZERO:
            continue
        proposal = review.proposal
        # (run, cycle, symbol) names the order, so a resumed run can never send it twice.
        order = Order(
            id=f"{run_id}-{cycle}-{proposal.symbol}",
            symbol=proposal.symbol,
            side=proposal.side,
            quantity=review.quantity,
            type=OrderType.MARKET,
            created_at=now,
        )
        events.extend(executor.submit(order))
    return reviews, events


def _timeline(series: dict[str, BarSeries], config: ReplayConfig) -> list[int]:
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
                f"no {symbol} bars between {config.start} and {config.end}; "
                f"{symbol} has data from {bars.first_time.date()} to {bars.last_time.date()}"
            )
        stamps.append(bars.close_times[mask])
    steps = [int(t) for t in np.unique(np.concatenate(stamps))]
    if len(steps) < 2:
        raise ConfigError(
            f"the window {config.start} to {config.end} holds {len(steps)} bar; a replay needs "
            "at least two (a decision and a fill)"
        )
    return steps


def _bar_positions(series: BarSeries, steps: list[int]) -> list[int]:
    wanted = np.asarray(steps, dtype=np.int64)
    index = np.searchsorted(series.close_times, wanted)
    inside = index < len(series)
    found = np.zeros(len(wanted), dtype=bool)
    found[inside] = series.close_times[index[inside]] == wanted[inside]
    return [int(i) if hit else -1 for i, hit in zip(index, found, strict=True)]


def _benchmark(series: BarSeries, equity: Sequence[tuple[datetime, Decimal, Decimal]]) -> pd.Series:
    """Buy and hold of the symbol: its closes over the same bars as the equity curve."""
    closes = series.to_frame()["close"]
    return closes.reindex(pd.DatetimeIndex([t for t, _, _ in equity])).dropna()


def _equity_series(equity: Sequence[tuple[datetime, Decimal, Decimal]]) -> pd.Series:
    index = pd.DatetimeIndex([t for t, _, _ in equity])
    return pd.Series([float(v) for _, _, v in equity], index=index, name="equity")


def _day_ns(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000_000


def _to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC) + timedelta(
        microseconds=(ns % 1_000_000_000) // 1_000
    )


def _persist(store: Store, result: ReplayResult, finished_at: datetime) -> None:
    store.save_records(
        result.run_id,
        orders=result.orders,
        fills=result.fills,
        equity=result.equity,
        decisions=[
            (
                d.time,
                d.agent,
                dict(d.decision.targets),
                d.decision.rationale,
                d.risk_json(),
                dict(d.decision.abstentions),
            )
            for d in result.decisions
        ],
    )
    store.finish_run(
        result.run_id,
        "finished",
        {
            "metrics": result.metrics.model_dump(mode="json"),
            "final_equity": str(result.final_equity),
            "kill_switch": result.kill_switch,
        },
        finished_at,
    )
