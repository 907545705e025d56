"""Domain types. Money, prices and quantities are `Decimal`; times are timezone-aware UTC.

Orders are state machines fed by immutable events: `Order.apply` checks every transition against
one table, and fills are deduplicated by trade id so a replayed event cannot double a position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Final, NamedTuple, assert_never

from trading.errors import InvalidFillError, InvalidOrderError, InvalidTransitionError

ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class Liquidity(StrEnum):
    """Whether a fill added liquidity to the book (maker) or took it (taker); fees differ."""

    MAKER = "maker"
    TAKER = "taker"


class OrderStatus(StrEnum):
    INITIALIZED = "initialized"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"

    @property
    def is_open(self) -> bool:
        return self in _OPEN_STATUSES


_OPEN_STATUSES: Final = frozenset(
    {OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED}
)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable thing. `quantity_increment` is the smallest lot; sizes are rounded down to it."""

    symbol: str
    quote_currency: str = "USD"
    quantity_increment: Decimal = Decimal("0.0001")
    price_increment: Decimal = Decimal("0.01")

    def round_quantity(self, quantity: Decimal) -> Decimal:
        """Round towards zero to a whole number of increments, so rounding never buys more."""
        lots = (quantity / self.quantity_increment).to_integral_value(rounding=ROUND_DOWN)
        return lots * self.quantity_increment


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar. `time` labels the period's start; `close_time` is when it is complete, the
    first moment at which anything may know its high, low or close. A bar of a close-only series
    (`BarSeries.close_only`: daily adjusted closes) has None for open, high, low and volume:
    nothing invents them, and orders on it fill at its close (market on close)."""

    symbol: str
    time: datetime
    close_time: datetime
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    close: Decimal
    volume: Decimal | None

    @property
    def close_only(self) -> bool:
        return self.open is None


class EquityPoint(NamedTuple):
    """The account at one mark: the bar's `time`, the `cash` and the `equity` (cash plus the
    positions at their closes). A NamedTuple, not a dataclass: a run builds one per bar, and a
    tuple costs the least to build and to write out."""

    time: datetime
    cash: Decimal
    equity: Decimal


# ---- order events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderSubmitted:
    order_id: str
    time: datetime


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    order_id: str
    time: datetime


@dataclass(frozen=True, slots=True)
class OrderRejected:
    order_id: str
    time: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class OrderCanceled:
    order_id: str
    time: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class OrderFilled:
    order_id: str
    time: datetime
    trade_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    liquidity: Liquidity

    def trade_json(self) -> dict[str, str]:
        """The fill as a trade in JSON documents: exact decimal strings, ISO time."""
        return {
            "time": self.time.isoformat(),
            "symbol": self.symbol,
            "side": self.side.value,
            "quantity": str(self.quantity),
            "price": str(self.price),
            "fee": str(self.fee),
        }

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price


OrderEvent = OrderSubmitted | OrderAccepted | OrderRejected | OrderCanceled | OrderFilled
Fill = OrderFilled

# The single table of legal transitions. A fill moves to PARTIALLY_FILLED or FILLED depending on
# the quantity left, so fills list both targets and `apply` picks one.
_TRANSITIONS: Final[dict[tuple[OrderStatus, type], frozenset[OrderStatus]]] = {
    (OrderStatus.INITIALIZED, OrderSubmitted): frozenset({OrderStatus.SUBMITTED}),
    (OrderStatus.INITIALIZED, OrderRejected): frozenset({OrderStatus.REJECTED}),
    (OrderStatus.SUBMITTED, OrderAccepted): frozenset({OrderStatus.ACCEPTED}),
    (OrderStatus.SUBMITTED, OrderRejected): frozenset({OrderStatus.REJECTED}),
    (OrderStatus.SUBMITTED, OrderCanceled): frozenset({OrderStatus.CANCELED}),
    (OrderStatus.ACCEPTED, OrderFilled): frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED}
    ),
    (OrderStatus.ACCEPTED, OrderCanceled): frozenset({OrderStatus.CANCELED}),
    (OrderStatus.PARTIALLY_FILLED, OrderFilled): frozenset(
        {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED}
    ),
    (OrderStatus.PARTIALLY_FILLED, OrderCanceled): frozenset({OrderStatus.CANCELED}),
}


@dataclass(slots=True)
class Order:
    """A market or limit order. Its state changes only through `apply(event)`."""

    id: str
    symbol: str
    side: Side
    quantity: Decimal
    type: OrderType
    created_at: datetime
    limit_price: Decimal | None = None
    tag: str = ""
    # The price the risk gate reviewed the order at (None: not reviewed, such as an order
    # rebuilt from an exchange's records); a fill above it is reviewed again at its own price.
    risk_price: Decimal | None = None
    status: OrderStatus = OrderStatus.INITIALIZED
    filled_quantity: Decimal = ZERO
    fees: Decimal = ZERO
    reason: str = ""
    events: list[OrderEvent] = field(default_factory=list)
    _filled_notional: Decimal = ZERO
    _trade_ids: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.quantity > ZERO:
            raise InvalidOrderError(f"order quantity must be positive, got {self.quantity!r}")
        if self.type is OrderType.LIMIT:
            if self.limit_price is None or not self.limit_price > ZERO:
                raise InvalidOrderError(
                    f"a limit order needs a positive limit price, got {self.limit_price!r}"
                )
        elif self.limit_price is not None:
            raise InvalidOrderError("a market order takes no limit price")

    @property
    def limit(self) -> Decimal:
        """The limit price of a limit order."""
        if self.limit_price is None:
            raise InvalidOrderError(f"order {self.id!r} is a {self.type.value} order: no limit")
        return self.limit_price

    @property
    def remaining_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def average_fill_price(self) -> Decimal | None:
        if self.filled_quantity == ZERO:
            return None
        return self._filled_notional / self.filled_quantity

    def apply(self, event: OrderEvent) -> bool:
        """Apply one event; return False for a duplicate fill (same trade id), which changes
        nothing. Raise `InvalidTransitionError` for an event the current state does not accept,
        `InvalidFillError` for a fill that does not fit the order."""
        if not self.accepts(event):
            return False
        self.apply_accepted(event)
        return True

    def apply_accepted(self, event: OrderEvent) -> None:
        """`apply` for an event `accepts` has just approved, with nothing applied since: a
        caller that asked first (`ledger.book_fill`) need not have it checked twice."""
        # Fills first: an order takes more of them than of any other event.
        match event:
            case OrderFilled():
                quantity = event.quantity
                self._trade_ids.add(event.trade_id)
                filled = self.filled_quantity = self.filled_quantity + quantity
                self._filled_notional += quantity * event.price  # `event.notional`
                self.fees += event.fee
                self.status = (
                    OrderStatus.FILLED
                    if self.quantity - filled == ZERO  # `remaining_quantity`
                    else OrderStatus.PARTIALLY_FILLED
                )
            case OrderSubmitted():
                self.status = OrderStatus.SUBMITTED
            case OrderAccepted():
                self.status = OrderStatus.ACCEPTED
            case OrderRejected(reason=reason) | OrderCanceled(reason=reason):
                self.status = next(iter(_TRANSITIONS[(self.status, type(event))]))
                self.reason = reason
            case _:
                assert_never(event)
        self.events.append(event)

    def accepts(self, event: OrderEvent) -> bool:
        """Whether `apply(event)` would change the order, without changing it: False for a
        duplicate fill; raises as `apply` does for an event the order cannot take. Callers
        that book a fill elsewhere ask this first, so the order and the books move together."""
        if event.order_id != self.id:
            raise InvalidTransitionError(
                f"event for order {event.order_id!r} applied to order {self.id!r}"
            )
        if isinstance(event, OrderFilled) and event.trade_id in self._trade_ids:
            return False
        if (self.status, type(event)) not in _TRANSITIONS:
            raise InvalidTransitionError(
                f"order {self.id!r} is {self.status.value}; it cannot take {type(event).__name__}"
            )
        if isinstance(event, OrderFilled):
            self._check_fill(event)
        return True

    def _check_fill(self, fill: OrderFilled) -> None:
        if fill.side is not self.side or fill.symbol != self.symbol:
            raise InvalidFillError(f"fill {fill.trade_id!r} does not match order {self.id!r}")
        if not ZERO < fill.quantity <= self.quantity - self.filled_quantity:  # remaining
            raise InvalidFillError(
                f"fill {fill.trade_id!r} of {fill.quantity} does not fit the "
                f"{self.remaining_quantity} left on order {self.id!r}"
            )
