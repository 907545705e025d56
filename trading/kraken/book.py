"""Live quotes: the ticker's top of book, the order book, and what walking the book costs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from trading.domain import ZERO, Side


@dataclass(frozen=True, slots=True)
class Quote:
    """The ticker: best bid and ask with their sizes, and the last trade price. `time` is when
    it was read (Kraken's ticker carries no timestamp)."""

    symbol: str
    time: datetime
    bid: Decimal
    bid_size: Decimal
    ask: Decimal
    ask_size: Decimal
    last: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    """Bids best (highest) first, asks best (lowest) first."""

    symbol: str
    time: datetime
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]

    @property
    def best_bid(self) -> BookLevel | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> BookLevel | None:
        return self.asks[0] if self.asks else None

    def side_taken_by(self, side: Side) -> tuple[BookLevel, ...]:
        """The levels an order of `side` trades against: asks for a buy, bids for a sell."""
        return self.asks if side is Side.BUY else self.bids


@dataclass(frozen=True, slots=True)
class BookWalk:
    """What a taker order of `quantity` gets from the book: `filled` may fall short when the
    book (or the limit) runs out."""

    filled: Decimal
    notional: Decimal
    worst_price: Decimal | None

    @property
    def average_price(self) -> Decimal | None:
        return self.notional / self.filled if self.filled else None


def walk_book(
    levels: Sequence[BookLevel], side: Side, quantity: Decimal, limit: Decimal | None = None
) -> BookWalk:
    """Take `quantity` from `levels` (best first), never past `limit`: buys at the asks, sells
    at the bids, each level at its own price."""
    filled, notional, worst = ZERO, ZERO, None
    for level in levels:
        if filled >= quantity:
            break
        if limit is not None and (level.price > limit if side is Side.BUY else level.price < limit):
            break
        take = min(level.quantity, quantity - filled)
        filled += take
        notional += take * level.price
        worst = level.price
    return BookWalk(filled, notional, worst)
