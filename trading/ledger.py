"""The ledger: cash, positions at average cost, realised and unrealised PnL, fees, borrow costs.

Shorts are liabilities: a short sale credits its proceeds to cash and the position is marked at a
negative value, so equity is always cash plus the marked value of every position. A fill the
account cannot pay for is refused with the reason; quantities are never rounded away ("dust"
stays on the books until it is traded). A fill that breaks a rule of the books (a price or
quantity that is not positive, a negative fee) is refused whatever its source, and `book_fill`
moves an order and the ledger together or neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Final, NamedTuple

from trading.domain import ZERO, Order, OrderFilled, Side
from trading.errors import FatalError, InsufficientFundsError, InvalidFillError

SECONDS_PER_YEAR: Final = Decimal(365 * 24 * 3600)  # borrow accrues ACT/365, as brokers quote it


@dataclass(frozen=True, slots=True)
class MarginSettings:
    """How far the account may lean. The defaults are a cash account that may sell short
    against Reg T margin: cash never below zero, equity at least half the shorts' value."""

    allow_shorting: bool = True
    short_margin: Decimal = Decimal("0.5")
    max_cash_borrow: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.short_margin < ZERO or self.max_cash_borrow < ZERO:
            raise FatalError(f"margin settings must not be negative: {self!r}")


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """A position's life from flat back to flat (or to a flip); pnl is net of fees and borrow."""

    symbol: str
    opened_at: datetime
    closed_at: datetime
    pnl: Decimal


@dataclass(slots=True)
class Position:
    symbol: str
    quantity: Decimal = ZERO
    average_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    borrow_costs: Decimal = ZERO
    # The open round trip, for win rate and profit factor.
    trip_opened_at: datetime | None = None
    trip_pnl: Decimal = ZERO

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return self.quantity * (mark - self.average_price)


# PositionView and Portfolio are NamedTuples, as `EquityPoint`: read-only, and a replay builds
# both on every bar, where a frozen dataclass's `__init__` (a `object.__setattr__` per field)
# took ~0.6 us each and `tuple.__new__` on the fields takes ~0.08.
class PositionView(NamedTuple):
    symbol: str
    quantity: Decimal
    average_price: Decimal
    mark: Decimal
    market_value: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal


class Portfolio(NamedTuple):
    """A read-only picture of the account at one moment, for agents, tools and the risk gate."""

    time: datetime | None
    cash: Decimal
    equity: Decimal
    positions: dict[str, PositionView]
    realized_pnl: Decimal
    fees: Decimal
    borrow_costs: Decimal

    def quantity(self, symbol: str) -> Decimal:
        position = self.positions.get(symbol)
        return position.quantity if position is not None else ZERO

    def weight(self, symbol: str) -> Decimal:
        position = self.positions.get(symbol)
        if position is None or self.equity <= ZERO:
            return ZERO
        return position.market_value / self.equity

    @property
    def gross_exposure(self) -> Decimal:
        return sum((abs(p.market_value) for p in self.positions.values()), ZERO)


