"""The ids the trading loop gives its orders and their fills: one spelling and one parse each.

An order's id is its idempotency key, `run-cycle-symbol`: the run, the cycle that sent it and
its symbol name the order, so a resumed run (or an exchange deduplicating client order ids, as
Kraken's `cl_ord_id` derives from it) can never take it twice.

A fill's id (`TradeId`) is what deduplicates fills (`trading.domain.Order`): the order it fills
as its venue names it, and which of that order's fills it is, as the venue counts them,
`order:fill`. Trade ids are stored as text and read back verbatim (a resume matches stored
fills to the checksums their cycle committed), never rebuilt from their parts, so runs stored
before this spelling (paper fills `order-N`, live paper `order-paper-N`) resume unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["OrderId", "TradeId"]


@dataclass(frozen=True, slots=True)
class OrderId:
    """An order's key in a run: the run, the cycle that sent it, its symbol."""

    run_id: str
    cycle: int
    symbol: str

    def __str__(self) -> str:
        return self.spell(self.run_id, self.cycle, self.symbol)

    @staticmethod
    def spell(run_id: str, cycle: int, symbol: str) -> str:
        """The key's text, `str(OrderId(run_id, cycle, symbol))`, without building the key:
        the cycle engine names every order it sends this way."""
        return f"{run_id}-{cycle}-{symbol}"

    @classmethod
    def parse(cls, text: str, run_id: str) -> OrderId | None:
        """The key `text` spells for run `run_id`, or None when it is not one of that run's.

        The run is given, not read: run ids and symbols may hold '-', and a plain prefix test
        would claim run "a-1"'s orders for run "a"."""
        found = re.fullmatch(rf"{re.escape(run_id)}-(?P<cycle>0|[1-9]\d*)-(?P<symbol>.+)", text)
        if found is None:
            return None
        return cls(run_id, int(found["cycle"]), found["symbol"])


@dataclass(frozen=True, slots=True)
class TradeId:
    """A fill's key: the order it fills, as its venue names it (an `OrderId` on paper, the
    txid on Kraken), and which fill of it this is, as the venue counts (on paper the order's
    event count or the executor's fill count, on Kraken the quantity executed so far)."""

    order: str
    fill: str

    def __post_init__(self) -> None:
        if not self.order or not self.fill or ":" in self.fill:
            raise ValueError(f"a trade id needs an order and a fill without ':', got {self!r}")

    def __str__(self) -> str:
        return f"{self.order}:{self.fill}"

    @classmethod
    def spell(cls, order: str, count: int) -> str:
        """`str(TradeId(order, str(count)))`, the same checks, for a fill counted by a number
        (which never is empty nor holds ':'): the paper executor names every fill this way."""
        if not order:
            cls(order, str(count))  # raises the constructor's error
        return f"{order}:{count}"

    @classmethod
    def parse(cls, text: str) -> TradeId | None:
        """The trade id `text` spells, or None when it is not one (an id stored before this
        spelling). The fill is what follows the last ':', since an order's name may hold one."""
        order, colon, fill = text.rpartition(":")
        if not colon or not order or not fill:
            return None
        return cls(order, fill)
