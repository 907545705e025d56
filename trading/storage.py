"""Storage through SQLAlchemy: runs, orders, fills, equity, decisions and the trading loop's
cycles.

SQLite by default (a file per run mode, so paper and live never share one); any SQLAlchemy URL
works, PostgreSQL included. Decimals are stored as text because SQLite has no exact decimal type
and a float column would round money.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    Text,
    bindparam,
    cast,
    create_engine,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import Mapped, Session, defer, mapped_column
from sqlalchemy.pool import StaticPool

from trading.clock import moment_label, session_date
from trading.domain import EquityPoint, Order, OrderFilled
from trading.errors import ConfigError
from trading.storage_bulk import bulk_insert
from trading.storage_checksum import FILL_FIELDS, fills_checksum
from trading.storage_errors import report_unusable_databases
from trading.storage_schema import Base, create_schema, table_of
from trading.storage_statements import execute_compiled_once

# Re-exported: the other stores take their column types from here, writers their rows.
from trading.storage_types import CompactBars
from trading.storage_types import DecimalText as DecimalText
from trading.storage_types import UtcDateTime as UtcDateTime
from trading.storage_write import DecisionColumns as DecisionColumns
from trading.storage_write import DecisionRow as DecisionRow
from trading.storage_write import fill_row, jsonable, write_batch


class RunRecord(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class OrderRecord(Base):
    __tablename__ = "orders"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(DecimalText())
    limit_price: Mapped[Decimal | None] = mapped_column(DecimalText(), nullable=True)
    status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(Text, default="")
    filled_quantity: Mapped[Decimal] = mapped_column(DecimalText())
    fees: Mapped[Decimal] = mapped_column(DecimalText())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class FillRecord(Base):
    __tablename__ = "fills"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    trade_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(128))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(DecimalText())
    price: Mapped[Decimal] = mapped_column(DecimalText())
    fee: Mapped[Decimal] = mapped_column(DecimalText())
    liquidity: Mapped[str] = mapped_column(String(8))
    time: Mapped[datetime] = mapped_column(UtcDateTime())


class EquityRecord(Base):
    __tablename__ = "equity"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    time: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    cash: Mapped[Decimal] = mapped_column(DecimalText())
    equity: Mapped[Decimal] = mapped_column(DecimalText())


class DecisionRecord(Base):
    __tablename__ = "decisions"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime] = mapped_column(UtcDateTime())
    agent: Mapped[str] = mapped_column(String(128))
    targets: Mapped[dict[str, str]] = mapped_column(JSON)
    rationale: Mapped[str] = mapped_column(Text, default="")
    risk: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    abstentions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class CycleRecord(Base):
    """One committed cycle of a durable run, written in the same transaction as its orders,
    fills, equity point and decision: the row's presence means the whole cycle is stored."""

    __tablename__ = "cycles"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    cycle: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime] = mapped_column(UtcDateTime())
    # The bars the cycle settled on, so a resume can tell if the market data changed.
    bars: Mapped[list[dict[str, Any]]] = mapped_column(CompactBars())
    # The accounts after the cycle, which a resume must rebuild exactly.
    ledger: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The decision's numeric details (the decisions table predates them).
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # None is SQL's NULL, not the text "null".
    transcript: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True
    )
    # Written by runs stored before `AgentStateRecord`: the agent's state after every cycle.
    agent_state: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True
    )

    def bar_time(self) -> datetime:
        """The label of the first bar the cycle settled on; without bars, the cycle's time."""
        return datetime.fromisoformat(self.bars[0]["time"]) if self.bars else self.time

    def session(self) -> date:
        """The day a person reads for the cycle (`trading.clock.session_date`)."""
        return session_date(self.bar_time(), self.time)

    def moment(self) -> str:
        """The cycle's moment as tables show it (`trading.clock.moment_label`)."""
        return moment_label(self.bar_time(), self.time)


class AgentStateRecord(Base):
    """The agent's latest state in a durable run, which a resume restores: one row per run,
    replaced in the transaction of each cycle after which the state changed. A state per cycle
    cost a quant team 10 to 20 KB a cycle, almost all of the run's database."""

    __tablename__ = "agent_states"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    cycle: Mapped[int] = mapped_column(Integer)  # the cycle after which the agent was so
    state: Mapped[dict[str, Any]] = mapped_column(JSON)


class FillChecksumRecord(Base):
    """The checksum of the fills one cycle committed (`trading.storage_checksum`), written in
    the cycle's transaction. A table of its own, so databases written before it gain it."""

    __tablename__ = "fill_checksums"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    cycle: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    trade_ids: Mapped[list[str]] = mapped_column(JSON)


class RunLeaseRecord(Base):
    """Which process trades a run now (`trading.storage_lease`). No key to `runs`: a new run's
    lease is taken before its row is written."""

    __tablename__ = "run_leases"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(300))  # host:pid
    # Tells apart two holders with the same host:pid (two loops in one process).
    token: Mapped[str] = mapped_column(String(32))
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


