"""Orders are state machines fed by immutable events, checked against one table."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.trading.fills import spx_buy
from trading.domain import (
    Instrument,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    Side,
)
from trading.errors import InvalidFillError, InvalidOrderError, InvalidTransitionError

T = datetime(2020, 1, 2, tzinfo=UTC)


def market_order(quantity: str = "10") -> Order:
    return Order("o1", "SPX", Side.BUY, Decimal(quantity), OrderType.MARKET, T)


def filled(trade_id: str, quantity: str, price: str = "100") -> OrderFilled:
    return spx_buy("o1", T, trade_id, quantity, price)


def accepted_order() -> Order:
    order = market_order()
    order.apply(OrderSubmitted("o1", T))
    order.apply(OrderAccepted("o1", T))
    return order


def test_order_walks_from_submitted_to_filled_through_partial_fills() -> None:
    order = accepted_order()
    order.apply(filled("t1", "4", "100"))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    order.apply(filled("t2", "6", "110"))
    assert order.status is OrderStatus.FILLED
    assert order.average_fill_price == Decimal(106)
    assert not order.status.is_open


def test_a_duplicate_fill_is_ignored_by_trade_id() -> None:
    order = accepted_order()
    assert order.apply(filled("t1", "4"))
    assert not order.apply(filled("t1", "4"))
    assert order.filled_quantity == 4


def test_a_fill_before_acceptance_is_an_invalid_transition() -> None:
    order = market_order()
    with pytest.raises(InvalidTransitionError, match="initialized"):
        order.apply(filled("t1", "1"))


def test_an_overfill_is_refused() -> None:
    order = accepted_order()
    with pytest.raises(InvalidFillError, match="does not fit the 10 left"):
        order.apply(filled("t1", "11"))
    assert order.filled_quantity == 0


def test_a_canceled_order_takes_no_more_events() -> None:
    order = accepted_order()
    order.apply(OrderCanceled("o1", T, "user"))
    assert order.reason == "user"
    with pytest.raises(InvalidTransitionError):
        order.apply(filled("t1", "1"))


def test_a_rejected_order_keeps_its_reason() -> None:
    order = market_order()
    order.apply(OrderSubmitted("o1", T))
    order.apply(OrderRejected("o1", T, "insufficient cash"))
    assert order.status is OrderStatus.REJECTED
    assert order.reason == "insufficient cash"


@pytest.mark.parametrize("quantity", ["0", "-1"])
def test_order_quantity_must_be_positive(quantity: str) -> None:
    with pytest.raises(InvalidOrderError, match="positive"):
        market_order(quantity)


def test_limit_orders_need_a_limit_price_and_market_orders_refuse_one() -> None:
    with pytest.raises(InvalidOrderError, match="limit price"):
        Order("o", "SPX", Side.BUY, Decimal(1), OrderType.LIMIT, T)
    with pytest.raises(InvalidOrderError, match="no limit"):
        Order("o", "SPX", Side.BUY, Decimal(1), OrderType.MARKET, T, limit_price=Decimal(1))


def test_quantities_round_down_to_the_lot_size() -> None:
    lot = Instrument("SPX", quantity_increment=Decimal(1))
    assert lot.round_quantity(Decimal("9.99")) == 9
    assert lot.round_quantity(Decimal("-9.99")) == -9
