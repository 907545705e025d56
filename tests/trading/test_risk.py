"""The risk gate caps or rejects with reasons; reducing always passes; the kill switch latches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trading.domain import Instrument, Side
from trading.ledger import Portfolio, PositionView
from trading.risk import OrderProposal, RiskGate, RiskLimits, Verdict

T = datetime(2020, 1, 2, tzinfo=UTC)
LOT = {"SPX": Instrument("SPX", quantity_increment=Decimal(1))}


def portfolio(cash: str, **quantities: str) -> Portfolio:
    positions = {
        s: PositionView(
            s, Decimal(q), Decimal(100), Decimal(100), Decimal(q) * 100, Decimal(0), Decimal(0)
        )
        for s, q in quantities.items()
    }
    equity = Decimal(cash) + sum((p.market_value for p in positions.values()), Decimal(0))
    return Portfolio(T, Decimal(cash), equity, positions, Decimal(0), Decimal(0), Decimal(0))


def buy(quantity: int, symbol: str = "SPX") -> OrderProposal:
    return OrderProposal(symbol, Side.BUY, Decimal(quantity), Decimal(100))


def sell(quantity: int, symbol: str = "SPX") -> OrderProposal:
    return OrderProposal(symbol, Side.SELL, Decimal(quantity), Decimal(100))


def test_an_order_within_every_limit_is_approved() -> None:
    [review] = RiskGate().review([buy(50)], portfolio("10000"), LOT)
    assert review.verdict is Verdict.APPROVED
    assert review.quantity == 50


def test_position_weight_caps_the_quantity_with_the_reason() -> None:
    gate = RiskGate(RiskLimits(max_position_weight=Decimal("0.5")))
    [review] = gate.review([buy(80)], portfolio("10000"), LOT)
    assert review.verdict is Verdict.CAPPED
    assert review.quantity == 50
    assert "position weight" in review.reasons[0]


def test_order_notional_cap() -> None:
    gate = RiskGate(RiskLimits(max_order_notional=Decimal(2500)))
    [review] = gate.review([buy(80)], portfolio("10000"), LOT)
    assert review.quantity == 25
    assert "order notional" in review.reasons[0]


def test_gross_exposure_counts_every_position_and_earlier_approvals() -> None:
    gate = RiskGate(RiskLimits(max_gross_exposure=Decimal(1)))
    held = portfolio("6000", IXIC="40")  # equity 10_000, 4_000 already exposed
    first, second = gate.review([buy(40), buy(40)], held, LOT)
    assert first.verdict is Verdict.APPROVED
    assert second.verdict is Verdict.CAPPED
    assert second.quantity == 20  # 4_000 + 4_000 + 2_000 = the whole equity
    assert "gross exposure" in second.reasons[0]
    [full] = gate.review([buy(1)], portfolio("0", IXIC="40", SPX="60"), LOT)
    assert full.verdict is Verdict.REJECTED


def test_reducing_a_position_always_passes_even_when_the_kill_switch_is_tripped() -> None:
    gate = RiskGate(RiskLimits(max_drawdown=Decimal("0.2")))
    gate.observe(T, Decimal(10_000))
    gate.observe(T + timedelta(days=1), Decimal(7_900))
    assert gate.tripped
    [exit_review] = gate.review([sell(30)], portfolio("5000", SPX="30"), LOT)
    assert exit_review.verdict is Verdict.APPROVED
    [flip] = gate.review([sell(50)], portfolio("5000", SPX="30"), LOT)
    assert flip.verdict is Verdict.CAPPED
    assert flip.quantity == 30
    assert "kill switch" in flip.reasons[0]


def test_the_kill_switch_stays_tripped_after_equity_recovers() -> None:
    gate = RiskGate(RiskLimits(max_drawdown=Decimal("0.2")))
    gate.observe(T, Decimal(10_000))
    gate.observe(T + timedelta(days=1), Decimal(8_000))
    gate.observe(T + timedelta(days=2), Decimal(12_000))
    assert gate.tripped
    [review] = gate.review([buy(1)], portfolio("12000"), LOT)
    assert review.verdict is Verdict.REJECTED


def test_daily_loss_limit_blocks_new_risk_for_that_day_only() -> None:
    gate = RiskGate(RiskLimits(daily_loss_limit=Decimal("0.05")))
    gate.observe(T, Decimal(10_000))
    gate.observe(T + timedelta(days=1), Decimal(9_400))  # -6% since yesterday's close
    [blocked] = gate.review([buy(1)], portfolio("9400"), LOT)
    assert blocked.verdict is Verdict.REJECTED
    assert "daily loss" in blocked.reasons[0]
    gate.observe(T + timedelta(days=2), Decimal(9_400))  # flat day
    [allowed] = gate.review([buy(1)], portfolio("9400"), LOT)
    assert allowed.verdict is Verdict.APPROVED
    assert not gate.tripped


def test_net_exposure_caps_longs_less_shorts_and_lets_a_hedge_through() -> None:
    limits = RiskLimits(max_gross_exposure=Decimal(3), max_net_exposure=Decimal("0.5"))
    gate = RiskGate(limits)
    held = portfolio("10000", IXIC="-20")  # equity 8_000, net -2_000
    [long] = gate.review([buy(80)], held, LOT)
    # The net may rise from -2_000 to +4_000 (half the equity): 60 SPX at 100.
    assert long.quantity == 60
    assert "net exposure capped at 0.5" in long.reasons[0]
    [short] = gate.review([sell(30)], held, LOT)
    assert short.quantity == 20  # from -2_000 down to -4_000
    assert RiskLimits().max_net_exposure is None