# The run store's own tables in the one metadata (`trading.storage_schema.Base`).
RUN_RECORDS: tuple[type[Base], ...] = (
    RunRecord,
    OrderRecord,
    FillRecord,
    EquityRecord,
    DecisionRecord,
    CycleRecord,
    AgentStateRecord,
    FillChecksumRecord,
    RunLeaseRecord,
)


@dataclass(frozen=True, slots=True)
class RunEnd:
    """How a run ended: its status, its summary and when (`Store.finish_run`)."""

    status: str
    summary: dict[str, Any]
    finished_at: datetime


def default_database_url(home: Path, mode: str = "replay") -> str:
    """SQLite file for a run mode under the tradepit home; paper and live never share one."""
    if mode not in {"replay", "paper", "live"}:
        raise ConfigError(f"unknown run mode {mode!r}; expected replay, paper or live")
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / f'{mode}.db'}"


def engine_for(url: str | URL) -> Engine:
    """An engine for `url`, raising StorageError for a damaged or unreachable database
    (`trading.storage_errors`). An in-memory SQLite database lives in its connection, so it gets
    one connection for the whole process, shared by its threads; otherwise every session (and
    every thread) would see a new, empty database."""
    parsed = make_url(url)
    if is_in_memory_sqlite(parsed):
        engine = create_engine(
            parsed,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            json_serializer=_compact_json,
        )
    else:
        engine = create_engine(parsed, json_serializer=_compact_json)
    report_unusable_databases(engine)
    return engine


# JSON columns without the spaces after separators that json.dumps puts in by default.
_compact_json = functools.partial(json.dumps, separators=(",", ":"))


def is_in_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    )


