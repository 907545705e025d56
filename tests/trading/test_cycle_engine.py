"""What a driver of a `CycleEngine` (the durable loop) asks of it, through methods: sending an
order, adopting events found at start-up, the orders as they stand and the latest mark."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tests.helpers import catalog_of, daily_series
from trading.decision import Decision
from trading.domain import Bar, EquityPoint, Instrument, Order, OrderFilled, OrderType, Side
from trading.replay import CycleEngine, ReplayBars, ReplayConfig

CATALOG = catalog_of(daily_series("SPX", opens=[100, 102, 104], closes=[101, 103, 105]))
CONFIG = ReplayConfig(symbols=("SPX",), cash=Decimal(10_000))
LOTS = {"SPX": Instrument("SPX", quantity_increment=Decimal(1))}


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
