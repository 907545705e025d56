"""The paper executor: next-open market fills, crossing limit fills, caps, cash, fees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.helpers import catalog_of, daily_series
from trading.clock import ReplayClock
from trading.costs import CostModel
from trading.data import BarSeries, PointInTimeView
from trading.domain import (
    Instrument,
    Liquidity,
    Order,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderType,
    Side,
)
from trading.ids import TradeId
from trading.ledger import Ledger
from trading.paper import PaperExecutor
from trading.risk import RiskGate, RiskLimits

DAY0 = datetime(2020, 1, 1, tzinfo=UTC)


class Harness:
    def __init__(
        self,
        series: BarSeries,
        cash: str = "10000",
        costs: CostModel | None = None,
        lot: str = "1",
    ) -> None:
        self.series = series
        self.clock = ReplayClock(DAY0 + timedelta(days=1))  # bar 0 has closed
        self.ledger = Ledger(cash=Decimal(cash))
        view = PointInTimeView(catalog_of(series), self.clock)
        lots = {series.symbol: Instrument(series.symbol, quantity_increment=Decimal(lot))}
        self.executor = PaperExecutor(self.ledger, view, self.clock, costs or CostModel(), lots)
        self._ids = 0

    def order(
        self, side: Side, quantity: int, limit: str | None = None, risk_price: str | None = None
    ) -> Order:
        """Submit an order: a limit order at `limit`, else a market order; `risk_price` is the
        price the risk gate reviews it at."""
        self._ids += 1
        order = Order(
            f"o{self._ids}",
            self.series.symbol,
            side,
            Decimal(quantity),
            OrderType.LIMIT if limit else OrderType.MARKET,
            self.clock.now(),
            limit_price=Decimal(limit) if limit else None,
            risk_price=Decimal(risk_price) if risk_price else None,
        )
        self.executor.submit(order)
        return order

    def next_bar(self) -> list[object]:
        """Move the clock to the close of the next bar and let the executor see it."""
        index = int((self.clock.now() - DAY0) / timedelta(days=1))
        self.clock.advance_to(DAY0 + timedelta(days=index + 1))
        return list(self.executor.process_bars([self.series.bar(index)]))


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[object]:
    """One entry per call of `owner.name` from now on; the method still runs."""
    calls: list[object] = []
    method = getattr(owner, name)

    def counted(self: object, *args: Any) -> Any:
        calls.append(args)
        return method(self, *args)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_market_order_decided_on_a_bar_fills_at_the_next_open() -> None:
    h = Harness(daily_series("SPX", opens=[100, 104, 108], closes=[101, 107, 109]))
    order = h.order(Side.BUY, 10)
    [fill] = h.next_bar()
    assert isinstance(fill, OrderFilled)
    assert (fill.price, fill.quantity, fill.time) == (Decimal(104), 10, DAY0 + timedelta(days=1))
    assert order.status is OrderStatus.FILLED
    assert h.ledger.cash == Decimal(10_000 - 1040)


def test_a_paper_fill_is_keyed_by_a_trade_id_naming_its_order() -> None:
    h = Harness(daily_series("SPX", opens=[100, 104, 108], closes=[101, 107, 109]))
    order = h.order(Side.BUY, 10)
    [fill] = h.next_bar()
    assert isinstance(fill, OrderFilled)
    assert TradeId.parse(fill.trade_id) == TradeId(order.id, "2")  # submitted, accepted, filled


def test_costs_are_taker_fee_and_half_spread() -> None:
    costs = CostModel(taker_fee_bps=Decimal(10), half_spread_bps=Decimal(5))
    h = Harness(daily_series("SPX", opens=[100, 100, 100]), costs=costs)
    h.order(Side.BUY, 10)
    [fill] = h.next_bar()
    assert fill.price == Decimal("100.05")
    assert fill.fee == Decimal("1.0005")  # 10 bps of 1000.50
    assert fill.liquidity is Liquidity.TAKER


def test_buy_limit_fills_at_the_limit_when_the_low_crosses_and_pays_maker_fee() -> None:
    costs = CostModel(taker_fee_bps=Decimal(10), maker_fee_bps=Decimal(2))
    series = daily_series("SPX", opens=[100, 100, 99], closes=[100, 99, 99], lows=[100, 98, 97])
    h = Harness(series, costs=costs)
    h.order(Side.BUY, 10, limit="98.50")
    [fill] = h.next_bar()
    assert (fill.price, fill.liquidity) == (Decimal("98.50"), Liquidity.MAKER)
    assert fill.fee == Decimal("0.197")


def test_limit_order_opened_through_fills_at_the_better_open() -> None:
    series = daily_series("SPX", opens=[100, 95, 95], closes=[100, 96, 95])
    h = Harness(series)
    h.order(Side.BUY, 10, limit="98")
    [fill] = h.next_bar()
    assert (fill.price, fill.liquidity) == (Decimal(95), Liquidity.TAKER)


def test_limit_order_that_is_not_crossed_keeps_working() -> None:
    series = daily_series(
        "SPX", opens=[100, 100, 100, 96], closes=[100, 100, 99, 97], lows=[100, 99, 98.5, 96]
    )
    h = Harness(series)
    order = h.order(Side.BUY, 10, limit="97")
    assert h.next_bar() == []
    assert h.next_bar() == []
    assert order.status is OrderStatus.ACCEPTED
    [fill] = h.next_bar()
    assert fill.price == Decimal(96)


def test_order_over_the_participation_cap_fills_partially_and_the_rest_is_canceled() -> None:
    volumes = [1000.0] * 4
    h = Harness(
        daily_series("SPX", opens=[10] * 4, volumes=volumes),
        cash="100000",
        costs=CostModel(participation_cap=Decimal("0.1")),
    )
    h.clock.advance_to(DAY0 + timedelta(days=3))  # three bars of history for the average
    order = h.order(Side.BUY, 250)
    fill, canceled = h.next_bar()
    assert isinstance(fill, OrderFilled)
    assert fill.quantity == 100  # 10% of the 1000 average volume
    assert isinstance(canceled, OrderCanceled)
    assert "participation cap" in canceled.reason
    assert order.status is OrderStatus.CANCELED
    assert order.filled_quantity == 100


def test_order_the_cash_cannot_pay_for_is_rejected_with_the_reason() -> None:
    h = Harness(daily_series("SPX", opens=[100, 100]), cash="500")
    order = h.order(Side.BUY, 10)
    assert order.status is OrderStatus.REJECTED
    assert order.reason.startswith("insufficient cash")
    assert isinstance(order.events[-1], OrderRejected)


def test_a_gap_up_fills_what_the_cash_pays_for_and_cancels_the_rest() -> None:
    h = Harness(daily_series("SPX", opens=[100, 125], closes=[100, 125]), cash="1000")
    order = h.order(Side.BUY, 10)  # affordable at the 100 close, not at the 125 open
    fill, canceled = h.next_bar()
    assert fill.quantity == 8
    assert "insufficient cash" in canceled.reason
    assert h.ledger.cash == Decimal(0)
    assert order.status is OrderStatus.CANCELED


def test_a_gap_up_in_fine_lots_fills_the_most_lots_the_cash_pays_for_in_a_few_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    costs = CostModel(taker_fee_bps=Decimal(10), min_commission=Decimal(5))
    series = daily_series("SPX", opens=[100, 125], closes=[100, 125])
    h = Harness(series, cash="1000", costs=costs, lot="0.0001")
    h.order(Side.BUY, 9)  # 9 x 100 + fees is affordable at the close, not at the 125 open
    checks = count_calls(monkeypatch, Ledger, "refusal")
    fill, _ = h.next_bar()
    # 125 x q x 1.001 + the 5 minimum <= 1000: the largest such q in 0.0001 lots.
    lots = int(Decimal(995) / Decimal("125.125") / Decimal("0.0001"))
    assert fill.quantity == lots * Decimal("0.0001") == Decimal("7.9520")
    assert h.ledger.cash >= 0
    # The whole order, then where the cash runs out and its neighbour, then the booking of
    # the lots found: not a bisection over all 90,000 lots (~17 checks).
    assert len(checks) <= 4


def test_a_fill_prices_its_fee_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The cash share, the ledger's check and the fill itself all want the same fee.
    costs = CostModel(taker_fee_bps=Decimal(10))
    h = Harness(daily_series("SPX", opens=[100, 104], closes=[100, 104]), costs=costs)
    h.order(Side.BUY, 10)
    priced = count_calls(monkeypatch, CostModel, "fee")
    [fill] = h.next_bar()
    assert isinstance(fill, OrderFilled)
    assert fill.fee == Decimal("1.04")  # 10 bps of 10 x 104
    assert len(priced) == 1


def test_a_fill_asks_the_ledger_whether_it_can_pay_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The executor's own check found the fill payable; booking it need not ask again.
    h = Harness(daily_series("SPX", opens=[100, 104], closes=[100, 104]))
    h.order(Side.BUY, 10)
    asked = count_calls(monkeypatch, Ledger, "refusal")
    [fill] = h.next_bar()
    assert isinstance(fill, OrderFilled)
    assert fill.trade_id == f"{fill.order_id}:2"
    assert len(asked) == 1
    assert h.ledger.cash == Decimal(10_000 - 1040)


def test_minimum_commission_applies_once_per_order_across_partial_fills() -> None:
    costs = CostModel(
        min_commission=Decimal(5),
        commission_per_share=Decimal("0.01"),
        participation_cap=Decimal("0.1"),
    )
    series = daily_series("SPX", opens=[10] * 5, volumes=[1000.0] * 5)
    h = Harness(series, cash="100000", costs=costs)
    order = h.order(Side.BUY, 250, limit="10")  # a limit order keeps working past the cap
    fills = [event for _ in range(3) for event in h.next_bar()]
    assert [f.quantity for f in fills] == [100, 100, 50]
    assert order.status is OrderStatus.FILLED
    assert [f.fee for f in fills] == [Decimal(5), Decimal(0), Decimal(0)]  # 2.50 < 5 minimum
    assert order.fees == Decimal(5)


def test_resubmitting_the_same_order_id_sends_nothing() -> None:
    h = Harness(daily_series("SPX", opens=[100, 100]))
    order = h.order(Side.BUY, 1)
    assert h.executor.submit(order) == []
    assert len(h.executor.open_orders()) == 1


def gated(h: Harness, limits: RiskLimits) -> RiskGate:
    gate = RiskGate(limits)
    h.executor.gate = gate
    return gate


def test_a_fill_above_the_reviewed_price_is_reviewed_again_at_its_own_price() -> None:
    # Approved for 10 at the close of 100 under a 1,000 notional cap; the next bar opens at 125.
    h = Harness(daily_series("SPX", opens=[100, 125, 125], closes=[100, 125, 125]))
    gated(h, RiskLimits(max_order_notional=Decimal(1000)))
    order = h.order(Side.BUY, 10, risk_price="100")
    fill, canceled = h.next_bar()
    assert isinstance(fill, OrderFilled)
    assert fill.quantity == 8  # 1,000 / 125
    assert isinstance(canceled, OrderCanceled)
    assert "risk gate at fill" in canceled.reason
    assert "order notional capped at 1000" in canceled.reason
    assert order.status is OrderStatus.CANCELED
    assert h.ledger.quantity("SPX") == 8


def test_a_fill_at_or_below_the_reviewed_price_keeps_its_approval() -> None:
    h = Harness(daily_series("SPX", opens=[100, 100, 100], closes=[100, 100, 100]))
    gated(h, RiskLimits(max_order_notional=Decimal(1000)))
    h.order(Side.BUY, 10, risk_price="100")
    [fill] = h.next_bar()
    assert isinstance(fill, OrderFilled)
    assert fill.quantity == 10


def test_a_fill_that_keeps_its_approval_builds_no_portfolio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The gate would allow the whole fill without looking: nothing to build the picture for.
    h = Harness(daily_series("SPX", opens=[100, 100, 100], closes=[100, 100, 100]))
    gated(h, RiskLimits(max_order_notional=Decimal(1000)))
    h.order(Side.BUY, 10, risk_price="100")
    built = count_calls(monkeypatch, Ledger, "portfolio")
    [fill] = h.next_bar()
    assert isinstance(fill, OrderFilled)
    assert fill.quantity == 10
    assert len(built) == 0


def test_a_short_that_gaps_up_is_capped_at_the_weight_limit_at_fill() -> None:
    h = Harness(daily_series("SPX", opens=[100, 150, 150], closes=[100, 150, 150]))
    gated(h, RiskLimits(max_position_weight=Decimal("0.5")))
    h.order(Side.SELL, 50, risk_price="100")  # half of 10,000 at 100
    fill, _ = h.next_bar()
    assert isinstance(fill, OrderFilled)
    assert fill.quantity == 33  # 0.5 x 10,000 / 150, in whole lots


def test_a_limit_order_that_rested_is_reviewed_again_when_it_fills() -> None:
    # Short 40 at 100 on 10,000 under a weight cap of 0.5; a sell limit at 110 for 5 more was
    # within the cap when placed (45 x 110 <= 0.5 x 10,000). While it waits the price climbs to
    # a close of 109, and the short has cost 360 of equity: at 110 only 3 more fit
    # (43 x 110 <= 0.5 x 9,640 < 44 x 110).
    h = Harness(daily_series("SPX", opens=[100, 100, 105, 110], closes=[100, 100, 109, 110]))
    gated(h, RiskLimits(max_position_weight=Decimal("0.5")))
    h.order(Side.SELL, 40, risk_price="100")
    h.next_bar()
    h._ids += 1
    limit = Order(
        f"o{h._ids}",
        "SPX",
        Side.SELL,
        Decimal(5),
        OrderType.LIMIT,
        h.clock.now(),
        limit_price=Decimal(110),
        risk_price=Decimal(110),
    )
    h.executor.submit(limit)
    assert h.next_bar() == []  # a high of 109: not reached, the order rests
    h.ledger.mark("SPX", Decimal(109))
    fill, canceled = h.next_bar()
    assert isinstance(fill, OrderFilled)
    assert (fill.price, fill.quantity) == (Decimal(110), 3)
    assert isinstance(canceled, OrderCanceled)
    assert "rested since it was reviewed at 110" in canceled.reason


def test_buys_filling_together_share_the_cash_whatever_order_they_were_sent_in() -> None:
    # 50 + 50 units decided at a close of 100 on 10,000; both symbols open at 125, so the cash
    # pays for 80 units. Each gets 40, whichever was sent first.
    outcomes = []
    for first, second in (("AAA", "BBB"), ("BBB", "AAA")):
        a = daily_series("AAA", opens=[100, 125], closes=[100, 125])
        b = daily_series("BBB", opens=[100, 125], closes=[100, 125])
        clock = ReplayClock(DAY0 + timedelta(days=1))
        ledger = Ledger(cash=Decimal(10_000))
        lots = {s: Instrument(s, quantity_increment=Decimal(1)) for s in ("AAA", "BBB")}
        executor = PaperExecutor(
            ledger, PointInTimeView(catalog_of(a, b), clock), clock, CostModel(), lots
        )
        for n, symbol in enumerate((first, second)):
            executor.submit(
                Order(f"o{n}", symbol, Side.BUY, Decimal(50), OrderType.MARKET, clock.now())
            )
        clock.advance_to(DAY0 + timedelta(days=2))
        bars = [a.bar(1), b.bar(1)] if first == "AAA" else [b.bar(1), a.bar(1)]
        events = executor.process_bars(bars)
        fills = {e.symbol: e.quantity for e in events if isinstance(e, OrderFilled)}
        cuts = [e.reason for e in events if isinstance(e, OrderCanceled)]
        outcomes.append((fills, ledger.cash))
        assert fills == {"AAA": 40, "BBB": 40}
        assert all("cash shared among 2 buys" in reason for reason in cuts)
    assert outcomes[0] == outcomes[1]
