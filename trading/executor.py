"""The executor port. Paper and exchange adapters implement it and emit the same events."""

from __future__ import annotations

from typing import Protocol

from trading.domain import Order, OrderEvent


class Executor(Protocol):
    def submit(self, order: Order) -> list[OrderEvent]:
        """Send an order; returns the events it produced right away (submitted, accepted or
        rejected). Fills arrive later."""
        ...

    def cancel(self, order_id: str, reason: str) -> list[OrderEvent]:
        """Cancel a working order; an order that is no longer open produces no event."""
        ...

    def open_orders(self) -> list[Order]: ...
