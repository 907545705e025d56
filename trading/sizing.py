"""From target weights to order proposals, and the cash that buys filling together share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from trading.costs import BPS, CostModel
from trading.domain import ZERO, Instrument, Side
from trading.risk import OrderProposal


class Holdings(Protocol):
    """What sizing reads of an account: a `trading.ledger.Portfolio`, or any view giving the
    same equity and quantities."""

    @property
    def equity(self) -> Decimal: ...

    def quantity(self, symbol: str) -> Decimal: ...


def proposals_for_targets(
    targets: Mapping[str, Decimal],
    portfolio: Holdings,
    prices: Mapping[str, Decimal],
    instruments: Mapping[str, Instrument],
    costs: CostModel,
    rebalance_threshold: Decimal = Decimal("0.02"),
) -> list[OrderProposal]:
    """Orders that move each position to `weight x equity` at the reference price.

    A move smaller than `rebalance_threshold` of equity is skipped, so a held position is not
    traded every bar as its weight drifts; a target of zero always closes the whole position.
    Buys are sized so that notional, fees and half the spread fit in the equity, which keeps a
    fully invested target payable. Sells come first so their cash funds the buys.
    """
    equity = portfolio.equity
    proposals: list[OrderProposal] = []
    if equity <= ZERO:
        return proposals
    fee_rate = spread_rate = None  # worked out for the first target that buys or sells
    for symbol, weight in targets.items():
        price = prices[symbol]
        instrument = instruments.get(symbol) or Instrument(symbol)
        current = portfolio.quantity(symbol)
        if weight == ZERO:
            desired = ZERO
        else:
            if fee_rate is None or spread_rate is None:
                fee_rate = 1 + (costs.taker_fee_bps + costs.commission_bps) / BPS
                spread_rate = 1 + costs.half_spread_bps / BPS
            # One tick of headroom: the executor rounds a slipped price up to the tick.
            tick = instrument.price_increment if costs.half_spread_bps else ZERO
            per_unit = (price * spread_rate + tick) * fee_rate + costs.commission_per_share
            desired = instrument.round_quantity(weight * equity / per_unit)
            if abs(desired - current) * price < rebalance_threshold * equity:
                continue
        delta = desired - current
        if delta == ZERO:
            continue
        side = Side.BUY if delta > ZERO else Side.SELL
        proposals.append(OrderProposal(symbol, side, abs(delta), price))
    # Sales first, so their cash funds the buys; then by symbol, so the gate reviews the same
    # orders in the same order whatever order the targets came in.
    proposals.sort(key=lambda p: (p.side is Side.BUY, p.symbol))
    return proposals


@dataclass(frozen=True, slots=True)
class CashNeed:
    """What one buy filling on a tick would pay: quantity at price, plus its fee."""

    quantity: Decimal
    price: Decimal
    fee: Decimal
    instrument: Instrument


def share_cash(needs: Sequence[CashNeed], budget: Decimal) -> list[Decimal]:
    """The quantities of buys that fill together when `budget` cannot pay for all of them:
    each is cut by the same fraction, budget / total need, down to its lot, so no buy is
    squeezed for coming later (a gap between the deciding close and the fill would otherwise
    leave the last symbol short). Unchanged when the budget pays for all, and for a single
    buy, which the ledger's own check cuts to what it pays for."""
    total = sum((n.quantity * n.price + n.fee for n in needs), ZERO)
    if len(needs) < 2 or total <= budget:
        return [n.quantity for n in needs]
    if budget <= ZERO:
        return [ZERO for _ in needs]
    fraction = budget / total
    return [n.instrument.round_quantity(n.quantity * fraction) for n in needs]