@dataclass(slots=True)
class Ledger:
    cash: Decimal
    margin: MarginSettings = field(default_factory=MarginSettings)
    positions: dict[str, Position] = field(default_factory=dict)
    marks: dict[str, Decimal] = field(default_factory=dict)
    fees: Decimal = ZERO
    borrow_costs: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    traded_notional: Decimal = ZERO
    round_trips: list[RoundTrip] = field(default_factory=list)
    last_accrual: datetime | None = None
    time: datetime | None = None

    def __post_init__(self) -> None:
        if self.cash < ZERO:
            raise FatalError(f"starting cash must not be negative, got {self.cash!r}")

    # ---- reading ----------------------------------------------------------------------------

    def mark_price(self, symbol: str) -> Decimal:
        mark = self.marks.get(symbol)
        if mark is not None:
            return mark
        position = self.positions.get(symbol)
        return position.average_price if position else ZERO

    def quantity(self, symbol: str) -> Decimal:
        position = self.positions.get(symbol)
        return position.quantity if position is not None else ZERO

    def market_value(self) -> Decimal:
        # `sum(..., ZERO)` of quantity x mark_price, unrolled: it runs several times a bar.
        total = ZERO
        marks = self.marks
        for symbol, position in self.positions.items():
            quantity = position.quantity
            if quantity:
                mark = marks.get(symbol)
                total += quantity * (position.average_price if mark is None else mark)
        return total

    def equity(self) -> Decimal:
        return self.cash + self.market_value()

    def short_value(self) -> Decimal:
        return sum(
            (-p.quantity * self.mark_price(s) for s, p in self.positions.items() if p.quantity < 0),
            ZERO,
        )

    def portfolio(self) -> Portfolio:
        views: dict[str, PositionView] = {}
        # `market_value()` summed in the same loop (the same products in the same order).
        total = ZERO
        marks = self.marks
        new = tuple.__new__  # what `PositionView._make` calls, without its Python frame
        for symbol, position in self.positions.items():
            quantity, average = position.quantity, position.average_price
            mark = marks.get(symbol)
            if mark is None:
                mark = average
            value = quantity * mark
            if quantity:
                total += value
            views[symbol] = new(PositionView, (
                symbol, quantity, average, mark, value, quantity * (mark - average),
                position.realized_pnl,
            ))  # fmt: skip
        cash = self.cash
        return new(Portfolio, (
            self.time, cash, cash + total, views, self.realized_pnl, self.fees, self.borrow_costs
        ))  # fmt: skip

    # ---- checks -----------------------------------------------------------------------------

    def refusal(
        self, symbol: str, side: Side, quantity: Decimal, price: Decimal, fee: Decimal
    ) -> str:
        """Why this fill cannot be paid for, or "" when it can."""
        signed = quantity * side.sign
        cash_after = self.cash - signed * price - fee
        if cash_after < -self.margin.max_cash_borrow:
            return (
                f"insufficient cash: {side.value} {quantity} {symbol} at {price} with fee {fee} "
                f"needs {signed * price + fee}, cash is {self.cash}"
            )
        position = self.positions.get(symbol)  # `quantity(symbol)`, without its call
        position_after = (ZERO if position is None else position.quantity) + signed
        if position_after < ZERO and side is Side.SELL:
            if not self.margin.allow_shorting:
                return f"short selling is not allowed: {side.value} {quantity} {symbol}"
            others = [
                (p.quantity, self.mark_price(s)) for s, p in self.positions.items() if s != symbol
            ]
            shorts_after = -position_after * price + sum(
                (-q * m for q, m in others if q < ZERO), ZERO
            )
            equity_after = (
                cash_after + position_after * price + sum((q * m for q, m in others), ZERO)
            )
            required = self.margin.short_margin * shorts_after
            if equity_after < required:
                return (
                    f"insufficient margin: shorts of {shorts_after} need equity of {required}, "
                    f"equity would be {equity_after}"
                )
        return ""

    # ---- changing ---------------------------------------------------------------------------

    def mark(self, symbol: str, price: Decimal) -> None:
        self.marks[symbol] = price

    def check_fill(self, fill: OrderFilled) -> None:
        """Raise if the books cannot take this fill: `InvalidFillError` for one that breaks a
        rule whatever the account holds, `InsufficientFundsError` for one it cannot pay for."""
        self.check_rules(fill)
        reason = self.refusal(fill.symbol, fill.side, fill.quantity, fill.price, fill.fee)
        if reason:
            raise InsufficientFundsError(reason)

    @staticmethod
    def check_rules(fill: OrderFilled) -> None:
        """Raise `InvalidFillError` for a fill that breaks a rule whatever the account holds
        (`check_fill`'s first half)."""
        broken = _broken_rule(fill)
        if broken:
            raise InvalidFillError(f"fill {fill.trade_id!r} of order {fill.order_id!r}: {broken}")

    def apply_fill(self, fill: OrderFilled) -> None:
        self.check_fill(fill)
        self.apply_checked_fill(fill)

    def apply_checked_fill(self, fill: OrderFilled) -> None:
        """`apply_fill` for a fill `check_fill` has just passed, with nothing booked since:
        `book_fill` checks before it moves the order, and need not check twice."""
        # The fill's fields read once each: a fill is booked on every trade of a run.
        symbol, quantity, price, fee, time = (
            fill.symbol, fill.quantity, fill.price, fill.fee, fill.time
        )  # fmt: skip
        position = self.positions.get(symbol)
        if position is None:  # not `setdefault(...)`: that builds a Position on every fill
            position = self.positions[symbol] = Position(symbol)
        signed = quantity * (1 if fill.side is Side.BUY else -1)  # `side.sign`, inline
        self.cash -= signed * price + fee
        self.fees += fee
        self.traded_notional += quantity * price  # `fill.notional`
        self.time = time
        position.fees += fee
        self.marks.setdefault(symbol, price)

        held = position.quantity
        if held == ZERO or (held > ZERO) == (signed > ZERO):
            total = abs(held) + quantity
            position.average_price = (abs(held) * position.average_price + quantity * price) / total
            position.quantity = held + signed
            if held == ZERO:
                position.trip_opened_at = time
                position.trip_pnl = ZERO
            position.trip_pnl -= fee
            return

        closing = min(quantity, abs(held))
        opening = quantity - closing
        realized = closing * (price - position.average_price) * (1 if held > ZERO else -1)
        closing_fee = fee * closing / quantity
        position.realized_pnl += realized
        self.realized_pnl += realized
        position.trip_pnl += realized - closing_fee
        position.quantity = held + signed
        if position.quantity == ZERO or opening > ZERO:
            self._close_trip(position, time)
        if opening > ZERO:
            position.average_price = price
            position.trip_opened_at = time
            position.trip_pnl = -(fee - closing_fee)
        elif position.quantity == ZERO:
            position.average_price = ZERO

    def accrue_borrow(self, now: datetime, annual_rate: Decimal) -> Decimal:
        """Charge borrow on every short from the last accrual to `now`; returns the charge."""
        previous, self.last_accrual = self.last_accrual, now
        if previous is None or annual_rate == ZERO or now <= previous:
            return ZERO
        fraction = Decimal((now - previous).total_seconds()) / SECONDS_PER_YEAR
        total = ZERO
        for symbol, position in self.positions.items():
            if position.quantity < ZERO:
                cost = -position.quantity * self.mark_price(symbol) * annual_rate * fraction
                position.borrow_costs += cost
                position.trip_pnl -= cost
                total += cost
        self.cash -= total
        self.borrow_costs += total
        return total

    def _close_trip(self, position: Position, now: datetime) -> None:
        opened = position.trip_opened_at or now
        self.round_trips.append(RoundTrip(position.symbol, opened, now, position.trip_pnl))
        position.trip_pnl = ZERO
        position.trip_opened_at = None


