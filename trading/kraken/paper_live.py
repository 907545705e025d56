"""Paper trading on live Kraken books: nothing is sent to Kraken, fills come from its book.

A market order fills at once against the current book, walking it level by level (buys at the
asks, sells at the bids); what the book cannot supply is canceled. A limit order that crosses
the book takes what it can up to its limit (taker) and rests; a resting order fills at its limit
(maker) once a later book trades through it, up to the size shown there. Fees are Kraken's:
`kraken_costs()`. The ledger refuses what the cash cannot pay, as in the paper executor, and
the order is rejected with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Final, Protocol

from trading.clock import Clock
from trading.costs import CostModel
from trading.domain import (
    ZERO,
    Bar,
    Instrument,
    Liquidity,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
)
from trading.errors import DataError
from trading.ids import TradeId
from trading.kraken.book import BookLevel, OrderBook, walk_book
from trading.kraken.client import Pair
from trading.ledger import Ledger, book_fill
from trading.risk import RiskGate

# Kraken Pro spot fees at the lowest 30-day volume tier ($0-$10,000): 0.25% maker, 0.40% taker.
KRAKEN_MAKER_FEE_BPS: Final = Decimal(25)
KRAKEN_TAKER_FEE_BPS: Final = Decimal(40)


def kraken_costs(pair: Pair | None = None) -> CostModel:
    """Kraken's fees as a cost model: the first tier Kraken publishes for `pair` (AssetPairs
    `fees` and `fees_maker`), else the lowest-tier defaults. The book walk is the slippage, so
    no spread or impact is added on top."""
    taker = pair.taker_fee_bps if pair and pair.taker_fee_bps is not None else None
    maker = pair.maker_fee_bps if pair and pair.maker_fee_bps is not None else None
    return CostModel(
        taker_fee_bps=KRAKEN_TAKER_FEE_BPS if taker is None else taker,
        maker_fee_bps=KRAKEN_MAKER_FEE_BPS if maker is None else maker,
        participation_cap=Decimal(1),
    )


class BookSource(Protocol):
    def order_book(self, symbol: str, depth: int = 25) -> OrderBook: ...


class BookPaperExecutor:
    def __init__(
        self,
        ledger: Ledger,
        books: BookSource,
        clock: Clock,
        costs: CostModel | None = None,
        instrument_for: Callable[[str], Instrument] | None = None,
        depth: int = 100,
        gate: RiskGate | None = None,
    ) -> None:
        """`gate` re-checks at fill time the orders it reviewed (`RiskGate.fill_allowance`):
        a book walked above the last close must not carry an order past the limits."""
        self.ledger = ledger
        self.gate = gate
        self.books = books
        self.clock = clock
        self.costs = costs or kraken_costs()
        self._instrument_for = instrument_for or Instrument
        self.depth = depth
        self.orders: dict[str, Order] = {}
        self._fills = 0
        self._gate_cut = ""  # why the gate cut the last fill taken, if it did

    # ---- the executor port --------------------------------------------------------------------

    def submit(self, order: Order) -> list[OrderEvent]:
        if order.id in self.orders:
            return []
        now = self.clock.now()
        self.orders[order.id] = order
        events = self._apply(order, OrderSubmitted(order.id, now))
        instrument = self._instrument_for(order.symbol)
        if instrument.round_quantity(order.quantity) != order.quantity:
            reason = (
                f"quantity {order.quantity} is not a multiple of the lot size "
                f"{instrument.quantity_increment} for {order.symbol}"
            )
            return events + self._apply(order, OrderRejected(order.id, now, reason))
        try:
            book = self.books.order_book(order.symbol, self.depth)
        except DataError as error:
            return events + self._apply(order, OrderRejected(order.id, now, str(error)))
        limit = order.limit_price if order.type is OrderType.LIMIT else None
        levels = book.side_taken_by(order.side)
        walk = walk_book(levels, order.side, order.quantity, limit)
        if walk.filled > ZERO:
            fee = self._fee(order, walk.filled, walk.notional, Liquidity.TAKER)
            refusal = self.ledger.refusal(
                order.symbol, order.side, walk.filled, walk.notional / walk.filled, fee
            )
            if refusal:
                return events + self._apply(order, OrderRejected(order.id, now, refusal))
        events += self._apply(order, OrderAccepted(order.id, now))
        events += self._take(order, levels, limit, Liquidity.TAKER)
        if order.type is OrderType.MARKET and order.status.is_open:
            reason = self._gate_cut or (
                f"the {order.symbol} book holds only {order.filled_quantity} to take"
            )
            events += self._apply(order, OrderCanceled(order.id, now, reason))
        elif self._gate_cut and order.status.is_open:
            events += self._apply(order, OrderCanceled(order.id, now, self._gate_cut))
        return events

    def cancel(self, order_id: str, reason: str) -> list[OrderEvent]:
        order = self.orders.get(order_id)
        if order is None or not order.status.is_open:
            return []
        return self._apply(order, OrderCanceled(order.id, self.clock.now(), reason))

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.status.is_open]

    # ---- simulation ---------------------------------------------------------------------------

    def process_bars(self, bars: Sequence[Bar]) -> list[OrderEvent]:
        """Bars closed (the trading loop's cue): resting limit orders of their symbols fill
        against each book as it is now, in symbol order. No resting order, no request."""
        events: list[OrderEvent] = []
        for symbol in sorted({bar.symbol for bar in bars}):
            if any(o.symbol == symbol and o.type is OrderType.LIMIT for o in self.open_orders()):
                events += self.process_book(self.books.order_book(symbol, self.depth))
        return events

    def process_book(self, book: OrderBook) -> list[OrderEvent]:
        """Fill resting limit orders that this book trades through, at their limit (maker)."""
        events: list[OrderEvent] = []
        for order in self.open_orders():
            if order.symbol == book.symbol and order.type is OrderType.LIMIT:
                levels = book.side_taken_by(order.side)
                events += self._take(order, levels, order.limit, Liquidity.MAKER, rested=True)
                if self._gate_cut and order.status.is_open:
                    now = self.clock.now()
                    events += self._apply(order, OrderCanceled(order.id, now, self._gate_cut))
        return events

    def _take(
        self,
        order: Order,
        levels: tuple[BookLevel, ...],
        limit: Decimal | None,
        liquidity: Liquidity,
        *,
        rested: bool = False,
    ) -> list[OrderEvent]:
        self._gate_cut = ""
        walk = walk_book(levels, order.side, order.remaining_quantity, limit)
        if walk.filled == ZERO:
            return []
        # A taker pays each level's price; a resting maker order trades at its own limit.
        notional = walk.notional if liquidity is Liquidity.TAKER else walk.filled * order.limit
        price = notional / walk.filled
        if self.gate is not None:
            instrument = self._instrument_for(order.symbol)
            allowed, why = self.gate.fill_allowance(
                order, walk.filled, price, self.ledger.portfolio(), instrument, rested=rested
            )
            if allowed < walk.filled:
                self._gate_cut = why
                if allowed == ZERO:
                    return []
                walk = walk_book(levels, order.side, allowed, limit)
                notional = walk.notional if liquidity is Liquidity.TAKER else allowed * order.limit
                price = notional / walk.filled
        fee = self._fee(order, walk.filled, notional, liquidity)
        if self.ledger.refusal(order.symbol, order.side, walk.filled, price, fee):
            return []  # the cash no longer covers it: the order keeps waiting
        self._fills += 1
        fill = OrderFilled(
            order_id=order.id,
            time=self.clock.now(),
            trade_id=str(TradeId(order.id, str(self._fills))),
            symbol=order.symbol,
            side=order.side,
            quantity=walk.filled,
            price=price,
            fee=fee,
            liquidity=liquidity,
        )
        return [fill] if book_fill(order, fill, self.ledger) else []

    def _fee(
        self, order: Order, quantity: Decimal, notional: Decimal, liquidity: Liquidity
    ) -> Decimal:
        return self.costs.fee(quantity, notional / quantity, liquidity).total

    @staticmethod
    def _apply(order: Order, event: OrderEvent) -> list[OrderEvent]:
        return [event] if order.apply(event) else []
