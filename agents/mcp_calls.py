"""Every MCP tool call an agent makes, stored beside the run's LLM calls so that a replay
needs neither the model nor the server.

A call is keyed by (server, tool, arguments, decision time) in canonical JSON: the same
question at the same moment gets the stored answer. Each server's tool listing is stored too,
since the tools offered are part of every LLM request (and of its cache key): a replay offers
the model exactly what the original offered, with the server absent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from trading.storage import UtcDateTime
from trading.storage_schema import Base, create_schema

LISTING = "tools/list"  # the pseudo-tool under which a server's listing is stored


def call_key(server: str, tool: str, arguments: Mapping[str, Any], at: datetime) -> str:
    canonical = json.dumps(
        {"server": server, "tool": tool, "arguments": dict(arguments), "at": at.isoformat()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class McpCallRecord(Base):
    __tablename__ = "mcp_calls"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    agent: Mapped[str] = mapped_column(String(64))
    server: Mapped[str] = mapped_column(String(64))
    tool: Mapped[str] = mapped_column(String(128))
    arguments: Mapped[str] = mapped_column(Text)
    # What the model was shown (already quoted and capped), or the listing's JSON.
    result: Mapped[str] = mapped_column(Text)
    error: Mapped[int] = mapped_column()
    time: Mapped[datetime] = mapped_column(UtcDateTime())


class StoredCall:
    """A stored answer: the text the model read, and whether it was a tool error."""

    __slots__ = ("error", "result")

    def __init__(self, result: str, error: bool) -> None:
        self.result = result
        self.error = error


class McpCallStore:
    """The `mcp_calls` table, in the database of the run's LLM call store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = engine.dialect.name
        insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
        self._save = insert(McpCallRecord).on_conflict_do_nothing()
        create_schema(engine, (McpCallRecord,))

    def get(self, key: str) -> StoredCall | None:
        with self.engine.connect() as connection:
            row = connection.execute(_GET, {"key": key}).first()
        return None if row is None else StoredCall(row.result, bool(row.error))

    def save(
        self,
        key: str,
        *,
        run_id: str,
        agent: str,
        server: str,
        tool: str,
        arguments: Mapping[str, Any],
        result: str,
        error: bool,
        time: datetime,
    ) -> None:
        """The first answer for a key is kept: a replay sees what the original saw."""
        row = {
            "key": key,
            "run_id": run_id,
            "agent": agent,
            "server": server,
            "tool": tool,
            "arguments": json.dumps(dict(arguments), sort_keys=True, default=str),
            "result": result,
            "error": int(error),
            "time": time,
        }
        with self.engine.begin() as connection:
            connection.execute(self._save, row)

    def latest_listing(self, server: str, identity: str) -> str | None:
        """The newest listing stored for the server: a listing that differs from the
        original's can only make the replay miss (tools are part of each LLM request's key),
        never answer wrongly."""
        arguments = json.dumps({"identity": identity}, sort_keys=True)
        with Session(self.engine) as session:
            return session.scalar(
                select(McpCallRecord.result)
                .where(
                    McpCallRecord.server == server,
                    McpCallRecord.tool == LISTING,
                    McpCallRecord.arguments == arguments,
                )
                .order_by(McpCallRecord.time.desc())
                .limit(1)
            )

    def calls(self, run_id: str) -> list[McpCallRecord]:
        """The run's tool calls (listings aside), in the order they were stored."""
        with Session(self.engine) as session:
            rows = session.scalars(
                select(McpCallRecord)
                .where(McpCallRecord.run_id == run_id, McpCallRecord.tool != LISTING)
                .order_by(McpCallRecord.time)
            ).all()
            session.expunge_all()
            return list(rows)


_GET = select(McpCallRecord.result, McpCallRecord.error).where(
    McpCallRecord.key == bindparam("key")
)
