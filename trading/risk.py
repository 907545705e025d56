"""The risk gate: deterministic code between every decision and the executor.

It sees each proposed order with the portfolio and a reference price and approves it, caps its
quantity, or rejects it, always with the reasons. Orders that only shrink a position pass (a
gate that blocks exits makes risk worse). The drawdown kill switch latches: once tripped it
stays tripped for the rest of the run, and only exposure-reducing orders pass; the cycle engine
(`trading.replay`, `flatten_on_kill`) then sells everything and holds cash. Stop-loss and
take-profit are checked on every bar against each position's average entry price; a crossed one
closes the whole position.

Every order is reviewed at the worst price it can fill at: a market order at the market, a limit
order at the higher of its limit and the market (`review_price`), since a marketable limit fills
at the market whatever its limit says, and the higher price makes the larger exposure and
notional. Orders still working count as filled in full in the new order's direction, so two
orders cannot each use the same headroom. At fill time the executor asks again
(`fill_allowance`) when the fill's price is above the one the order was reviewed at (a gap, a
thin book), or when the order rested past the bar it could first fill on (the account may have
changed since): the limits hold at the price paid, against the portfolio as it stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from trading.closed import Closed
from trading.domain import ZERO, Instrument, Order, OrderType, Side
from trading.ledger import Portfolio


class RiskLimits(Closed):
    """Caps as fractions of equity, unless named otherwise. None switches a check off."""

    max_position_weight: Decimal = Field(
        Decimal(1), gt=0, le=10, description="Largest |position value| / equity per symbol."
    )
    max_gross_exposure: Decimal = Field(
        Decimal(1), gt=0, le=10, description="Largest sum of |position values| / equity."
    )
    max_net_exposure: Decimal | None = Field(
        None,
        ge=0,
        le=10,
        description="Largest |sum of signed position values| / equity: longs less shorts.",
    )
    max_order_notional: Decimal | None = Field(
        None, gt=0, description="Largest notional of one order, in the quote currency."
    )
    daily_loss_limit: Decimal | None = Field(
        None, gt=0, lt=1, description="Loss since the previous day's close that blocks new risk."
    )
    max_drawdown: Decimal | None = Field(
        None,
        gt=0,
        lt=1,
        description="Drawdown from the equity peak past which the kill switch trips: a replay or "
        "trading run then sells everything and holds cash for the rest of the run.",
    )
    stop_loss: Decimal | None = Field(
        None,
        gt=0,
        lt=1,
        description="Move against a position, as a fraction of its average entry price, at "
        "which a bar's close closes the whole position (at the next bar's open).",
    )
    take_profit: Decimal | None = Field(
        None,
        gt=0,
        le=10,
        description="Move in favour of a position, as a fraction of its average entry price, at "
        "which a bar's close closes the whole position (at the next bar's open).",
    )


def drawdown_breach(peak: Decimal, equity: Decimal, limit: Decimal) -> Decimal | None:
    """The kill switch's rule: the drawdown of `equity` from `peak` when it has reached `limit`,
    else None (and None for a peak at or below zero, from which no drawdown is measured)."""
    if peak <= ZERO:
        return None
    drawdown = (peak - equity) / peak
    return drawdown if drawdown >= limit else None


class Verdict(StrEnum):
    APPROVED = "approved"
    CAPPED = "capped"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class OrderProposal:
    symbol: str
    side: Side
    quantity: Decimal
    reference_price: Decimal


@dataclass(frozen=True, slots=True)
class RiskReview:
    proposal: OrderProposal
    verdict: Verdict
    quantity: Decimal
    reasons: tuple[str, ...]


def review_price(order_type: OrderType, limit_price: Decimal | None, market: Decimal) -> Decimal:
    """The price the gate reviews an order at: the market for a market order; for a limit
    order the higher of its limit and the market. A limit below the market (a marketable sell,
    or a buy that waits) cannot make the order smaller than the market says it is."""
    if order_type is OrderType.MARKET or limit_price is None:
        return market
    return max(limit_price, market)


def _worst_case(
    held: dict[str, Decimal], pending: dict[tuple[str, Side], Decimal], proposal: OrderProposal
) -> dict[str, Decimal]:
    """Positions as working orders could leave them, for reviewing `proposal`: its own symbol
    with every working order of its direction filled, other symbols at the side of larger size."""
    worst: dict[str, Decimal] = {}
    for symbol in {*held, *(s for s, _ in pending)}:
        current = held.get(symbol, ZERO)
        if symbol == proposal.symbol:
            side = proposal.side
            worst[symbol] = current + pending.get((symbol, side), ZERO) * side.sign
            continue
        long = current + pending.get((symbol, Side.BUY), ZERO)
        short = current - pending.get((symbol, Side.SELL), ZERO)
        worst[symbol] = long if abs(long) >= abs(short) else short
    return worst


def _held_and_marks(portfolio: Portfolio) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Each position's quantity and mark, by symbol, in one pass in the portfolio's order."""
    held: dict[str, Decimal] = {}
    prices: dict[str, Decimal] = {}
    for s, p in portfolio.positions.items():
        held[s], prices[s] = p.quantity, p.mark
    return held, prices


