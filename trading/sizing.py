"""From target weights to order proposals, and the cash that buys filling together share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, Inexact, getcontext, localcontext
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


# The most equity in units of the price that a ratio band reaches up to (it has no upper end
# where the target weight is small next to the threshold): a bound keeps its products finite.
_MOST_UNITS: Final = Decimal("1E18")
# How far inside its exact ends a ratio band's Decimal ends lie: above the relative error of a
# product at Decimal's 28 digits (1E-27), so that a price x end that passes is surely inside.
_INSIDE: Final = Decimal("1E-15")
# SLACK as a Decimal, for the ratio band's exact arithmetic, and digits enough that its sums
# and products of Decimals of up to 28 digits are exact.
_SLACK: Final = Decimal(repr(SLACK))  # Decimal("1E-9")
_EXACT_DIGITS: Final = 200


@dataclass(frozen=True, slots=True)
class _Band:
    """One held position's target weight and quantity, with their floats and lot, and the
    ratio band: the equity / price ratios strictly between its ends skip surely (None: no
    such band)."""

    weight: Decimal
    current: Decimal
    weight_f: float
    current_f: float
    lot: float
    ratio: tuple[Decimal, Decimal] | None


class RebalanceGuard:
    """Decides, without Decimal sizing, that `proposals_for_targets` would skip a held
    position's target: the check a backtest makes on every bar a strategy holds. A float
    guard band (as the vectorised path's) answers "skips" only where the exact move is surely
    below `rebalance_threshold` of equity; anywhere near it, the exact sizing decides, so the
    same proposals come out.

    Where sizing's cost per unit scales with the price alone (no tick of spread headroom, no
    commission per share: the default costs), the exact check depends on the equity and the
    price only through their ratio R = equity / price (units of the price the account is
    worth): the move |round(w x R / k) - held| x price against threshold x equity, divided by
    the price. Its bound (|w x R / k - held| + slack + lot) < threshold x R is a minimum of
    linear functions of R, positive on an interval found once per weight and quantity in exact
    rationals; a bar inside it is settled by two Decimal products and comparisons, without
    converting the equity and the price to float. Anywhere else the float band decides."""

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
        self._threshold_d = rebalance_threshold
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
        ratio = band.ratio
        if ratio is not None and ratio[0] * price < equity < ratio[1] * price:
            return True
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
        fixed_part = tick * (1 + (costs.taker_fee_bps + costs.commission_bps) / BPS)
        fixed_part += costs.commission_per_share
        fixed = float(tick) * self._fee + float(costs.commission_per_share)
        ratio = None
        if fixed_part == ZERO:
            ratio = _ratio_band(weight, current, lot, costs, self._threshold_d)
        band = _Band(weight, current, float(weight), float(current), float(lot), ratio)
        return band, fixed


def _ratio_band(
    weight: Decimal, current: Decimal, lot: Decimal, costs: CostModel, threshold: Decimal
) -> tuple[Decimal, Decimal] | None:
    """The equity / price ratios R at which `proposals_for_targets` surely skips `weight` on a
    position of `current`, the cost per unit being price x k (k: sizing's spread and fee
    rates): Decimal ends strictly inside the interval, or None where it is empty.

    Sizing's target is round_down(w x R / k) to the lot, computed at 28 digits or more, so its
    move is at most |w x R / k - current| + lot, plus Decimal's relative errors (~1E-27) of
    each term, which the slack (m, as the float band's SLACK) covers many times over. The
    move x price < threshold x equity then holds wherever, with x = w x R / k,
    T x R > (|x - current| + m x (|x| + |current|) + lot) x (1 + m). Times k, the absolute
    values make it the least of four linear functions of R (one per sign of x - current and
    of x) that must be positive: an intersection of four half-lines, each end a quotient of
    Decimals computed exactly (any rounding gives up the band), divided rounding inwards."""
    spread_rate = 1 + costs.half_spread_bps / BPS  # as sizing computes them, in this context
    fee_rate = 1 + (costs.taker_fee_bps + costs.commission_bps) / BPS
    ends: list[tuple[Decimal, Decimal]] = []  # (numerator, slope): R > or < numerator / slope
    with localcontext() as exact:
        exact.prec = _EXACT_DIGITS
        exact.traps[Inexact] = True
        try:
            k = spread_rate * fee_rate
            margin = 1 + _SLACK
            for sign in (1, -1):
                for sign_x in (1, -1):
                    slope = threshold * k - (sign + _SLACK * sign_x) * weight * margin
                    rest = k * (_SLACK * abs(current) + lot - sign * current) * margin
                    if slope:
                        ends.append((rest, slope))
                    elif rest >= 0:  # 0 x R > rest nowhere
                        return None
        except Inexact:
            return None
    low, high = ZERO, _MOST_UNITS
    with localcontext() as inwards:
        inwards.prec = 28
        for rest, slope in ends:
            if slope > 0:
                inwards.rounding = ROUND_CEILING
                low = max(low, rest / slope)
            else:
                inwards.rounding = ROUND_FLOOR
                high = min(high, rest / slope)
        inwards.rounding = ROUND_CEILING
        low = low * (1 + _INSIDE)
        inwards.rounding = ROUND_FLOOR
        high = high * (1 - _INSIDE)
    return (low, high) if low < high else None


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
