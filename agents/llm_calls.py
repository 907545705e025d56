"""Every LLM call paid for and replayable: a cost record per call, a run budget in tokens and
dollars, and a response cache keyed by what was asked.

The cache key is a hash of (model, messages, tools, parameters) in canonical JSON, so the same
question gets the same stored answer: a run replays with zero LLM calls, and a competition or
an evolution run is reproducible.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    String,
    Text,
    bindparam,
    event,
    insert,
    select,
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


class CachedResponse(Base):
    __tablename__ = "llm_cache"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    response: Mapped[str] = mapped_column(Text)
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
        self._store_answer = _INSERT_OR_IGNORE[dialect](CachedResponse)
        self.engine = engine_for(parsed)
        # With no file (in memory) there is no log to write ahead or sync.
        if dialect == "sqlite" and not is_in_memory_sqlite(parsed):
            event.listen(self.engine, "connect", _wal_with_normal_sync)
        create_schema(self.engine, (LlmCallRecord, CachedResponse))

    def close(self) -> None:
        self.engine.dispose()

    def cached(self, key: str) -> Any | None:
        with self.engine.connect() as connection:
            text = connection.scalar(_ANSWER, {"key": key})
        return None if text is None else json.loads(text)

    def save(self, call: LlmCall, response: Any) -> None:
        """A fresh answer and its cost record in one transaction, so a crash leaves both or
        neither: never a paid call missing from the log, nor a logged call a replay cannot
        answer. The first answer for a key is kept: a replay must see what the original run
        saw, even if two agents asked the same question at once."""
        answer = {
            "key": call.cache_key,
            "model": call.model,
            "response": json.dumps(response, sort_keys=True, default=str),
            "stored_at": call.time,
        }
        with self.engine.begin() as connection:
            connection.execute(self._store_answer, answer)
            connection.execute(_LOG_CALL, _record(call))

    def record(self, call: LlmCall) -> None:
        """Log a call that stored nothing: one answered from the cache."""
        with self.engine.begin() as connection:
            connection.execute(_LOG_CALL, _record(call))

    def calls(self, run_id: str) -> list[LlmCall]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(LlmCallRecord)
                .where(LlmCallRecord.run_id == run_id)
                .order_by(LlmCallRecord.id)
            ).all()
            return [
                LlmCall(
                    run_id=r.run_id,
                    agent=r.agent,
                    model=r.model,
                    prompt_tokens=r.prompt_tokens,
                    completion_tokens=r.completion_tokens,
                    cost_usd=r.cost_usd,
                    latency_s=r.latency_s,
                    cache_key=r.cache_key,
                    cached=bool(r.cached),
                    time=r.time,
                )
                for r in rows
            ]


# Built once and given their values at execution: a statement built per call with .values()
# costs more in SQLAlchemy's coercion and cache keys than SQLite takes to run it.
_ANSWER = select(CachedResponse.response).where(CachedResponse.key == bindparam("key"))
_LOG_CALL = insert(LlmCallRecord)


def _record(call: LlmCall) -> dict[str, Any]:
    return {
        "run_id": call.run_id,
        "agent": call.agent,
        "model": call.model,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "cost_usd": call.cost_usd,
        "latency_s": call.latency_s,
        "cache_key": call.cache_key,
        "cached": int(call.cached),
        "time": call.time,
    }


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
