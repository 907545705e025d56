"""Sizing: target weights to proposals in a canonical order, and buys that share the cash."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.costs import CostModel
from trading.domain import Instrument, Side
from trading.ledger import Ledger
from trading.sizing import CashNeed, RebalanceGuard, proposals_for_targets, share_cash

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


@dataclass(frozen=True)
class Held:
    """An account holding `held` of the one symbol, at `equity` (independent of the price)."""

    equity: Decimal
    held: Decimal

    def quantity(self, symbol: str) -> Decimal:
        return self.held


COSTS = CostModel(taker_fee_bps=Decimal(3), commission_bps=Decimal(1), half_spread_bps=Decimal(2))
THRESHOLD = Decimal("0.02")


def sizing_skips(
    weight: Decimal, held: Decimal, equity: Decimal, price: Decimal, costs: CostModel
) -> bool:
    instruments = {"X": LOT}
    account = Held(equity, held)
    return proposals_for_targets({"X": weight}, account, {"X": price}, instruments, costs) == []


def test_the_guard_never_skips_a_target_the_exact_sizing_would_trade_near_the_threshold() -> None:
    # 1,000 held on 100,000 of equity: around 97.9 the move of the whole-lot target crosses
    # 2% of the equity; every price of a fine grid there, with costs, both ways.
    guard = RebalanceGuard({"X": LOT}, COSTS, THRESHOLD)
    equity, held = Decimal(100_000), Decimal(1_000)
    outcomes = set()
    for step in range(-5_000, 5_000):
        price = Decimal("97.9") + Decimal(step) / 10_000
        skips = sizing_skips(Decimal(1), held, equity, price, COSTS)
        guarded = guard.skips("X", Decimal(1), held, equity, price)
        assert skips or not guarded, f"the guard skipped a trade at {price}"
        outcomes.add((skips, guarded))
    # The grid reaches both sides, and the guard settles the prices away from the line.
    assert outcomes == {(True, True), (False, False), (True, False)}


@pytest.mark.parametrize(
    ("weight", "side"),
    [
        # 1,020 units at 100: a move of exactly 2% of the equity, which is traded.
        (Decimal("1.02"), Side.BUY),
        # 980.9 units rounded down to 980: the lot's rounding makes the 2% move.
        (Decimal("0.9809"), Side.SELL),
    ],
)
def test_the_guard_leaves_a_move_of_exactly_the_threshold_to_the_exact_sizing(
    weight: Decimal, side: Side
) -> None:
    no_costs = CostModel()
    equity, held, price = Decimal(100_000), Decimal(1_000), Decimal(100)
    [proposal] = proposals_for_targets(
        {"X": weight}, Held(equity, held), {"X": price}, {"X": LOT}, no_costs
    )
    assert (proposal.side, proposal.quantity) == (side, 20)
    guard = RebalanceGuard({"X": LOT}, no_costs, THRESHOLD)
    assert not guard.skips("X", weight, held, equity, price)
    # Two units less of move (the rounding to a lot may add one) and the guard settles it.
    assert guard.skips("X", weight, held + 2 * side.sign, equity, price)


def test_the_guard_allows_for_floats_error_where_the_lot_is_finer_than_it() -> None:
    # A move of exactly 2% again, at a price float cannot hold (0.1) and a lot of 1e-12: the
    # float move comes out a hair under the threshold, and only the band's slack keeps it.
    fine = Instrument("X", quantity_increment=Decimal("1E-12"))
    equity, held, price = Decimal(100_000), Decimal("1234.5678"), Decimal("0.1")
    weight = Decimal("0.0212345678")
    [proposal] = proposals_for_targets(
        {"X": weight}, Held(equity, held), {"X": price}, {"X": fine}, CostModel()
    )
    assert (proposal.side, proposal.quantity) == (Side.BUY, 20_000)
    guard = RebalanceGuard({"X": fine}, CostModel(), THRESHOLD)
    assert not guard.skips("X", weight, held, equity, price)


class _NoFloat(Decimal):
    """A Decimal that fails if anything converts it to float: the float band's first step."""

    def __float__(self) -> float:
        raise AssertionError("converted to float")


def test_the_ratio_band_settles_a_held_target_without_converting_to_float() -> None:
    # Default costs: the cost per unit is the price, so equity / price alone decides. Half the
    # equity held at 100 (500 units on 100,000) and a target of half: skipped while the price
    # stays near 100, by two Decimal products, not float.
    guard = RebalanceGuard({"X": LOT}, CostModel(), THRESHOLD)
    half, held = Decimal("0.5"), Decimal(500)
    assert guard.skips("X", half, held, _NoFloat(100_000), _NoFloat(100))
    with pytest.raises(AssertionError, match="converted to float"):  # far off: the float band
        guard.skips("X", half, held, _NoFloat(100_000), _NoFloat(140))


