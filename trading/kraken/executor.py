"""The Kraken executor: the same port as the paper executor, against Kraken's spot API.

Safe by construction:

- **Validate-only unless told otherwise.** Orders go out with `validate=true` (Kraken checks
  them and places nothing) unless the executor was built with `live=True`, and `live=True`
  without keys is a `ConfigError`, never a silent downgrade.
- **Never twice.** Each order gets a client order id (`cl_ord_id`, a UUID derived from the order
  id) that is written to the journal *before* AddOrder is sent. AddOrder is sent exactly once:
  a refusal (funds, invalid order, rate limit, nonce) rejects the order, an authentication
  error rejects it and stops the run, and a lost reply or timeout leaves it `unknown`. An
  unknown order is resolved by asking Kraken for open and then closed orders with that client
  order id (`poll`, `cancel` and `reconcile` do it), never by sending it again. Kraken's
  listings can lag its book, so an order not listed stays unknown until a lookup finds it or
  the `LookupGrace` has passed (several lookups over a minute by the clock); meanwhile no new
  live order for its symbol is sent, and `reconcile` names it.
- **Reads and cancels retry** with backoff (the client's `RetryPolicy` and injected sleep).
- **Reconcile before trading.** `reconcile()` catches up on every journalled order, then
  compares Kraken's open orders and balances with the journal and the expected balances; any
  disagreement raises `ReconcileError` with the whole report.

Fills come from Kraken's order records (`vol_exec`, `cost`, `fee`), each checked first
(`trading.kraken.answers`: a record that breaks a rule raises `VenueAnswerError` and books
nothing): `poll()` turns what was
executed since the last look into one `OrderFilled` per order and change, so a fill is emitted
once even across restarts (the journal keeps what was already reported), and `unbooked()`
makes up fills a caller's books lack after it died between a poll and its own commit. Either
way a fill moves its order and the ledger together or neither (`book_fill`). As the
trading loop's executor, `process_bar` polls the closed bar's symbol. Kraken's order record
does not say maker or taker; market orders are reported as taker, limit orders as maker.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from trading.clock import Clock
from trading.domain import (
    ZERO,
    Bar,
    Liquidity,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    Side,
)
from trading.errors import ConfigError, DataError
from trading.ids import TradeId
from trading.kraken.answers import (
    read_balances,
    read_order_record,
    read_section,
    read_txid,
    read_validated,
)
from trading.kraken.client import KrakenClient, Pair
from trading.kraken.errors import (
    KrakenAuthError,
    KrakenError,
    KrakenInvalidOrder,
    KrakenUnreachable,
    ReconcileError,
)
from trading.kraken.store import Journal, JournalEntry, OrderJournal, new_entry
from trading.ledger import Ledger, book_fill

_IDS: Final = uuid.UUID("6f1c1c52-7d0e-4c57-9a53-3e1f2b8d4a10")  # namespace of our cl_ord_ids
_QUERY_BATCH: Final = 50  # Kraken's QueryOrders takes at most 50 txids
_log = logging.getLogger(__name__)


def client_order_id(order_id: str) -> str:
    """The Kraken `cl_ord_id` of an order: a UUID determined by the order id, so the same order
    always carries the same id, to Kraken and in the journal."""
    return str(uuid.uuid5(_IDS, order_id))


@dataclass(frozen=True, slots=True)
class Booked:
    """What a caller's books hold of one order: quantity filled, its notional, its fees."""

    quantity: Decimal = ZERO
    notional: Decimal = ZERO
    fee: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class LookupGrace:
    """When an order whose AddOrder went unanswered, and that Kraken does not list, is
    concluded never placed: after `lookups` lookups by this executor that found nothing, the
    last at least `seconds` after AddOrder went out (by the executor's clock). A restart counts
    again from zero, which can only wait longer."""

    lookups: int = 3
    seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.lookups < 1 or not self.seconds >= 0:
            raise ConfigError(f"a lookup grace needs lookups >= 1 and seconds >= 0: {self!r}")


