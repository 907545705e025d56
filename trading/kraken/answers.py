"""Reading Kraken's answers about orders and balances, rule by rule, before anything is booked.

An exchange payload is input like any other: a `cost` of 0 would book bitcoin for nothing, a
`fee` of -1000 would pay the account for trading, a buy limit at 29,000 "filled" at 2,900,000
would empty it, a `vol_exec` that falls or passes the order's volume would undo or invent
fills. Each order record Kraken sends is read against what the journal already holds of that
order (`JournalEntry`), and one that breaks a rule raises `VenueAnswerError` naming the order,
the field and the value: the run stops with that report and nothing is booked.

A fill's price may pass its limit by `LIMIT_TOLERANCE` of the limit plus one unit of the last
place Kraken wrote `cost` to, since Kraken rounds each order's cumulative cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from trading.domain import ZERO
from trading.kraken.errors import KrakenUnreadable, VenueAnswerError
from trading.kraken.store import JournalEntry

LIMIT_TOLERANCE: Final = Decimal("0.001")  # 0.1% of the limit
STATUSES: Final = frozenset({"pending", "open", "closed", "canceled", "expired"})

# The error for one field of one record: (field, value, rule) -> VenueAnswerError.
_Broken = Callable[[str, object, str], VenueAnswerError]


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """What Kraken says of one order, checked: cumulative executed volume, cost and fee, its
    status (one of `STATUSES`) and why it ended, if it said."""

    executed: Decimal
    cost: Decimal
    fee: Decimal
    status: str
    reason: str

    def added(self, entry: JournalEntry) -> tuple[Decimal, Decimal, Decimal]:
        """Volume, cost and fee executed since what the journal holds."""
        return self.executed - entry.executed, self.cost - entry.cost, self.fee - entry.fee


def read_order_record(endpoint: str, entry: JournalEntry, info: object) -> OrderRecord:
    """Kraken's record of the journal's order `entry`, as `endpoint` answered it; raises
    `VenueAnswerError` for one that breaks a rule of the books."""

    def broken(field: str, value: object, rule: str) -> VenueAnswerError:
        return VenueAnswerError(endpoint, _subject(entry), field, value, rule, entry.order_id)

    if not isinstance(info, Mapping):
        raise broken("order", info, "is not an order record")
    status = info.get("status")
    if status not in STATUSES:
        raise broken("status", status, f"is none of Kraken's {', '.join(sorted(STATUSES))}")
    amounts = {}
    for field in ("vol_exec", "cost", "fee"):
        amount = _decimal(info.get(field))
        if amount is None or amount < ZERO:
            raise broken(field, info.get(field), "is not a non-negative number")
        amounts[field] = amount
    executed, cost, fee = amounts["vol_exec"], amounts["cost"], amounts["fee"]
    volume = info.get("vol")
    if volume is not None and _decimal(volume) != entry.quantity:
        raise broken("vol", volume, f"is not the order's volume {entry.quantity}")
    if executed > entry.quantity:
        raise broken("vol_exec", info["vol_exec"], f"exceeds the order's volume {entry.quantity}")
    if executed < entry.executed:
        raise broken("vol_exec", info["vol_exec"], f"fell below the {entry.executed} seen before")
    if cost < entry.cost:
        raise broken("cost", info["cost"], f"fell below the {entry.cost} seen before")
    if fee < entry.fee:
        raise broken("fee", info["fee"], f"fell below the {entry.fee} seen before")
    if fee > cost:
        raise broken("fee", info["fee"], f"exceeds the cost {cost} traded")
    if executed == entry.executed:
        if (cost, fee) != (entry.cost, entry.fee):
            raise broken(
                "cost" if cost != entry.cost else "fee",
                info["cost"] if cost != entry.cost else info["fee"],
                f"changed while vol_exec stayed at {entry.executed}",
            )
    else:
        _check_price(entry, executed - entry.executed, cost - entry.cost, cost, broken)
    reason = info.get("reason")
    return OrderRecord(executed, cost, fee, str(status), str(reason) if reason else "")


def read_txid(result: object) -> str:
    """The txid of a placed order from AddOrder's result; `KrakenUnreadable` when it holds
    none, since the order may then be placed or not."""
    txids = result.get("txid") if isinstance(result, Mapping) else None
    if isinstance(txids, list) and len(txids) == 1 and isinstance(txids[0], str) and txids[0]:
        return txids[0]
    raise KrakenUnreadable(f"Kraken AddOrder: an answer without one txid: {result!r:.80}")


def read_validated(result: object) -> str:
    """What Kraken said of a validate-only order ("buy 0.01 XBTUSD @ limit 29000")."""
    if not isinstance(result, Mapping):
        raise KrakenUnreadable(f"Kraken AddOrder: an answer that is no object: {result!r:.80}")
    descr = result.get("descr")
    said = descr.get("order") if isinstance(descr, Mapping) else None
    return said if isinstance(said, str) else ""


def read_section(endpoint: str, result: object, key: str | None = None) -> dict[str, Any]:
    """The object an answer holds (under `key`, when given: OpenOrders' "open"), or
    `VenueAnswerError` when it holds something else."""
    found = result.get(key) if key is not None and isinstance(result, Mapping) else result
    if not isinstance(found, Mapping):
        field = key or "result"
        raise VenueAnswerError(endpoint, "its result", field, found, "is not an object")
    return dict(found)


def read_balances(endpoint: str, result: object) -> dict[str, Decimal]:
    """Kraken's balances by its asset ids, each a number."""
    balances = {}
    for asset, amount in read_section(endpoint, result).items():
        value = _decimal(amount)
        if value is None:
            raise VenueAnswerError(endpoint, f"balance {asset!r}", asset, amount, "is no number")
        balances[str(asset)] = value
    return balances


def _check_price(
    entry: JournalEntry, added: Decimal, added_cost: Decimal, cost: Decimal, broken: _Broken
) -> None:
    if added_cost <= ZERO:
        raise broken("cost", str(cost), f"did not grow with {added} more executed")
    limit = entry.limit_price
    if limit is None:
        return
    places = cost.as_tuple().exponent  # an int: cost is finite
    slack = Decimal(1).scaleb(places if isinstance(places, int) else 0)
    price = added_cost / added
    if entry.side == "buy" and added_cost > added * limit * (1 + LIMIT_TOLERANCE) + slack:
        raise broken("cost", str(cost), f"prices {added} at {price}, above the buy limit {limit}")
    if entry.side == "sell" and added_cost < added * limit * (1 - LIMIT_TOLERANCE) - slack:
        raise broken("cost", str(cost), f"prices {added} at {price}, below the sell limit {limit}")


def _decimal(value: object) -> Decimal | None:
    """A finite number from Kraken's string (or a JSON number), or None."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _subject(entry: JournalEntry) -> str:
    return f"order {entry.order_id!r} ({entry.txid or entry.client_order_id})"