class Store:
    def __init__(self, url: str) -> None:
        self.engine: Engine = engine_for(url)
        create_schema(self.engine, RUN_RECORDS)

    def close(self) -> None:
        self.engine.dispose()

    def create_run(
        self, run_id: str, kind: str, config: dict[str, Any], created_at: datetime
    ) -> None:
        # The bulk insert, whose statement is compiled once per process, not the ORM's unit of
        # work, which costs as much again (0.5 ms of a backtest's 1.3). The columns the ORM
        # writes for a new record: `finished_at` as NULL, `summary` left out, also NULL (given
        # as None, a JSON column would store "null").
        with self.engine.begin() as connection:
            bulk_insert(
                connection,
                table_of(RunRecord),
                {
                    "id": [run_id],
                    "kind": [kind],
                    "status": ["running"],
                    "created_at": [created_at],
                    "finished_at": [None],
                    "config": [jsonable(config)],
                },
            )

    def finish_run(
        self, run_id: str, status: str, summary: dict[str, Any], finished_at: datetime
    ) -> None:
        with self.engine.begin() as connection:
            _finish(connection, run_id, RunEnd(status, summary, finished_at))

    def set_status(self, run_id: str, status: str) -> None:
        with Session(self.engine) as session, session.begin():
            run = session.get(RunRecord, run_id)
            if run is None:
                raise ConfigError(f"no run {run_id!r} in the database")
            run.status = status

    def save_records(
        self,
        run_id: str,
        *,
        orders: Iterable[Order] = (),
        fills: Iterable[OrderFilled] = (),
        equity: Iterable[EquityPoint] = (),
        decisions: Iterable[DecisionRow] | DecisionColumns = (),
        first_decision_seq: int = 0,
        end: RunEnd | None = None,
    ) -> None:
        """Write a batch in one transaction; orders are upserted, since their state changes.
        With `end`, the same transaction finishes the run (`finish_run`): a backtest's records
        and its summary are stored together or not at all, in one commit."""
        with self.engine.begin() as connection:
            write_batch(connection, run_id, orders, fills, equity, decisions, first_decision_seq)
            if end is not None:
                _finish(connection, run_id, end)

    def commit_cycle(
        self,
        run_id: str,
        cycle: int,
        time: datetime,
        *,
        bars: list[dict[str, Any]],
        ledger: dict[str, Any],
        orders: Iterable[Order] = (),
        fills: Iterable[OrderFilled] = (),
        equity: Iterable[EquityPoint] = (),
        decision: DecisionRow | None = None,
        details: dict[str, Any] | None = None,
        transcript: dict[str, Any] | None = None,
        agent_state: dict[str, Any] | None = None,
    ) -> None:
        """Everything one cycle produced, in one transaction: after a crash a cycle is either
        wholly stored or not at all. The cycle row's key also stops two processes from both
        committing the same cycle of one run. `agent_state` is the agent's state after the
        cycle, given when it changed: it replaces the stored one (`agent_state`)."""
        fills = list(fills)
        with self.engine.begin() as connection:
            decisions = [decision] if decision is not None else []
            write_batch(connection, run_id, orders, fills, equity, decisions, cycle)
            connection.execute(
                insert(FillChecksumRecord),
                [
                    {
                        "run_id": run_id,
                        "cycle": cycle,
                        "sha256": fills_checksum(fill_row(run_id, f) for f in fills),
                        "trade_ids": [f.trade_id for f in fills],
                    }
                ],
            )
            connection.execute(
                insert(CycleRecord),
                [
                    {
                        "run_id": run_id,
                        "cycle": cycle,
                        "time": time,
                        "bars": jsonable(bars),
                        "ledger": jsonable(ledger),
                        "details": jsonable(details or {}),
                        "transcript": None if transcript is None else jsonable(transcript),
                        "agent_state": None,
                    }
                ],
            )
            if agent_state is not None:
                _replace_state(connection, run_id, cycle, agent_state)

    def run(self, run_id: str) -> RunRecord | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(RunRecord, run_id)

    def runs(self) -> Sequence[RunRecord]:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.scalars(select(RunRecord).order_by(RunRecord.created_at)).all()

    def fills(self, run_id: str) -> Sequence[FillRecord]:
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(FillRecord).where(FillRecord.run_id == run_id)
            return session.scalars(query.order_by(FillRecord.time, FillRecord.trade_id)).all()

    def orders(self, run_id: str) -> Sequence[OrderRecord]:
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(OrderRecord).where(OrderRecord.run_id == run_id)
            return session.scalars(query.order_by(OrderRecord.created_at)).all()

    def equity(self, run_id: str) -> Sequence[EquityRecord]:
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(EquityRecord).where(EquityRecord.run_id == run_id)
            return session.scalars(query.order_by(EquityRecord.time)).all()

    def decisions(self, run_id: str) -> Sequence[DecisionRecord]:
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(DecisionRecord).where(DecisionRecord.run_id == run_id)
            return session.scalars(query.order_by(DecisionRecord.seq)).all()

    def cycles(self, run_id: str, *, full: bool = True) -> Sequence[CycleRecord]:
        """The run's cycles in order; `full=False` leaves out transcripts and agent states
        (reading them raises), which a long team run makes large and a rebuild does not need."""
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(CycleRecord).where(CycleRecord.run_id == run_id)
            if not full:
                query = query.options(defer(CycleRecord.transcript, raiseload=True))
                query = query.options(defer(CycleRecord.agent_state, raiseload=True))
            return session.scalars(query.order_by(CycleRecord.cycle)).all()

    def cycle(self, run_id: str, cycle: int) -> CycleRecord | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(CycleRecord, (run_id, cycle))

    def agent_state(self, run_id: str) -> tuple[int, dict[str, Any]] | None:
        """The agent's latest stored state and the cycle after which it was stored; None if the
        agent keeps none. A run stored before `AgentStateRecord` has its states in its cycle
        rows, and then the latest of those counts."""
        with Session(self.engine) as session:
            record = session.get(AgentStateRecord, run_id)
            if record is not None:
                return record.cycle, record.state
            query = (
                select(CycleRecord.cycle, CycleRecord.agent_state)
                .where(CycleRecord.run_id == run_id, CycleRecord.agent_state.is_not(None))
                # None went into the column as JSON null, which is not SQL's NULL.
                .where(cast(CycleRecord.agent_state, Text) != "null")
                .order_by(CycleRecord.cycle.desc())
                .limit(1)
            )
            row = session.execute(query).first()
            return None if row is None else (row.cycle, row.agent_state)

    def fill_checksums(self, run_id: str) -> Sequence[FillChecksumRecord]:
        """The run's per-cycle fill checksums, by cycle; none for cycles written before them."""
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(FillChecksumRecord).where(FillChecksumRecord.run_id == run_id)
            return session.scalars(query.order_by(FillChecksumRecord.cycle)).all()

    def order_ids(self, run_id: str) -> set[str]:
        """The ids (idempotency keys) of every order stored for the run."""
        with Session(self.engine) as session:
            query = select(OrderRecord.order_id).where(OrderRecord.run_id == run_id)
            return set(session.scalars(query))


def _finish(connection: Connection, run_id: str, end: RunEnd) -> None:
    updated = execute_compiled_once(
        connection,
        "finish a run",
        lambda: (
            update(RunRecord)
            .where(RunRecord.id == bindparam("run_id"))
            .values(
                status=bindparam("status"),
                summary=bindparam("summary"),
                finished_at=bindparam("finished_at"),
            )
        ),
        {
            "run_id": run_id,
            "status": end.status,
            "summary": jsonable(end.summary),
            "finished_at": end.finished_at,
        },
    )
    if updated.rowcount != 1:
        raise ConfigError(f"no run {run_id!r} in the database")


def _replace_state(connection: Connection, run_id: str, cycle: int, state: dict[str, Any]) -> None:
    # Delete then insert: an upsert every database takes.
    connection.execute(delete(AgentStateRecord).where(AgentStateRecord.run_id == run_id))
    connection.execute(
        insert(AgentStateRecord), [{"run_id": run_id, "cycle": cycle, "state": jsonable(state)}]
    )


def fill_record_row(record: FillRecord) -> dict[str, Any]:
    """A stored fill as the columns its cycle's checksum covers."""
    return {field: getattr(record, field) for field in FILL_FIELDS}
