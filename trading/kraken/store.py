"""The Kraken order journal: every order's client order id, written before Kraken hears of it.

A row exists before the AddOrder request leaves (status `pending`), so a crash or a lost reply
can never leave an order Kraken knows and tradepit does not. The journal keeps what Kraken said
(txid, executed volume, cost, fee) so fills are emitted once, and holds no secret: keys live in
the environment only. Its own tables, so it can share a database with `trading.storage.Store`
(the live one, never the paper one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from trading.domain import ZERO
from trading.errors import FatalError
from trading.storage import DecimalText, UtcDateTime, engine_for
from trading.storage_schema import Base, create_schema


class Journal(StrEnum):
    """Where an order stands as far as tradepit knows."""

    PENDING = "pending"  # written, request not yet answered
    UNKNOWN = "unknown"  # the request may or may not have reached Kraken
    OPEN = "open"  # Kraken holds it (it may have partial fills)
    CLOSED = "closed"  # fully filled
    CANCELED = "canceled"  # canceled or expired, maybe after partial fills
    REJECTED = "rejected"  # Kraken refused it, or it never reached Kraken
    VALIDATED = "validated"  # validate-only: Kraken checked it, nothing was placed

    @property
    def unresolved(self) -> bool:
        return self in (Journal.PENDING, Journal.UNKNOWN)

    @property
    def working(self) -> bool:
        return self in (Journal.PENDING, Journal.UNKNOWN, Journal.OPEN)


FINAL: Final = frozenset({Journal.CLOSED, Journal.CANCELED, Journal.REJECTED, Journal.VALIDATED})


class KrakenOrderRow(Base):
    __tablename__ = "kraken_orders"
    client_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(128), unique=True)
    live: Mapped[bool] = mapped_column()
    symbol: Mapped[str] = mapped_column(String(32))
    pair: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(DecimalText())
    limit_price: Mapped[Decimal | None] = mapped_column(DecimalText(), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    txid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    executed: Mapped[Decimal] = mapped_column(DecimalText())
    cost: Mapped[Decimal] = mapped_column(DecimalText())
    fee: Mapped[Decimal] = mapped_column(DecimalText())
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


@dataclass(frozen=True, slots=True)
class JournalEntry:
    client_order_id: str
    order_id: str
    live: bool
    symbol: str
    pair: str
    side: str
    type: str
    quantity: Decimal
    limit_price: Decimal | None
    status: Journal
    txid: str | None
    executed: Decimal
    cost: Decimal
    fee: Decimal
    reason: str
    created_at: datetime
    updated_at: datetime


_ENTRY_FIELDS: Final = tuple(f.name for f in fields(JournalEntry))


class OrderJournal:
    def __init__(self, url: str) -> None:
        self._engine = engine_for(url)
        create_schema(self._engine, (KrakenOrderRow,))

    def close(self) -> None:
        self._engine.dispose()

    def record(self, entry: JournalEntry) -> None:
        """Write a new order; its client order id must be new."""
        with Session(self._engine) as session, session.begin():
            if session.get(KrakenOrderRow, entry.client_order_id) is not None:
                raise FatalError(
                    f"client order id {entry.client_order_id!r} is already in the journal"
                )
            session.add(KrakenOrderRow(**_fields(entry)))

    def update(
        self,
        client_order_id: str,
        now: datetime,
        *,
        status: Journal | None = None,
        txid: str | None = None,
        executed: Decimal | None = None,
        cost: Decimal | None = None,
        fee: Decimal | None = None,
        reason: str | None = None,
    ) -> JournalEntry:
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            row = session.get(KrakenOrderRow, client_order_id)
            if row is None:
                raise FatalError(f"no order {client_order_id!r} in the Kraken journal")
            if status is not None:
                row.status = status.value
            if txid is not None:
                row.txid = txid
            if executed is not None:
                row.executed = executed
            if cost is not None:
                row.cost = cost
            if fee is not None:
                row.fee = fee
            if reason is not None:
                row.reason = reason
            row.updated_at = now
            return _entry(row)

    def by_order_id(self, order_id: str) -> JournalEntry | None:
        with Session(self._engine) as session:
            row = session.scalars(
                select(KrakenOrderRow).where(KrakenOrderRow.order_id == order_id)
            ).first()
            return _entry(row) if row else None

    def get(self, client_order_id: str) -> JournalEntry | None:
        with Session(self._engine) as session:
            row = session.get(KrakenOrderRow, client_order_id)
            return _entry(row) if row else None

    def entries(self, statuses: Sequence[Journal] | None = None) -> list[JournalEntry]:
        query = select(KrakenOrderRow).order_by(KrakenOrderRow.created_at)
        if statuses is not None:
            query = query.where(KrakenOrderRow.status.in_([s.value for s in statuses]))
        with Session(self._engine) as session:
            return [_entry(row) for row in session.scalars(query)]


def new_entry(
    *,
    client_order_id: str,
    order_id: str,
    live: bool,
    symbol: str,
    pair: str,
    side: str,
    type: str,
    quantity: Decimal,
    limit_price: Decimal | None,
    now: datetime,
) -> JournalEntry:
    return JournalEntry(
        client_order_id=client_order_id,
        order_id=order_id,
        live=live,
        symbol=symbol,
        pair=pair,
        side=side,
        type=type,
        quantity=quantity,
        limit_price=limit_price,
        status=Journal.PENDING,
        txid=None,
        executed=ZERO,
        cost=ZERO,
        fee=ZERO,
        reason="",
        created_at=now,
        updated_at=now,
    )


def _fields(entry: JournalEntry) -> dict[str, object]:
    """An entry as its row's columns, which bear its fields' names; the status as its value."""
    values = {name: getattr(entry, name) for name in _ENTRY_FIELDS}
    values["status"] = entry.status.value
    return values


def _entry(row: KrakenOrderRow) -> JournalEntry:
    values: dict[str, Any] = {name: getattr(row, name) for name in _ENTRY_FIELDS}
    values["status"] = Journal(row.status)
    return JournalEntry(**values)