def _broken_rule(fill: OrderFilled) -> str:
    # A negative quantity would turn a buy into a sell that skips the margin check, a zero or
    # negative price makes units out of nothing, a negative fee pays the account for trading.
    if not fill.quantity.is_finite() or fill.quantity <= ZERO:
        return f"quantity must be positive, got {fill.quantity!r}"
    if not fill.price.is_finite() or fill.price <= ZERO:
        return f"price must be positive, got {fill.price!r}"
    if not fill.fee.is_finite() or fill.fee < ZERO:
        return f"fee must not be negative, got {fill.fee!r}"
    return ""


def book_fill(
    order: Order, fill: OrderFilled, ledger: Ledger | None, *, affordable: bool = False
) -> bool:
    """Book one fill on its order and in the ledger, both or neither: the order must accept it
    (not a duplicate, not more than it has left) and the ledger must be able to take it before
    either changes. Returns False for a duplicate trade id, which books nothing. With no
    ledger (an executor that only reports), only the order moves. `affordable`: the caller
    has just had `ledger.refusal` of exactly this fill find none, with nothing booked since
    (the paper executor sizes every fill so); the rules of the books are checked still."""
    if not order.accepts(fill):
        return False
    if ledger is not None:
        if affordable:
            ledger.check_rules(fill)
        else:
            ledger.check_fill(fill)
    order.apply_accepted(fill)
    if ledger is not None:
        ledger.apply_checked_fill(fill)
    return True
