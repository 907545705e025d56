"""The ids the trading loop gives its orders: one spelling and one parse.

An order's id is its idempotency key, `run-cycle-symbol`: the run, the cycle that sent it and
its symbol name the order, so a resumed run (or an exchange deduplicating client order ids, as
Kraken's `cl_ord_id` derives from it) can never take it twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["OrderId"]


@dataclass(frozen=True, slots=True)
class OrderId:
    """An order's key in a run: the run, the cycle that sent it, its symbol."""

    run_id: str
    cycle: int
    symbol: str

    def __str__(self) -> str:
        return f"{self.run_id}-{self.cycle}-{self.symbol}"

    @classmethod
    def parse(cls, text: str, run_id: str) -> OrderId | None:
        """The key `text` spells for run `run_id`, or None when it is not one of that run's.

        The run is given, not read: run ids and symbols may hold '-', and a plain prefix test
        would claim run "a-1"'s orders for run "a"."""
        found = re.fullmatch(rf"{re.escape(run_id)}-(?P<cycle>0|[1-9]\d*)-(?P<symbol>.+)", text)
        if found is None:
            return None
        return cls(run_id, int(found["cycle"]), found["symbol"])
