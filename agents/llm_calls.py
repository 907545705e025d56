"""Every LLM call paid for and replayable: a cost record per try, a run budget in tokens and
dollars, and each run's recording of what its models answered.

A call is keyed by a hash of what was asked (model reference, request body, seed) in canonical
JSON. A run records, per key and occurrence, the last try of each call: the answer, or the
error status, timeout or lost connection that ended it. Recordings belong to the run that
made them: a new run asks its models afresh (a changed server or model file, a temperature
above 0, must not be answered by old runs), and only a replay of a run, or a run continuing
itself (a resume, an evolution's repeated genome), reads them. Every try is logged with its
outcome: a try that timed out or was cut may still be billed, so it counts as a call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import (
    Float,
    Integer,
    String,
    Text,
    bindparam,
    event,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Mapped, Session, mapped_column

from trading.errors import FatalError
from trading.storage import DecimalText, UtcDateTime, engine_for, is_in_memory_sqlite
from trading.storage_schema import Base, create_schema


class BudgetExceeded(FatalError):
    """The run spent its token or dollar budget; it stops cleanly, saying which and how much."""


class InvalidCharge(FatalError, ValueError):
    """A call with negative tokens or cost: charged, it would give the budget back."""


def cache_key(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] = (),
    params: Mapping[str, Any] | None = None,
) -> str:
    """sha256 of the canonical JSON of everything that shapes the answer."""
    canonical = json.dumps(
        {"model": model, "messages": list(messages), "tools": list(tools), "params": params or {}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LlmCall:
    run_id: str
    agent: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    latency_s: float
    cache_key: str
    cached: bool
    time: datetime
    # answered; failed (an error status, or an answer refused for its usage); timed out; cut
    # (abandoned at the turn's deadline). All but answered carry no tokens: none were reported.
    outcome: str = "answered"

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Budget:
    """Token and dollar limits for one run; None means no limit on that measure."""

    def __init__(self, max_tokens: int | None = None, max_usd: Decimal | None = None) -> None:
        if max_tokens is not None and max_tokens <= 0:
            raise FatalError(f"a token budget must be positive, got {max_tokens!r}")
        if max_usd is not None and max_usd <= 0:
            raise FatalError(f"a dollar budget must be positive, got {max_usd!r}")
        self.max_tokens = max_tokens
        self.max_usd = max_usd
        self.tokens = 0
        self.usd = Decimal(0)

    def charge(self, call: LlmCall) -> None:
        """Add a call's cost (cached calls are free), then stop the run if a limit is passed.
        A negative count or cost is refused (`InvalidCharge`) and changes nothing."""
        if min(call.prompt_tokens, call.completion_tokens) < 0 or call.cost_usd < 0:
            raise InvalidCharge(
                f"a charge cannot be negative: {call.prompt_tokens} prompt and "
                f"{call.completion_tokens} completion tokens, ${call.cost_usd} ({call.model})"
            )
        if call.cached:
            return
        self.tokens += call.tokens
        self.usd += call.cost_usd
        self.ensure_room()

    def ensure_room(self) -> None:
        """Raise before another call if a limit is already reached."""
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            raise BudgetExceeded(
                f"token budget reached: {self.tokens} of {self.max_tokens} tokens spent"
            )
        if self.max_usd is not None and self.usd >= self.max_usd:
            raise BudgetExceeded(
                f"dollar budget reached: ${self.usd:.4f} of ${self.max_usd:.4f} spent"
            )


class LlmCallRecord(Base):
    __tablename__ = "llm_calls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    agent: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[Decimal] = mapped_column(DecimalText())
    latency_s: Mapped[float] = mapped_column(Float)
    cache_key: Mapped[str] = mapped_column(String(64))
    cached: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime] = mapped_column(UtcDateTime())
    outcome: Mapped[str] = mapped_column(String(16), default="answered")


@dataclass(frozen=True, slots=True)
class Recording:
    """How one call ended, as its last try saw it: `kind` is answer (an HTTP response, error
    statuses included, with its body) or timeout or unreachable (no response)."""

    kind: str
    status: int
    body: bytes
    tries: int
    detail: str = ""


class RecordedCall(Base):
    __tablename__ = "llm_recordings"
    run_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    occurrence: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    tries: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LlmCallStore:
    """The call log and the response cache, in the run database (SQLite or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        dialect = parsed.get_backend_name()
        if dialect not in _INSERT_OR_IGNORE:
            raise FatalError(
                f"the LLM call store needs SQLite or PostgreSQL, got {dialect!r} in {url!r}"
            )
        self._store_recording = _INSERT_OR_IGNORE[dialect](RecordedCall)
        self.engine = engine_for(parsed)
        # With no file (in memory) there is no log to write ahead or sync.
        if dialect == "sqlite" and not is_in_memory_sqlite(parsed):
            event.listen(self.engine, "connect", _wal_with_normal_sync)
        create_schema(self.engine, (LlmCallRecord, RecordedCall))
        _add_outcome_column(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def recording(self, run_id: str, key: str, occurrence: int) -> Recording | None:
        """How `run_id`'s `occurrence`-th call (from 0) with this key ended, if it recorded it."""
        with self.engine.connect() as connection:
            row = connection.execute(
                _RECORDING, {"run_id": run_id, "key": key, "occurrence": occurrence}
            ).first()
        if row is None:
            return None
        return Recording(row.kind, row.status, row.body.encode(), row.tries, row.detail)

    def save(
        self,
        calls: Sequence[LlmCall],
        recording: Recording | None = None,
        occurrence: int = 0,
    ) -> None:
        """A call's tries and how it ended, in one transaction, so a crash leaves both or
        neither: never a paid call missing from the log, nor a logged call a replay cannot
        answer. The first recording of an occurrence is kept: a replay must see what the
        original run saw, even if two agents asked the same question at once."""
        with self.engine.begin() as connection:
            if recording is not None and calls:
                last = calls[-1]
                connection.execute(
                    self._store_recording,
                    {
                        "run_id": last.run_id,
                        "key": last.cache_key,
                        "occurrence": occurrence,
                        "model": last.model,
                        "kind": recording.kind,
                        "status": recording.status,
                        "body": recording.body.decode(errors="replace"),
                        "tries": recording.tries,
                        "detail": recording.detail,
                        "stored_at": last.time,
                    },
                )
            if calls:
                connection.execute(_LOG_CALL, [_record(call) for call in calls])

    def calls(self, run_id: str) -> list[LlmCall]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(LlmCallRecord)
                .where(LlmCallRecord.run_id == run_id)
                .order_by(LlmCallRecord.id)
            ).all()
            return [_call(r) for r in rows]


# Built once and given their values at execution: a statement built per call with .values()
# costs more in SQLAlchemy's coercion and cache keys than SQLite takes to run it.
_RECORDING = select(RecordedCall).where(
    RecordedCall.run_id == bindparam("run_id"),
    RecordedCall.key == bindparam("key"),
    RecordedCall.occurrence == bindparam("occurrence"),
)
_LOG_CALL = insert(LlmCallRecord)
_CALL_FIELDS: Final = tuple(f.name for f in fields(LlmCall))


def _record(call: LlmCall) -> dict[str, Any]:
    """A call as its row's columns, which bear its fields' names; `cached` as 0 or 1."""
    values = {name: getattr(call, name) for name in _CALL_FIELDS}
    values["cached"] = int(call.cached)
    return values


def _call(row: LlmCallRecord) -> LlmCall:
    values = {name: getattr(row, name) for name in _CALL_FIELDS}
    # A row without an outcome predates the column (`_add_outcome_column`): an answer.
    values["cached"], values["outcome"] = bool(row.cached), row.outcome or "answered"
    return LlmCall(**values)


def _add_outcome_column(engine: Any) -> None:
    """A call log written before tries were logged with their outcome gains the column; its
    rows were all answered calls."""
    columns = {column["name"] for column in inspect(engine).get_columns("llm_calls")}
    if "outcome" not in columns:
        with engine.begin() as connection:
            connection.execute(
                text("ALTER TABLE llm_calls ADD COLUMN outcome VARCHAR(16) DEFAULT 'answered'")
            )


# Both dialects spell "insert unless the key is there" as ON CONFLICT DO NOTHING, in one
# statement, so a concurrent writer cannot slip in between a lookup and the insert.
_INSERT_OR_IGNORE: dict[str, Callable[[type[Base]], Any]] = {
    "sqlite": lambda table: sqlite_insert(table).on_conflict_do_nothing(),
    "postgresql": lambda table: postgresql_insert(table).on_conflict_do_nothing(),
}


def _wal_with_normal_sync(dbapi_connection: Any, connection_record: Any) -> None:
    """Write-ahead log with synchronous=NORMAL: a commit is one append to the log, with no
    fsync, instead of the rollback journal's several fsyncs. Each call still commits on its
    own, so a killed process loses nothing it committed; only a power loss or OS crash can
    roll back the last few commits, and the database stays consistent either way. Readers
    no longer wait for a writer, either."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
