"""The executor a resume rebuilds a run with when the run traded outside the engine (on a live
book, or on an exchange): it sends nothing and applies the fills the run stored.

Fills on a live book or an exchange cannot be produced again from bars, so the rebuild feeds
the ledger the committed fills instead, each at the step of the cycle where it first landed,
because the equity point and the risk gate saw the ledger between those steps:

- a fill stamped with its own order's creation time came back from `submit`, in the cycle
  that decided the order (paper on the book fills a market order at once);
- any other fill was found while the cycle settled (an exchange poll, a resting order on the
  book, or the start-up reconcile before it), in the cycle whose time window holds it.

The loop stamps fills with the engine's clock, which stands at the cycle's time, and moves it
to the wall clock before a start-up reconcile, so the windows never overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from trading.clock import Clock
from trading.domain import (
    Bar,
    Liquidity,
    Order,
    OrderAccepted,
    OrderEvent,
    OrderFilled,
    OrderSubmitted,
    Side,
)
from trading.executor import EnginePorts, ExecutorFactory
from trading.ledger import Ledger, book_fill
from trading.storage import Store

_Due = Callable[[OrderFilled], bool]


class RecordedFills:
    """Replays a run's stored fills into the ledger; never reaches an exchange."""

    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        fills: Sequence[OrderFilled],
        created: Mapping[str, datetime],
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.orders: dict[str, Order] = {}
        self._waiting = list(fills)
        self._created = dict(created)

    @property
    def unused(self) -> list[OrderFilled]:
        """Stored fills the rebuild never reached (a rebuild that differs leaves some)."""
        return list(self._waiting)

    def submit(self, order: Order) -> list[OrderEvent]:
        if order.id in self.orders:
            return []
        self.orders[order.id] = order
        events: list[OrderEvent] = [
            OrderSubmitted(order.id, order.created_at),
            OrderAccepted(order.id, order.created_at),
        ]
        for event in events:
            order.apply(event)
        return events + self._apply(lambda f: f.order_id == order.id and f.time == order.created_at)

    def cancel(self, order_id: str, reason: str) -> list[OrderEvent]:
        # What became of the exchange's orders is the exchange's record (reconciled at start-up).
        return []

    def open_orders(self) -> list[Order]:
        return []

    def process_bars(self, bars: Sequence[Bar]) -> list[OrderEvent]:
        # The stored fills of these bars, in the order the original run booked them.
        now = self.clock.now()
        symbols = {bar.symbol for bar in bars}
        return self._apply(
            lambda f: (
                f.symbol in symbols and f.time <= now and self._created.get(f.order_id) != f.time
            )
        )

    def _apply(self, due: _Due) -> list[OrderEvent]:
        taken = [f for f in self._waiting if due(f)]
        events: list[OrderEvent] = []
        for fill in taken:
            self._waiting.remove(fill)
            order = self.orders.get(fill.order_id)
            if order is None:
                self.ledger.apply_fill(fill)
            elif not book_fill(order, fill, self.ledger):
                continue
            events.append(fill)
        return events


def recorded_fills(store: Store, run_id: str) -> ExecutorFactory:
    """A factory for `CycleEngine` that replays what `run_id` stored."""
    fills = [
        OrderFilled(
            order_id=r.order_id,
            time=r.time,
            trade_id=r.trade_id,
            symbol=r.symbol,
            side=Side(r.side),
            quantity=r.quantity,
            price=r.price,
            fee=r.fee,
            liquidity=Liquidity(r.liquidity),
        )
        for r in store.fills(run_id)
    ]
    created = {r.order_id: r.created_at for r in store.orders(run_id)}

    def build(ports: EnginePorts) -> RecordedFills:
        return RecordedFills(ports.ledger, ports.clock, fills, created)

    return build