@pytest.mark.parametrize(
    ("costs", "lot"),
    [
        (CostModel(), LOT),
        (CostModel(), Instrument("X", quantity_increment=Decimal("1E-12"))),
        (CostModel(taker_fee_bps=Decimal(3), commission_bps=Decimal(1)), LOT),
        (CostModel(taker_fee_bps=Decimal(7)), Instrument("X")),
    ],
)
@pytest.mark.parametrize(("weight", "held"), [("0.5", 500), ("1", 985), ("-0.5", -500)])
def test_the_guard_never_skips_what_sizing_trades_as_the_price_walks_across_the_band(
    costs: CostModel, lot: Instrument, weight: str, held: int
) -> None:
    # The equity follows the price, as an account holding only this position: cash plus
    # held x price. Prices on a fine grid walk from well inside the band (the move far below
    # 2%) out across both of its ends, where sizing trades.
    guard = RebalanceGuard({"X": lot}, costs, THRESHOLD)
    w, quantity = Decimal(weight), Decimal(held)
    cash = Decimal(100_000) - quantity * 100
    outcomes = set()
    for step in range(-3_000, 3_001):
        price = Decimal(100) + Decimal(step) / 100
        equity = cash + quantity * price
        account = Held(equity, quantity)
        skips = proposals_for_targets({"X": w}, account, {"X": price}, {"X": lot}, costs) == []
        guarded = guard.skips("X", w, quantity, equity, price)
        assert skips or not guarded, f"the guard skipped a trade at {price}"
        outcomes.add((skips, guarded))
    assert {(True, True), (False, False)} <= outcomes


@settings(max_examples=400, deadline=None)
@given(
    weight=st.decimals(min_value=Decimal(-2), max_value=Decimal(2), places=4),
    held=st.decimals(min_value=Decimal(-5_000), max_value=Decimal(5_000), places=2),
    equity=st.decimals(min_value=Decimal(1), max_value=Decimal(10**7), places=2),
    price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10_000), places=2),
    fee=st.sampled_from([Decimal(0), Decimal(5)]),
    lot=st.sampled_from([Decimal(1), Decimal("0.0001"), Decimal("1E-9")]),
)
def test_a_skip_of_the_guard_is_a_skip_of_sizing(
    weight: Decimal, held: Decimal, equity: Decimal, price: Decimal, fee: Decimal, lot: Decimal
) -> None:
    # Near the band's ends most of all: the held quantity is put near the target's half the
    # time, where the move is about the threshold.
    if weight == 0 or held == 0:
        return
    costs = CostModel(taker_fee_bps=fee)
    instrument = Instrument("X", quantity_increment=lot)
    guard = RebalanceGuard({"X": instrument}, costs, THRESHOLD)
    if guard.skips("X", weight, held, equity, price):
        account = Held(equity, held)
        assert (
            proposals_for_targets({"X": weight}, account, {"X": price}, {"X": instrument}, costs)
            == []
        )


@settings(max_examples=300, deadline=None)
@given(
    weight=st.decimals(min_value=Decimal("-1.5"), max_value=Decimal("1.5"), places=3),
    units=st.decimals(min_value=Decimal(1), max_value=Decimal(10**6), places=3),
    price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10_000), places=2),
    drift=st.decimals(min_value=Decimal("-0.03"), max_value=Decimal("0.03"), places=6),
)
def test_a_skip_of_the_guard_near_the_threshold_is_a_skip_of_sizing(
    weight: Decimal, units: Decimal, price: Decimal, drift: Decimal
) -> None:
    # The position is the target's quantity moved by `drift` of the equity: around 2% the
    # exact sizing trades or not, and the guard must never skip where it trades.
    if weight == 0:
        return
    equity = units * price
    held = (weight * units * (1 + drift)).quantize(Decimal("0.0001"))
    if held == 0:
        return
    instrument = Instrument("X")
    guard = RebalanceGuard({"X": instrument}, CostModel(), THRESHOLD)
    if guard.skips("X", weight, held, equity, price):
        account = Held(equity, held)
        assert (
            proposals_for_targets(
                {"X": weight}, account, {"X": price}, {"X": instrument}, CostModel()
            )
            == []
        )