class RiskGate:
    def __init__(self, limits: RiskLimits | None = None) -> None:
        self.limits = limits or RiskLimits()
        self.peak_equity: Decimal | None = None
        self.tripped_reason = ""
        self._day: date | None = None
        self._day_start_equity: Decimal | None = None
        self._last_equity: Decimal | None = None
        self._daily_loss_hit = False

    @property
    def tripped(self) -> bool:
        return bool(self.tripped_reason)

    def observe(self, now: datetime, equity: Decimal) -> None:
        """Feed the marked equity once per cycle, before reviewing that cycle's orders."""
        day = now.date()
        if day != self._day:
            # The day's reference is the last equity seen before this day: the prior close.
            self._day_start_equity = self._last_equity if self._last_equity is not None else equity
            self._day = day
        self._last_equity = equity
        peak = self.peak_equity
        if peak is None or equity > peak:  # `max`, which keeps the first of equals
            peak = self.peak_equity = equity
        limits = self.limits
        loss_limit = limits.daily_loss_limit
        if loss_limit is None:
            self._daily_loss_hit = False
        else:
            start = self._day_start_equity
            # At or above the day's start the loss is <= 0, below any limit > 0: most bars are
            # decided by a comparison, without the division.
            self._daily_loss_hit = bool(
                start is not None
                and start > ZERO
                and (equity < start or loss_limit <= ZERO)
                and (start - equity) / start >= loss_limit
            )
        drawdown_limit = limits.max_drawdown
        # At the peak (equity is never above it here) the drawdown is 0, below any limit > 0.
        if (
            drawdown_limit is not None
            and not self.tripped_reason
            and (equity < peak or drawdown_limit <= ZERO)
        ):
            drawdown = drawdown_breach(peak, equity, drawdown_limit)
            if drawdown is not None:
                self.tripped_reason = (
                    f"kill switch: drawdown {drawdown:.2%} from peak {self.peak_equity:.2f} "
                    f"reached the limit {limits.max_drawdown:.2%} at {now.isoformat()}"
                )

    def protective_exits(self, portfolio: Portfolio) -> list[tuple[OrderProposal, str]]:
        """Orders closing each position whose mark crossed its stop-loss or take-profit, with
        why. Levels are fractions of the average entry price, so they follow the position as it
        is added to; they are judged on closes because a bar's close is the first moment the
        loop may act, and the exit fills at the next open like every other order."""
        exits: list[tuple[OrderProposal, str]] = []
        stop, take = self.limits.stop_loss, self.limits.take_profit
        if stop is None and take is None:
            return exits
        for symbol, position in sorted(portfolio.positions.items()):
            if position.quantity == ZERO or position.average_price <= ZERO:
                continue
            sign = 1 if position.quantity > ZERO else -1
            move = (position.mark / position.average_price - 1) * sign
            if stop is not None and move <= -stop:
                reason = f"stop-loss {stop:.2%}"
            elif take is not None and move >= take:
                reason = f"take-profit {take:.2%}"
            else:
                continue
            side = Side.SELL if sign > 0 else Side.BUY
            exits.append(
                (
                    OrderProposal(symbol, side, abs(position.quantity), position.mark),
                    f"{reason}: {symbol} closed at {position.mark}, {move:+.2%} from its average "
                    f"price {position.average_price:.4f}; the position is closed",
                )
            )
        return exits

    def review(
        self,
        proposals: list[OrderProposal],
        portfolio: Portfolio,
        instruments: dict[str, Instrument] | None = None,
        working: Sequence[Order] = (),
    ) -> list[RiskReview]:
        """Review proposals in order, each against the portfolio as the earlier approvals
        would leave it, so two orders cannot each use the same headroom. `working` orders may
        still fill: each proposal is reviewed as if those of its own direction all filled, and
        other symbols count at the larger exposure their working orders could leave."""
        held, prices = _held_and_marks(portfolio)
        pending: dict[tuple[str, Side], Decimal] = {}
        for order in working:
            if order.status.is_open:
                key = (order.symbol, order.side)
                pending[key] = pending.get(key, ZERO) + order.remaining_quantity
                prices.setdefault(order.symbol, order.risk_price or order.limit_price or ZERO)
        equity = portfolio.equity
        reviews = []
        for proposal in proposals:
            prices[proposal.symbol] = proposal.reference_price
            instrument = (instruments or {}).get(proposal.symbol) or Instrument(proposal.symbol)
            worst = _worst_case(held, pending, proposal) if pending else held
            review = self._review_one(proposal, worst, prices, equity, instrument)
            held[proposal.symbol] = (
                held.get(proposal.symbol, ZERO) + review.quantity * proposal.side.sign
            )
            reviews.append(review)
        return reviews

    def reviews_fill(self, order: Order, price: Decimal, *, rested: bool = False) -> bool:
        """Whether `fill_allowance` reviews a fill of `order` at `price` again, rather than
        allowing it whole: an order the gate reviewed that fills above the price it was
        reviewed at, or after resting (see `fill_allowance`)."""
        reviewed = order.risk_price
        return reviewed is not None and (price > reviewed or rested)

    def fill_allowance(
        self,
        order: Order,
        quantity: Decimal,
        price: Decimal,
        portfolio: Portfolio,
        instrument: Instrument | None = None,
        *,
        rested: bool = False,
    ) -> tuple[Decimal, str]:
        """How much of a fill of `quantity` at `price` the limits allow now, and why not all.

        An order the gate reviewed (`order.risk_price` set) that fills on the first bar it can,
        at or below the price it was reviewed at, keeps its approval: its notional and exposure
        are no larger than the gate saw. Above that price, or after resting (`rested`: the
        account may have changed since the review), the fill is reviewed again at its own price
        against the portfolio as it stands, so no gap, book or wait carries it past the limits."""
        reviewed = order.risk_price
        if reviewed is None or not (price > reviewed or rested):  # `reviews_fill`
            return quantity, ""
        # `review([proposal], portfolio, ...)` of the one proposal, nothing working: its
        # positions and marks, the proposal's price for its symbol, and the one review.
        proposal = OrderProposal(order.symbol, order.side, quantity, price)
        held, prices = _held_and_marks(portfolio)
        prices[order.symbol] = price
        instrument = instrument or Instrument(order.symbol)
        review = self._review_one(proposal, held, prices, portfolio.equity, instrument)
        if review.quantity == quantity:
            return quantity, ""
        why = (
            f"it rested since it was reviewed at {reviewed}"
            if price <= reviewed
            else f"above the {reviewed} it was reviewed at"
        )
        return review.quantity, (
            f"risk gate at fill: {order.symbol} fills at {price}, {why}; "
            + "; ".join(review.reasons)
        )

    def _review_one(
        self,
        proposal: OrderProposal,
        held: dict[str, Decimal],
        prices: dict[str, Decimal],
        equity: Decimal,
        instrument: Instrument,
    ) -> RiskReview:
        current = held.get(proposal.symbol, ZERO)
        signed = proposal.quantity * proposal.side.sign
        # The part of the order that shrinks the position always passes; only the rest is risk.
        reducing = min(proposal.quantity, abs(current)) if current * signed < 0 else ZERO
        adding = proposal.quantity - reducing
        if adding == ZERO:
            return RiskReview(proposal, Verdict.APPROVED, proposal.quantity, ())

        reasons: list[str] = []
        blocked = ""
        if self.tripped_reason:  # `tripped`
            blocked = self.tripped_reason
        elif self._daily_loss_hit:
            blocked = f"daily loss limit {self.limits.daily_loss_limit:.2%} reached: no new risk"
        elif equity <= ZERO:
            blocked = f"equity is {equity}: no new risk"
        if blocked:
            return self._result(proposal, reducing, [blocked])

        price = proposal.reference_price
        allowed = adding
        limits = self.limits
        # Any reducing part takes the position to flat first, so what is left is |current| - it.
        remaining = abs(current) - reducing
        position_room = limits.max_position_weight * equity / price - remaining
        if allowed > position_room:
            allowed = max(position_room, ZERO)
            reasons.append(f"position weight capped at {limits.max_position_weight}")
        # `sum(..., ZERO)` over the other symbols, unrolled: the same additions in the same
        # order, without a generator per review.
        others = ZERO
        for s, q in held.items():
            if s != proposal.symbol:
                others += abs(q) * prices.get(s, price)
        gross_now = others + abs(current + (reducing * proposal.side.sign)) * price
        gross_room = (limits.max_gross_exposure * equity - gross_now) / price
        if allowed > gross_room:
            allowed = max(gross_room, ZERO)
            reasons.append(f"gross exposure capped at {limits.max_gross_exposure}")
        if limits.max_net_exposure is not None:
            sign = proposal.side.sign
            net_now = (
                sum(
                    (q * prices.get(s, price) for s, q in held.items() if s != proposal.symbol),
                    ZERO,
                )
                + (current + reducing * sign) * price
            )
            # Adding moves the net in the order's direction; room is what the cap leaves there.
            net_room = (limits.max_net_exposure * equity - sign * net_now) / price
            if allowed > net_room:
                allowed = max(net_room, ZERO)
                reasons.append(f"net exposure capped at {limits.max_net_exposure}")
        if limits.max_order_notional is not None:
            order_room = limits.max_order_notional / price - reducing
            if allowed > order_room:
                allowed = max(order_room, ZERO)
                reasons.append(f"order notional capped at {limits.max_order_notional}")
        allowed = instrument.round_quantity(allowed)
        return self._result(proposal, reducing + allowed, reasons)

    @staticmethod
    def _result(proposal: OrderProposal, quantity: Decimal, reasons: list[str]) -> RiskReview:
        if quantity == proposal.quantity:
            return RiskReview(proposal, Verdict.APPROVED, quantity, tuple(reasons))
        if quantity == ZERO:
            return RiskReview(proposal, Verdict.REJECTED, ZERO, tuple(reasons))
        return RiskReview(proposal, Verdict.CAPPED, quantity, tuple(reasons))
