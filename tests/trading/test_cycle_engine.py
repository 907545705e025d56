"""What a driver of a `CycleEngine` (the durable loop) asks of it, through methods: sending an
order, adopting events found at start-up, the orders as they stand and the latest mark."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from agents.quant import build_quant_agent
from tests.helpers import catalog_of, daily_series
from trading.costs import CostModel
from trading.data import Catalog
from trading.decision import Decision, Snapshot
from trading.domain import ZERO, Bar, EquityPoint, Instrument, Order, OrderFilled, OrderType, Side
from trading.ledger import MarginSettings, Portfolio
from trading.replay import CycleEngine, ReplayBars, ReplayConfig, settle

CATALOG = catalog_of(daily_series("SPX", opens=[100, 102, 104], closes=[101, 103, 105]))
CONFIG = ReplayConfig(symbols=("SPX",), cash=Decimal(10_000))
LOTS = {"SPX": Instrument("SPX", quantity_increment=Decimal(1))}
BUNDLED = Catalog.default()


def test_a_driver_trades_and_reads_the_engine_through_its_methods() -> None:
    engine = CycleEngine(CATALOG, CONFIG, run_id="r", instruments=LOTS)
    bars = ReplayBars(CATALOG, CONFIG)
    first = bars.tick(0)
    engine.settle(first)
    assert not engine.can_measure()
    assert engine.last_mark() == EquityPoint(
        time=first.bars[0].time, cash=Decimal(10_000), equity=Decimal(10_000)
    )
    order = Order("r-0-SPX", "SPX", Side.BUY, Decimal(10), OrderType.MARKET, first.now)
    engine.submit(order)
    [fill] = [e for e in engine.settle(bars.tick(1)) if isinstance(e, OrderFilled)]
    assert engine.can_measure()
    assert engine.orders(["r-0-SPX"]) == [order]
    assert engine.last_mark().cash == Decimal(10_000) - fill.quantity * fill.price - fill.fee
    found = OrderFilled(
        "elsewhere", datetime(2020, 1, 2, tzinfo=UTC), "x:1", "SPX", Side.BUY,
        Decimal(1), Decimal(1), Decimal(0), fill.liquidity,
    )  # fmt: skip
    engine.adopt([found])
    assert engine.result("agent", bars).fills[-1] == found


async def test_a_flat_target_on_a_flat_account_is_a_quiet_bar() -> None:
    # Most bars of a strategy out of the market: nothing to size, so no price is looked up
    # and the gate sees nothing; a flat target on a held position still sells it.
    engine = CycleEngine(CATALOG, CONFIG, run_id="r", instruments=LOTS)
    bars = ReplayBars(CATALOG, CONFIG)
    looked_up: list[str] = []
    last_bar = engine.view.last_bar

    def counting(symbol: str) -> Bar:
        looked_up.append(symbol)
        return last_bar(symbol)

    engine.view.last_bar = counting  # type: ignore[method-assign]
    tick = bars.tick(0)
    engine.settle(tick)
    log, events = engine.execute("a", Decision({"SPX": Decimal(0)}), tick)
    assert (log.reviews, events, looked_up) == ((), [], [])
    engine.execute("a", Decision({"SPX": Decimal(1)}), tick)
    engine.settle(bars.tick(1))
    assert engine.ledger.quantity("SPX") > 0
    log, _ = engine.execute("a", Decision({"SPX": Decimal(0)}), bars.tick(1))
    assert [r.proposal.side for r in log.reviews] == [Side.SELL]
    assert set(looked_up) == {"SPX"}  # sizing the trades (and the executor) looked it up


async def test_the_agent_sees_and_execute_sizes_from_the_books_as_settle_left_them() -> None:
    # `settle` builds the cycle's portfolio once; `decide` shows it and `execute` sizes from it.
    # Each must be the portfolio the ledger gives at that moment, fills of the tick included.
    class Checking:
        name = "checking"

        def __init__(self, engine: CycleEngine) -> None:
            self.engine = engine
            self.seen: list[Portfolio] = []

        async def decide(self, snapshot: Snapshot) -> Decision:
            assert snapshot.portfolio == self.engine.ledger.portfolio()
            self.seen.append(snapshot.portfolio)
            # In, out and in again: fills on the ticks that settle them.
            return Decision({"SPX": Decimal(len(self.seen) % 2)})

    prices = [100, 102, 104, 103, 101]
    catalog = catalog_of(daily_series("SPX", opens=prices, closes=[p + 1 for p in prices]))
    engine = CycleEngine(catalog, CONFIG, run_id="r", instruments=LOTS)
    bars = ReplayBars(catalog, CONFIG)
    agent = Checking(engine)
    sized: list[Portfolio] = []
    sizing = engine._act

    def recording(decision: Decision, portfolio: Portfolio, *rest: Any) -> Any:
        assert portfolio == engine.ledger.portfolio()
        sized.append(portfolio)
        return sizing(decision, portfolio, *rest)

    engine._act = recording  # type: ignore[method-assign]
    for cycle in range(bars.total):
        tick = bars.tick(cycle)
        engine.settle(tick)
        mark = engine.last_mark()
        assert (mark.cash, mark.equity) == (engine.ledger.cash, engine.ledger.equity())
        if not tick.last:
            engine.execute(agent.name, await engine.decide(agent, tick), tick)
    assert [p is s for p, s in zip(agent.seen, sized, strict=True)] == [True] * 4
    assert ZERO in {p.quantity("SPX") for p in agent.seen[1:]} != {ZERO}  # it traded


async def test_the_engines_settle_and_the_orders_tools_do_the_same_to_the_books() -> None:
    # `CycleEngine.settle` and the orders tool's `settle` share their steps (`_settle`); the
    # engine adds the clock, its events and its equity points. Two engines, one settled each
    # way, the same decisions executed on both: every bar's events and books are equal,
    # shorts, borrow, fills and the gate's peak included.
    config = ReplayConfig(
        symbols=("SPX", "IXIC"),
        start=date(2011, 1, 1),
        end=date(2011, 12, 31),
        costs=CostModel(taker_fee_bps=Decimal("1.5"), borrow_rate=Decimal("0.03")),
        margin=MarginSettings(allow_shorting=True),
    )
    agent = build_quant_agent("mean_reversion", {"allow_short": True})
    inline, stepwise = (CycleEngine(BUNDLED, config, run_id="r") for _ in range(2))
    bars = ReplayBars(BUNDLED, config)
    filled = 0
    for tick in bars.ticks():
        events = inline.settle(tick)
        stepwise.clock.advance_to(tick.now)
        borrow = config.costs.borrow_rate
        parts = (stepwise.executor, stepwise.ledger, stepwise.gate, borrow)
        assert settle(tick.now, tick.bars, *parts) == events
        assert stepwise.snapshot() == inline.snapshot()
        filled += sum(isinstance(e, OrderFilled) for e in events)
        if tick.last:
            break
        decision = await inline.decide(agent, tick)
        inline.execute(agent.name, decision, tick)
        stepwise.execute(agent.name, decision, tick)
    assert filled > 10
    assert inline.ledger.borrow_costs > ZERO
