"""From target weights to order proposals, and the cash that buys filling together share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, getcontext
from typing import Final, Protocol

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
    if len(proposals) > 1:
        proposals.sort(key=lambda p: (p.side is Side.BUY, p.symbol))
    return proposals


# The guard band's relative width: far above float64's error over the dozen operations of
# the check (~1e-15) and Decimal's at its default 28 digits, far below any real margin.
SLACK: Final = 1e-9


@dataclass(frozen=True, slots=True)
class _Band:
    """One held position's target weight and quantity, with their floats and lot."""

    weight: Decimal
    current: Decimal
    weight_f: float
    current_f: float
    lot: float


class RebalanceGuard:
    """Decides, without Decimal sizing, that `proposals_for_targets` would skip a held
    position's target: the check a backtest makes on every bar a strategy holds. A float
    guard band (as the vectorised path's) answers "skips" only where the exact move is surely
    below `rebalance_threshold` of equity; anywhere near it, the exact sizing decides, so the
    same proposals come out."""

    def __init__(
        self, instruments: Mapping[str, Instrument], costs: CostModel, rebalance_threshold: Decimal
    ) -> None:
        self._instruments = instruments
        # Sizing's cost per unit, (price x spread + tick) x fee + per share: the part that
        # does not scale with the price is each symbol's (its tick), kept with its band.
        self._spread = float(1 + costs.half_spread_bps / BPS)
        self._fee = float(1 + (costs.taker_fee_bps + costs.commission_bps) / BPS)
        self._costs = costs
        self._threshold = float(rebalance_threshold)
        self._bands: dict[str, tuple[_Band, float] | None] = {}

    def skips(
        self, symbol: str, weight: Decimal, current: Decimal, equity: Decimal, price: Decimal
    ) -> bool:
        """True only if `proposals_for_targets` proposes nothing for `symbol` at `weight`
        (not zero), the position holding `current`, at this equity and price: its move,
        bounded above with the errors of float and of the rounding to a lot, is below the
        threshold."""
        found = self._bands.get(symbol)
        if found is None or found[0].weight != weight or found[0].current != current:
            found = self._bands[symbol] = self._band(symbol, weight, current)
            if found is None:
                return False
        band, fixed = found
        e, p = float(equity), float(price)
        if not (e > 0.0 and p > 0.0):  # NaN as well: the exact check decides
            return False
        raw = band.weight_f * e / ((p * self._spread) * self._fee + fixed)
        held = band.current_f
        move = abs(raw - held) + (abs(raw) + abs(held)) * SLACK + band.lot * (1 + SLACK)
        return move * p * (1 + SLACK) < self._threshold * e * (1 - SLACK)

    def _band(self, symbol: str, weight: Decimal, current: Decimal) -> tuple[_Band, float] | None:
        """The band of one weight and quantity, and the per-unit cost's part that does not
        scale with the price; None where the band cannot be trusted."""
        # Fewer Decimal digits than the default would widen the exact side's error past SLACK.
        if getcontext().prec < 28:
            return None
        instrument = self._instruments.get(symbol) or Instrument(symbol)
        lot = instrument.quantity_increment
        if not lot > ZERO:
            return None
        costs = self._costs
        tick = instrument.price_increment if costs.half_spread_bps else ZERO
        fixed = float(tick) * self._fee + float(costs.commission_per_share)
        band = _Band(weight, current, float(weight), float(current), float(lot))
        return band, fixed


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
