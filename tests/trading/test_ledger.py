"""The ledger: average cost, realised and unrealised PnL, fees, shorts as liabilities, cash."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.trading.fills import spx_buy
from trading.domain import (
    Liquidity,
    Order,
    OrderAccepted,
    OrderFilled,
    OrderSubmitted,
    OrderType,
    Side,
)
from trading.errors import FatalError, InsufficientFundsError, InvalidFillError
from trading.ledger import Ledger, MarginSettings, book_fill

T0 = datetime(2020, 1, 2, tzinfo=UTC)
_counter = iter(range(10**9))


def fill(
    side: Side,
    quantity: str | Decimal,
    price: str | Decimal,
    fee: str | Decimal = "0",
    symbol: str = "SPX",
    time: datetime = T0,
) -> OrderFilled:
    n = next(_counter)
    return OrderFilled(
        order_id=f"o{n}",
        time=time,
        trade_id=f"t{n}",
        symbol=symbol,
        side=side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        liquidity=Liquidity.TAKER,
    )


def test_buying_moves_cash_into_the_position_at_average_cost() -> None:
    ledger = Ledger(cash=Decimal(10_000))
    ledger.apply_fill(fill(Side.BUY, "10", "100", fee="1"))
    ledger.apply_fill(fill(Side.BUY, "30", "120", fee="2"))
    position = ledger.positions["SPX"]
    assert ledger.cash == Decimal(10_000) - 1000 - 1 - 3600 - 2
    assert position.quantity == 40
    assert position.average_price == Decimal(115)  # (10*100 + 30*120) / 40


def test_selling_part_realises_pnl_against_average_cost() -> None:
    ledger = Ledger(cash=Decimal(10_000))
    ledger.apply_fill(fill(Side.BUY, "40", "115"))
    ledger.apply_fill(fill(Side.SELL, "10", "130", fee="1"))
    assert ledger.realized_pnl == Decimal(150)  # 10 * (130 - 115)
    assert ledger.positions["SPX"].average_price == Decimal(115)
    ledger.mark("SPX", Decimal(110))
    assert ledger.portfolio().positions["SPX"].unrealized_pnl == Decimal(-150)  # 30 * (110-115)


def test_open_and_close_at_the_same_price_loses_exactly_the_fees() -> None:
    ledger = Ledger(cash=Decimal(1000))
    ledger.apply_fill(fill(Side.BUY, "3", "100", fee="0.30"))
    ledger.apply_fill(fill(Side.SELL, "3", "100", fee="0.30"))
    assert ledger.cash == Decimal("999.40")
    assert ledger.round_trips[0].pnl == Decimal("-0.60")


def test_short_then_cover_at_same_price_returns_cash_minus_fees() -> None:
    ledger = Ledger(cash=Decimal(1000))
    ledger.apply_fill(fill(Side.SELL, "5", "100", fee="1"))
    assert ledger.cash == Decimal(1499)  # proceeds are credited ...
    ledger.mark("SPX", Decimal(100))
    assert ledger.equity() == Decimal(999)  # ... and the short is a liability of 500
    ledger.apply_fill(fill(Side.BUY, "5", "100", fee="1"))
    assert ledger.cash == Decimal(998)
    assert ledger.positions["SPX"].quantity == 0


def test_short_gains_when_price_falls() -> None:
    ledger = Ledger(cash=Decimal(1000))
    ledger.apply_fill(fill(Side.SELL, "5", "100"))
    ledger.apply_fill(fill(Side.BUY, "5", "80"))
    assert ledger.cash == Decimal(1100)
    assert ledger.realized_pnl == Decimal(100)


def test_a_fill_through_zero_flips_the_position_at_the_fill_price() -> None:
    ledger = Ledger(cash=Decimal(1000))
    ledger.apply_fill(fill(Side.BUY, "2", "100"))
    ledger.apply_fill(fill(Side.SELL, "5", "110", fee="5"))
    position = ledger.positions["SPX"]
    assert position.quantity == -3
    assert position.average_price == Decimal(110)
    assert ledger.realized_pnl == Decimal(20)
    # The closing trip carries 2/5 of the fee; the new short carries the rest.
    assert ledger.round_trips[0].pnl == Decimal(18)
    assert position.trip_pnl == Decimal(-3)


def test_an_order_the_cash_cannot_pay_for_is_refused_with_the_reason() -> None:
    ledger = Ledger(cash=Decimal(1000))
    reason = ledger.refusal("SPX", Side.BUY, Decimal(10), Decimal(100), Decimal("0.01"))
    assert reason.startswith("insufficient cash")
    with pytest.raises(InsufficientFundsError, match="insufficient cash"):
        ledger.apply_fill(fill(Side.BUY, "10", "100", fee="0.01"))
    assert ledger.cash == Decimal(1000)
    assert ledger.positions.get("SPX") is None


def test_shorts_need_margin_and_can_be_switched_off() -> None:
    ledger = Ledger(cash=Decimal(1000))
    # Reg T: equity 1000 supports shorts worth up to 2000 at 50% margin.
    assert ledger.refusal("SPX", Side.SELL, Decimal(20), Decimal(100), Decimal(0)) == ""
    assert "margin" in ledger.refusal("SPX", Side.SELL, Decimal(21), Decimal(100), Decimal(0))
    cash_only = Ledger(cash=Decimal(1000), margin=MarginSettings(allow_shorting=False))
    assert "not allowed" in cash_only.refusal("SPX", Side.SELL, Decimal(1), Decimal(1), Decimal(0))


def test_dust_is_kept_not_deleted() -> None:
    ledger = Ledger(cash=Decimal(1000))
    ledger.apply_fill(fill(Side.BUY, "1", "10"))
    ledger.apply_fill(fill(Side.SELL, "0.99999999", "10"))
    assert ledger.positions["SPX"].quantity == Decimal("0.00000001")


def test_borrow_accrues_daily_on_the_short_value() -> None:
    ledger = Ledger(cash=Decimal(10_000))
    ledger.apply_fill(fill(Side.SELL, "10", "100"))
    ledger.mark("SPX", Decimal(100))
    ledger.accrue_borrow(T0, Decimal("0.0365"))
    charged = ledger.accrue_borrow(T0 + timedelta(days=2), Decimal("0.0365"))
    assert charged == Decimal("0.2")  # 1000 * 3.65% * 2/365
    assert ledger.cash == Decimal("10999.8")


@pytest.mark.parametrize(
    ("side", "quantity", "price", "fee", "rule"),
    [
        (Side.BUY, "1", "0", "0", "price must be positive"),  # free units
        (Side.BUY, "1", "-100", "0", "price must be positive"),
        (Side.SELL, "1", "-100", "0", "price must be positive"),
        (Side.BUY, "1", "100", "-1000", "fee must not be negative"),  # paid to trade
        (Side.BUY, "-5", "100", "0", "quantity must be positive"),  # a short past the margin
        (Side.SELL, "0", "100", "0", "quantity must be positive"),
        (Side.BUY, "NaN", "100", "0", "quantity must be positive"),
        (Side.BUY, "1", "Infinity", "0", "price must be positive"),
    ],
)
def test_a_fill_that_breaks_a_rule_of_the_books_is_refused_and_books_nothing(
    side: Side, quantity: str, price: str, fee: str, rule: str
) -> None:
    ledger = Ledger(cash=Decimal(1000))
    ledger.apply_fill(fill(Side.BUY, "2", "100"))
    before = copy.deepcopy(ledger)
    with pytest.raises(InvalidFillError, match=rule):
        ledger.apply_fill(fill(side, quantity, price, fee))
    assert ledger == before


def test_a_buy_of_a_negative_quantity_cannot_open_a_short_past_the_margin() -> None:
    ledger = Ledger(cash=Decimal(0))
    with pytest.raises(InvalidFillError):
        ledger.apply_fill(fill(Side.BUY, "-1000000", "100"))
    assert ledger.positions == {}
    assert ledger.cash == 0


def accepted(quantity: str = "10") -> Order:
    order = Order("o-book", "SPX", Side.BUY, Decimal(quantity), OrderType.MARKET, T0)
    order.apply(OrderSubmitted(order.id, T0))
    order.apply(OrderAccepted(order.id, T0))
    return order


def order_fill(quantity: str, price: str = "100", trade_id: str = "k1") -> OrderFilled:
    return spx_buy("o-book", T0, trade_id, quantity, price)


def test_a_fill_the_order_refuses_books_nothing_in_the_ledger() -> None:
    # An exchange reporting more than the order's size: the ledger booked it, the order did not.
    order, ledger = accepted("10"), Ledger(cash=Decimal(100_000))
    with pytest.raises(InvalidFillError, match="does not fit the 10 left"):
        book_fill(order, order_fill("11"), ledger)
    assert ledger.quantity("SPX") == 0
    assert ledger.cash == 100_000
    assert order.filled_quantity == 0


def test_a_fill_the_ledger_refuses_leaves_the_order_as_it_was() -> None:
    order, ledger = accepted("10"), Ledger(cash=Decimal(500))
    with pytest.raises(InsufficientFundsError):
        book_fill(order, order_fill("10"), ledger)
    assert order.filled_quantity == 0
    assert order.events[-1] == OrderAccepted(order.id, T0)


def test_the_same_fill_reported_twice_is_booked_once() -> None:
    order, ledger = accepted("10"), Ledger(cash=Decimal(100_000))
    assert book_fill(order, order_fill("4"), ledger)
    assert not book_fill(order, order_fill("4"), ledger)
    assert ledger.quantity("SPX") == order.filled_quantity == 4


def test_booking_a_fill_asks_the_ledger_and_the_order_once_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # book_fill checks both before it moves either; moving them must not check again.
    order, ledger = accepted("10"), Ledger(cash=Decimal(100_000))
    calls = {"refusal": 0, "accepts": 0}
    refusal, accepts = Ledger.refusal, Order.accepts

    def counted_refusal(self: Ledger, *args: Any) -> str:
        calls["refusal"] += 1
        return refusal(self, *args)

    def counted_accepts(self: Order, *args: Any) -> bool:
        calls["accepts"] += 1
        return accepts(self, *args)

    monkeypatch.setattr(Ledger, "refusal", counted_refusal)
    monkeypatch.setattr(Order, "accepts", counted_accepts)
    assert book_fill(order, order_fill("4"), ledger)
    assert calls == {"refusal": 1, "accepts": 1}
    assert ledger.quantity("SPX") == order.filled_quantity == 4
    assert ledger.cash == Decimal(99_600)


def test_a_fill_known_to_be_payable_is_still_held_to_the_rules_of_the_books() -> None:
    order, ledger = accepted("10"), Ledger(cash=Decimal(100_000))
    with pytest.raises(InvalidFillError, match="price must be positive"):
        book_fill(order, order_fill("4", price="0"), ledger, affordable=True)
    assert order.filled_quantity == 0
    assert ledger.positions == {}
    assert book_fill(order, order_fill("4"), ledger, affordable=True)
    assert ledger.quantity("SPX") == order.filled_quantity == 4


def test_negative_starting_cash_is_refused() -> None:
    with pytest.raises(FatalError, match="starting cash"):
        Ledger(cash=Decimal(-1))


# ---- properties -------------------------------------------------------------------------------

prices = st.decimals(min_value="0.01", max_value="10000", places=2)
quantities = st.decimals(min_value="0.0001", max_value="100", places=4)
fees = st.decimals(min_value="0", max_value="5", places=2)
fills_strategy = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        quantities,
        prices,
        fees,
        st.sampled_from(["SPX", "IXIC"]),
    ),
    max_size=30,
)


def _apply_all(ledger: Ledger, steps: list[tuple[Side, Decimal, Decimal, Decimal, str]]) -> None:
    for side, quantity, price, fee, symbol in steps:
        try:
            ledger.apply_fill(fill(side, quantity, price, fee, symbol))
        except InsufficientFundsError:
            pass
        ledger.mark(symbol, price)


@settings(max_examples=200, deadline=None)
@given(side=st.sampled_from([Side.BUY, Side.SELL]), quantity=quantities, price=prices, fee=fees)
def test_property_round_trip_at_one_price_loses_exactly_the_fees(
    side: Side, quantity: Decimal, price: Decimal, fee: Decimal
) -> None:
    ledger = Ledger(cash=Decimal(10_000_000))
    other = Side.SELL if side is Side.BUY else Side.BUY
    ledger.apply_fill(fill(side, quantity, price, fee))
    ledger.apply_fill(fill(other, quantity, price, fee))
    assert ledger.equity() == Decimal(10_000_000) - 2 * fee
    assert ledger.fees == 2 * fee


@settings(max_examples=200, deadline=None)
@given(steps=fills_strategy)
def test_property_equity_is_cash_plus_marked_positions(
    steps: list[tuple[Side, Decimal, Decimal, Decimal, str]],
) -> None:
    ledger = Ledger(cash=Decimal(100_000))
    _apply_all(ledger, steps)
    marked = sum((p.quantity * ledger.marks[s] for s, p in ledger.positions.items()), Decimal(0))
    assert ledger.equity() == ledger.cash + marked
    assert ledger.cash >= 0  # never negative without margin settings that allow it


@settings(max_examples=200, deadline=None)
@given(steps=fills_strategy)
def test_property_no_sequence_of_fills_creates_money(
    steps: list[tuple[Side, Decimal, Decimal, Decimal, str]],
) -> None:
    """Trading at one constant price per symbol can only lose the fees: with marks unchanged,
    equity after any sequence is the starting cash minus every fee paid."""
    ledger = Ledger(cash=Decimal(100_000))
    fixed: dict[str, Decimal] = {}
    for side, quantity, _, fee, symbol in steps:
        price = fixed.setdefault(symbol, Decimal("100.00"))
        try:
            ledger.apply_fill(fill(side, quantity, price, fee, symbol))
        except InsufficientFundsError:
            pass
        ledger.mark(symbol, price)
    assert ledger.equity() == Decimal(100_000) - ledger.fees
    realized_and_open = ledger.realized_pnl + sum(
        (p.unrealized_pnl(ledger.marks[s]) for s, p in ledger.positions.items()), Decimal(0)
    )
    assert realized_and_open == 0


bad_fills = st.one_of(
    st.tuples(st.just("quantity"), st.decimals(max_value="0", allow_nan=False, places=4)),
    st.tuples(st.just("price"), st.decimals(max_value="0", allow_nan=False, places=2)),
    st.tuples(st.just("fee"), st.decimals(max_value="-0.01", allow_nan=False, places=2)),
)


@settings(max_examples=200, deadline=None)
@given(steps=fills_strategy, bad=st.lists(st.tuples(st.integers(0, 30), bad_fills), max_size=5))
def test_property_refused_fills_anywhere_in_a_sequence_change_nothing(
    steps: list[tuple[Side, Decimal, Decimal, Decimal, str]],
    bad: list[tuple[int, tuple[str, Decimal]]],
) -> None:
    """Bad fills mixed into any sequence are each refused and leave the ledger exactly as the
    same sequence without them would."""
    clean, mixed = Ledger(cash=Decimal(100_000)), Ledger(cash=Decimal(100_000))
    _apply_all(clean, steps)
    at = {index: rule for index, rule in bad}
    for index, (side, quantity, price, fee, symbol) in enumerate(steps):
        if index in at:
            field, value = at[index]
            broken = dict(quantity=quantity, price=price, fee=fee) | {field: value}
            with pytest.raises(InvalidFillError):
                mixed.apply_fill(fill(side, symbol=symbol, **broken))
        try:
            mixed.apply_fill(fill(side, quantity, price, fee, symbol))
        except InsufficientFundsError:
            pass
        mixed.mark(symbol, price)
    assert (mixed.cash, mixed.fees, mixed.realized_pnl) == (
        clean.cash,
        clean.fees,
        clean.realized_pnl,
    )
    assert {s: p.quantity for s, p in mixed.positions.items()} == {
        s: p.quantity for s, p in clean.positions.items()
    }
