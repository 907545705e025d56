"""Sizing: target weights to proposals in a canonical order, and buys that share the cash."""

from __future__ import annotations

from decimal import Decimal

from trading.costs import CostModel
from trading.domain import Instrument, Side
from trading.ledger import Ledger
from trading.sizing import CashNeed, proposals_for_targets, share_cash

LOT = Instrument("X", quantity_increment=Decimal(1))


def need(quantity: int, price: int, fee: str = "0") -> CashNeed:
    return CashNeed(Decimal(quantity), Decimal(price), Decimal(fee), LOT)


def test_buys_the_budget_cannot_pay_for_are_all_cut_by_the_same_fraction() -> None:
    # 12,500 of needs on 10,000: each buy gets 80% of its quantity, rounded down to its lot.
    assert share_cash([need(50, 125), need(50, 125)], Decimal(10_000)) == [40, 40]


def test_buys_the_budget_pays_for_are_left_whole() -> None:
    assert share_cash([need(40, 100), need(60, 100)], Decimal(10_000)) == [40, 60]


def test_a_single_buy_is_left_to_the_ledgers_own_check() -> None:
    assert share_cash([need(100, 125)], Decimal(10_000)) == [100]


def test_the_share_does_not_depend_on_the_order_of_the_buys() -> None:
    needs = [need(30, 110, "3"), need(70, 95, "6"), need(10, 400, "4")]
    forward = share_cash(needs, Decimal(9_000))
    backward = share_cash(needs[::-1], Decimal(9_000))
    assert forward == backward[::-1]
    assert sum(n.quantity * n.price + n.fee for n in needs) > 9_000
    assert sum(q * n.price for q, n in zip(forward, needs, strict=True)) <= 9_000


def test_proposals_come_sales_first_then_by_symbol_whatever_the_targets_order() -> None:
    ledger = Ledger(cash=Decimal(10_000))
    prices = {"B": Decimal(100), "A": Decimal(50), "C": Decimal(20)}
    orders = {}
    for targets in ({"B": "0.3", "A": "0.3", "C": "0.3"}, {"C": "0.3", "A": "0.3", "B": "0.3"}):
        weights = {s: Decimal(w) for s, w in targets.items()}
        proposals = proposals_for_targets(weights, ledger.portfolio(), prices, {}, CostModel())
        orders[tuple(targets)] = [(p.symbol, p.side) for p in proposals]
    assert set(map(tuple, orders.values())) == {
        (("A", Side.BUY), ("B", Side.BUY), ("C", Side.BUY)),
    }