@dataclass(frozen=True)
class ReconcileReport:
    balances: dict[str, Decimal]
    open_orders: int
    events: list[OrderEvent] = field(default_factory=list)
    problems: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [f"Kraken reconcile: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        held = ", ".join(f"{a} {v}" for a, v in sorted(self.balances.items())) or "nothing"
        lines.append(f"  balances: {held}; open orders at Kraken: {self.open_orders}")
        return "\n".join(lines)


class KrakenExecutor:
    def __init__(
        self,
        client: KrakenClient,
        journal: OrderJournal,
        clock: Clock,
        *,
        live: bool = False,
        ledger: Ledger | None = None,
        grace: LookupGrace | None = None,
    ) -> None:
        if not client.has_credentials:
            raise ConfigError(
                "Kraken orders need KRAKEN_API_KEY and KRAKEN_API_SECRET"
                + (
                    " for live trading"
                    if live
                    else " even to validate (validate=true is a private endpoint); to trade on "
                    "paper without keys, use BookPaperExecutor"
                )
            )
        self.client = client
        self.journal = journal
        self.clock = clock
        self.live = live
        self.ledger = ledger
        self.grace = grace or LookupGrace()
        self.orders: dict[str, Order] = {}
        self._lookups: dict[str, int] = {}  # unanswered lookups by client order id
        self._restore()

    def __repr__(self) -> str:
        mode = "live" if self.live else "validate-only"
        return f"KrakenExecutor({self.client!r}, {mode}, {len(self.open_orders())} open)"

    # ---- the executor port --------------------------------------------------------------------

    def submit(self, order: Order) -> list[OrderEvent]:
        if order.id in self.orders or self.journal.by_order_id(order.id) is not None:
            return []  # idempotent by order id: this order was sent (or journalled) before
        now = self.clock.now()
        try:
            pair = self.client.pair(order.symbol)  # a Kraken outage raises before any change
        except DataError as error:
            self.orders[order.id] = order
            events = self._apply(order, OrderSubmitted(order.id, now))
            return events + self._apply(order, OrderRejected(order.id, now, str(error)))
        self.orders[order.id] = order
        events = self._apply(order, OrderSubmitted(order.id, now))
        blocking = self._unknown(pair.symbol)
        if blocking is not None:
            reason = (
                f"order {blocking.order_id!r} for {pair.symbol} is unknown at Kraken (AddOrder "
                f"got no answer and no lookup has found it yet); no new {pair.symbol} order "
                "until it is found or proven absent"
            )
            return events + self._apply(order, OrderRejected(order.id, now, reason))
        lots = pair.instrument().round_quantity(order.quantity)
        if lots != order.quantity:
            reason = (
                f"quantity {order.quantity} is not a multiple of Kraken's lot size "
                f"{pair.quantity_increment} for {pair.symbol}"
            )
            return events + self._apply(order, OrderRejected(order.id, now, reason))
        cl_ord_id = client_order_id(order.id)
        self.journal.record(
            new_entry(
                client_order_id=cl_ord_id,
                order_id=order.id,
                live=self.live,
                symbol=pair.symbol,
                pair=pair.id,
                side=order.side.value,
                type=order.type.value,
                quantity=order.quantity,
                limit_price=order.limit_price,
                now=now,
            )
        )
        return events + self._add_order(order, pair, cl_ord_id, now)

    def _add_order(
        self, order: Order, pair: Pair, cl_ord_id: str, now: datetime
    ) -> list[OrderEvent]:
        """Send AddOrder exactly once and turn what came back into events."""
        params = {
            "pair": pair.id,
            "type": order.side.value,
            "ordertype": order.type.value,
            "volume": str(order.quantity),
            "cl_ord_id": cl_ord_id,
        }
        if order.type is OrderType.LIMIT:
            params["price"] = str(order.limit)
        if not self.live:
            params["validate"] = "true"
        try:
            result = self.client.private("AddOrder", params, retry=False)
            txid = read_txid(result) if self.live else None
            said = read_validated(result)
        except KrakenUnreachable as error:  # no answer, or one that cannot be read
            if not self.live:
                reason = f"{error}: no readable answer to a validate-only order; nothing was placed"
                self.journal.update(cl_ord_id, now, status=Journal.REJECTED, reason=reason)
                return self._apply(order, OrderRejected(order.id, now, reason))
            # It may or may not have reached Kraken: only a query can tell. Never resend.
            reason = f"{error}: outcome unknown, to be resolved by querying Kraken"
            self.journal.update(cl_ord_id, now, status=Journal.UNKNOWN, reason=reason)
            _log.warning("order %s (%s) outcome unknown: %s", order.id, cl_ord_id, error)
            return []
        except KrakenAuthError as error:
            self.journal.update(cl_ord_id, now, status=Journal.REJECTED, reason=str(error))
            self._apply(order, OrderRejected(order.id, now, str(error)))
            raise
        except KrakenError as error:  # refused: funds, invalid, rate limit, nonce...
            self.journal.update(cl_ord_id, now, status=Journal.REJECTED, reason=str(error))
            return self._apply(order, OrderRejected(order.id, now, str(error)))
        if txid is None:
            reason = f"validate only: Kraken accepted {said!r}; nothing was placed"
            self.journal.update(cl_ord_id, now, status=Journal.VALIDATED, reason=reason)
            events = self._apply(order, OrderAccepted(order.id, now))
            return events + self._apply(order, OrderCanceled(order.id, now, reason))
        self.journal.update(cl_ord_id, now, status=Journal.OPEN, txid=txid)
        return self._apply(order, OrderAccepted(order.id, now))

    def cancel(self, order_id: str, reason: str) -> list[OrderEvent]:
        order = self.orders.get(order_id)
        entry = self.journal.by_order_id(order_id)
        if order is None or entry is None or not order.status.is_open:
            return []
        events: list[OrderEvent] = []
        if entry.status.unresolved:
            events += self._resolve(entry)
            entry = self._entry(entry.client_order_id)
            if not order.status.is_open or entry.txid is None:
                return events
        try:
            self.client.private("CancelOrder", {"txid": entry.txid or ""})
        except KrakenInvalidOrder as error:
            if "EOrder:Unknown order" not in error.codes:
                raise
            # No longer open at Kraken (filled or canceled meanwhile): the query below tells.
        query = {"txid": entry.txid or ""}
        found = read_section("QueryOrders", self.client.private("QueryOrders", query))
        if entry.txid in found:
            events += self._catch_up("QueryOrders", entry, found[entry.txid], reason)
        return events

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.status.is_open]

    # ---- keeping up with Kraken ---------------------------------------------------------------

    def poll(self, symbol: str | None = None) -> list[OrderEvent]:
        """Resolve unknown orders, then report what Kraken executed or canceled since the last
        look, as events (fills once each); only orders of `symbol` when one is given."""
        events: list[OrderEvent] = []
        for entry in self.journal.entries([Journal.PENDING, Journal.UNKNOWN]):
            if symbol is None or entry.symbol == symbol:
                events += self._resolve(entry)
        working = [
            e
            for e in self.journal.entries([Journal.OPEN])
            if e.txid and (symbol is None or e.symbol == symbol)
        ]
        for start in range(0, len(working), _QUERY_BATCH):
            batch = working[start : start + _QUERY_BATCH]
            query = {"txid": ",".join(e.txid or "" for e in batch)}
            found = read_section("QueryOrders", self.client.private("QueryOrders", query))
            for entry in batch:
                if entry.txid in found:
                    events += self._catch_up("QueryOrders", entry, found[entry.txid])
        return events

    def process_bars(self, bars: Sequence[Bar]) -> list[OrderEvent]:
        """Bars closed (the trading loop's cue): poll their symbols' orders, in symbol order,
        so what Kraken filled lands in the ledger. Nothing working, no request."""
        events: list[OrderEvent] = []
        for symbol in sorted({bar.symbol for bar in bars}):
            events += self.poll(symbol)
        return events

    def reconcile(
        self, expected_balances: Mapping[str, Decimal] | None = None, tolerance: Decimal = ZERO
    ) -> ReconcileReport:
        """Check Kraken against the journal before the first cycle. Raises `ReconcileError`
        listing every disagreement; returns the report when there is none."""
        events = self.poll()
        problems: list[str] = []
        kraken_open = read_section("OpenOrders", self.client.private("OpenOrders"), "open")
        ours = {e.client_order_id: e for e in self.journal.entries()}
        for txid, listed in kraken_open.items():
            info = read_section("OpenOrders", listed)
            entry = ours.get(str(info.get("cl_ord_id") or ""))
            descr = info.get("descr")
            said = descr.get("order", "?") if isinstance(descr, Mapping) else "?"
            if entry is None:
                problems.append(
                    f"Kraken has open order {txid} ({said}) that tradepit did not place"
                )
            elif entry.status is not Journal.OPEN:
                problems.append(
                    f"Kraken has order {txid} ({said}) open; the journal says "
                    f"{entry.status.value} for {entry.order_id!r}"
                )
        for entry in self.journal.entries([Journal.UNKNOWN, Journal.PENDING]):
            problems.append(
                f"order {entry.order_id!r} ({entry.client_order_id}) is unknown: AddOrder got "
                f"no answer and {self._lookups.get(entry.client_order_id, 0)} lookup(s) have not "
                f"found it at Kraken; no new {entry.symbol} order until it is found or proven "
                "absent"
            )
        for entry in self.journal.entries([Journal.OPEN]):
            if entry.txid not in kraken_open:
                problems.append(
                    f"the journal has {entry.order_id!r} ({entry.txid or 'no txid'}) "
                    f"{entry.status.value}, but Kraken does not hold it open"
                )
        balances = {
            self.client.asset_code(asset): amount
            for asset, amount in read_balances("Balance", self.client.private("Balance")).items()
        }
        for asset, expected in (expected_balances or {}).items():
            actual = balances.get(asset, ZERO)
            if abs(actual - expected) > tolerance:
                problems.append(f"{asset}: Kraken holds {actual}, expected {expected}")
        report = ReconcileReport(balances, len(kraken_open), events, tuple(problems))
        if problems:
            raise ReconcileError(report.text())
        return report

    def _resolve(self, entry: JournalEntry) -> list[OrderEvent]:
        """Find an order whose AddOrder went unanswered: open first, then closed. Not found
        in either, it stays unknown until the lookup grace has passed; then it never reached
        Kraken."""
        order = self._order(entry)
        now = self.clock.now()
        if not entry.live:
            reason = "validate-only order got no answer; nothing can have been placed"
            self.journal.update(entry.client_order_id, now, status=Journal.REJECTED, reason=reason)
            return self._apply(order, OrderRejected(order.id, now, reason))
        query = {"cl_ord_id": entry.client_order_id}
        endpoint = "OpenOrders"
        found = read_section(endpoint, self.client.private(endpoint, query), "open")
        if not found:
            start = entry.created_at - timedelta(minutes=5)
            closed = {**query, "start": str(int(start.timestamp()))}
            endpoint = "ClosedOrders"
            found = read_section(endpoint, self.client.private(endpoint, closed), "closed")
        if not found:
            looked = self._lookups[entry.client_order_id] = (
                self._lookups.get(entry.client_order_id, 0) + 1
            )
            waited = (now - entry.created_at).total_seconds()
            if looked < self.grace.lookups or waited < self.grace.seconds:
                _log.warning(
                    "order %s (%s) still unknown: not listed by Kraken in %d lookup(s) over %gs",
                    order.id,
                    entry.client_order_id,
                    looked,
                    waited,
                )
                return []
            reason = (
                f"no answer to AddOrder and Kraken has no order with client order id "
                f"{entry.client_order_id}: not found in {looked} lookups over {waited:g}s: "
                "it was never placed"
            )
            self.journal.update(entry.client_order_id, now, status=Journal.REJECTED, reason=reason)
            return self._apply(order, OrderRejected(order.id, now, reason))
        txid, info = next(iter(found.items()))
        entry = self.journal.update(entry.client_order_id, now, status=Journal.OPEN, txid=txid)
        self._lookups.pop(entry.client_order_id, None)
        _log.info("order %s resolved: Kraken holds it as %s", order.id, txid)
        events = self._apply(order, OrderAccepted(order.id, now))
        return events + self._catch_up(endpoint, entry, info)

    def _catch_up(
        self,
        endpoint: str,
        entry: JournalEntry,
        info: object,
        cancel_reason: str | None = None,
    ) -> list[OrderEvent]:
        """Book what Kraken's record `info` (from `endpoint`) adds to the journal's `entry`, once
        the record passed every rule (`read_order_record`): a broken one changes nothing."""
        order = self._order(entry)
        now = self.clock.now()
        record = read_order_record(endpoint, entry, info)
        executed, cost, fee = record.executed, record.cost, record.fee
        events: list[OrderEvent] = []
        delta, added_cost, added_fee = record.added(entry)
        if delta > ZERO:
            fill = OrderFilled(
                order_id=order.id,
                time=now,
                trade_id=_trade_id(entry, executed),
                symbol=order.symbol,
                side=order.side,
                quantity=delta,
                price=added_cost / delta,
                fee=added_fee,
                liquidity=Liquidity.TAKER if order.type is OrderType.MARKET else Liquidity.MAKER,
            )
            if book_fill(order, fill, self.ledger):
                events.append(fill)
        status = record.status
        journal = {"closed": Journal.CLOSED, "canceled": Journal.CANCELED}.get(status)
        if status == "expired":
            journal = Journal.CANCELED
        if journal is Journal.CLOSED and order.status.is_open:
            journal = Journal.CANCELED  # closed short of its volume: the rest is gone
        if journal is Journal.CANCELED and order.status.is_open:
            why = cancel_reason or record.reason or f"{status} by Kraken"
            events += self._apply(order, OrderCanceled(order.id, now, why))
        self.journal.update(
            entry.client_order_id, now, status=journal, executed=executed, cost=cost, fee=fee
        )
        return events

    # ---- state --------------------------------------------------------------------------------

    def unbooked(
        self, booked: Mapping[str, Booked], owns: Callable[[str], bool]
    ) -> list[OrderEvent]:
        """Fills the journal holds that the caller's books lack: a process that died after a
        poll reported them and before it stored them. `booked` is what the books hold per
        order id; `owns` picks the caller's orders. One fill per order makes up the difference
        (into the ledger, as a poll would), and an order Kraken has since closed is closed."""
        events: list[OrderEvent] = []
        for entry in self.journal.entries():
            held = booked.get(entry.order_id, Booked())
            if not owns(entry.order_id) or entry.executed <= held.quantity:
                continue
            order = self._order_at(entry, held.quantity, held.notional, held.fee)
            self.orders[order.id] = order
            delta = entry.executed - held.quantity
            fill = OrderFilled(
                order.id,
                self.clock.now(),
                _trade_id(entry, entry.executed),
                order.symbol,
                order.side,
                delta,
                (entry.cost - held.notional) / delta,
                entry.fee - held.fee,
                Liquidity.TAKER if order.type is OrderType.MARKET else Liquidity.MAKER,
            )
            if book_fill(order, fill, self.ledger):
                events.append(fill)
            if entry.status is Journal.CANCELED and order.status.is_open:
                why = entry.reason or "canceled by Kraken"
                events += self._apply(order, OrderCanceled(order.id, self.clock.now(), why))
        return events

    def _restore(self) -> None:
        """Rebuild the orders still working after a restart from the journal."""
        for entry in self.journal.entries([Journal.PENDING, Journal.UNKNOWN, Journal.OPEN]):
            order = self._order_at(entry, entry.executed, entry.cost, entry.fee)
            self.orders[order.id] = order

    @staticmethod
    def _order_at(entry: JournalEntry, executed: Decimal, cost: Decimal, fee: Decimal) -> Order:
        """The journal's order as it stood with `executed` of it filled for `cost` and `fee`."""
        order = Order(
            entry.order_id,
            entry.symbol,
            Side(entry.side),
            entry.quantity,
            OrderType(entry.type),
            entry.created_at,
            limit_price=entry.limit_price,
        )
        order.apply(OrderSubmitted(order.id, entry.created_at))
        if entry.txid is not None:
            order.apply(OrderAccepted(order.id, entry.updated_at))
        if executed > ZERO:
            order.apply(
                OrderFilled(
                    order.id,
                    entry.updated_at,
                    _trade_id(entry, executed),
                    order.symbol,
                    order.side,
                    executed,
                    cost / executed,
                    fee,
                    Liquidity.TAKER if order.type is OrderType.MARKET else Liquidity.MAKER,
                )
            )
        return order

    def _unknown(self, symbol: str) -> JournalEntry | None:
        """A live order of `symbol` whose fate Kraken has not told yet, when this executor
        places live orders (a validate-only one places nothing, so nothing can double)."""
        if not self.live:
            return None
        unresolved = self.journal.entries([Journal.PENDING, Journal.UNKNOWN])
        return next((e for e in unresolved if e.live and e.symbol == symbol), None)

    def _order(self, entry: JournalEntry) -> Order:
        order = self.orders.get(entry.order_id)
        if order is None:
            raise ReconcileError(f"journal order {entry.order_id!r} has no order in memory")
        return order

    def _entry(self, client_order_id: str) -> JournalEntry:
        entry = self.journal.get(client_order_id)
        if entry is None:
            raise ReconcileError(f"no journal entry {client_order_id!r}")
        return entry

    @staticmethod
    def _apply(order: Order, event: OrderEvent) -> list[OrderEvent]:
        return [event] if order.apply(event) else []


def _trade_id(entry: JournalEntry, executed: Decimal) -> str:
    """A Kraken fill's key: its order's txid and the quantity executed once it is booked. The
    spelling Kraken runs stored before `TradeId` (`txid:executed`), so a resume of one books
    no fill twice; an order Kraken never acknowledged spells its txid "None", as it did."""
    return str(TradeId(str(entry.txid), str(executed)))
