"""Every run in a run database, whatever made it: backtests and trades (the `runs` table, with
their orders, fills, equity, decisions, cycles and agent state), arenas (`arena_runs` and their
entrant runs) and evolutions (`evolution_runs`, generations, evaluations, folds); the LLM calls
each logged under its id go with it. Listed, summarised, deleted with all their rows in one
transaction, and the database vacuumed to give the freed space back.

Kept on delete: the LLM response cache, which any run may answer from (a replay of another
run would pay again for what it lost), and the Kraken order journal, the record of orders
sent to an exchange.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, Engine, Table, delete, func, inspect, select, text
from sqlalchemy.engine import make_url

from agents.llm_calls import LlmCallRecord, RecordedCall
from agents.mcp_calls import McpCallRecord
from orchestration.arena.store import ArenaEntrantRunRecord, ArenaRunRecord
from orchestration.evolution.store import EVOLUTION_RECORDS, EvolutionRunRecord
from trading.errors import ConfigError
from trading.storage import RUN_RECORDS, RunRecord, engine_for, is_in_memory_sqlite
from trading.storage_schema import table_of

Kind = Literal["backtest", "trade", "arena", "evolve"]
KINDS: tuple[Kind, ...] = get_args(Kind)

CALL_RECORDS = (LlmCallRecord, RecordedCall, McpCallRecord)


@dataclass(frozen=True, slots=True)
class RunEntry:
    """One run as `runs list` shows it."""

    run_id: str
    kind: Kind
    status: str
    created_at: datetime
    finished_at: datetime | None
    label: str  # the agent or team, the arena's or the evolution's name
    symbols: tuple[str, ...]
    result: str  # the outcome in a few words; "" while it has none
    details: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "label": self.label,
            "symbols": list(self.symbols),
            "result": self.result,
        }


class RunCatalog:
    """The runs of one database (any SQLAlchemy URL). A SQLite file that does not exist holds
    no runs and is not created; only the tables that exist are read."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.url = parsed.render_as_string(hide_password=True)  # as messages name it
        self._sqlite = parsed.get_backend_name() == "sqlite"
        missing = (
            self._sqlite
            and not is_in_memory_sqlite(parsed)
            and not Path(str(parsed.database)).exists()
        )
        self.engine: Engine | None = None if missing else engine_for(parsed)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    def runs(self, kind: str | None = None) -> list[RunEntry]:
        """Every run, oldest first; `kind` keeps one kind."""
        wanted = check_kind(kind)
        found = [r for r in self._entries() if wanted is None or r.kind == wanted]
        return sorted(found, key=lambda r: (r.created_at, r.run_id))

    def get(self, run_id: str, kind: str | None = None) -> RunEntry:
        """The run named `run_id` (of `kind`, where ids are shared), with its rows counted."""
        wanted = check_kind(kind)
        matches = [r for r in self._entries() if r.run_id == run_id]
        chosen = [r for r in matches if wanted is None or r.kind == wanted]
        if not chosen:
            latest = ", ".join(r.run_id for r in self.runs(wanted)[-5:]) or "none"
            of_kind = f"{wanted} run" if wanted else "run"
            raise ConfigError(f"no {of_kind} {run_id!r} in the database; latest: {latest}")
        if len(chosen) > 1:
            kinds = " and ".join(r.kind for r in chosen)
            raise ConfigError(f"{run_id!r} names a {kinds} run; say which with --kind")
        entry = chosen[0]
        rows = self._count(entry)
        return replace(entry, details={**entry.details, "rows": rows})

    def delete(self, run_id: str, kind: str | None = None) -> dict[str, int]:
        """Delete the run and all its rows, in one transaction; the rows deleted, by table."""
        entry = self.get(run_id, kind)
        deleted: dict[str, int] = {}
        with self._require().begin() as connection:
            for table, where in self._owned(entry):
                count = connection.execute(delete(table).where(where)).rowcount
                deleted[table.name] = deleted.get(table.name, 0) + count
        return deleted

    def size(self) -> int:
        """The database's size in bytes: a SQLite file's pages, a PostgreSQL database's."""
        engine = self._require()
        with engine.connect() as connection:
            if self._sqlite:
                pages = connection.execute(text("PRAGMA page_count")).scalar_one()
                page_size = connection.execute(text("PRAGMA page_size")).scalar_one()
                return int(pages) * int(page_size)
            if engine.dialect.name == "postgresql":
                query = text("SELECT pg_database_size(current_database())")
                return int(connection.execute(query).scalar_one())
        raise ConfigError(f"sizes and vacuum are for SQLite and PostgreSQL, not {self.url!r}")

    def vacuum(self) -> tuple[int, int]:
        """Rebuild the database to give deleted rows' space back; its bytes before and after."""
        before = self.size()
        engine = self._require()
        # VACUUM cannot run inside a transaction.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM"))
        return before, self.size()

    # ---- internals ------------------------------------------------------------------------

    def _require(self) -> Engine:
        if self.engine is None:
            raise ConfigError(f"no database at {self.url!r}")
        return self.engine

    def _tables(self) -> set[str]:
        return set() if self.engine is None else set(inspect(self.engine).get_table_names())

    def _entries(self) -> list[RunEntry]:
        if self.engine is None:
            return []
        tables = self._tables()
        entries: list[RunEntry] = []
        with self.engine.connect() as connection:
            if RunRecord.__tablename__ in tables:
                for row in connection.execute(select(table_of(RunRecord))):
                    entries.append(_stored_run(row._mapping))
            if ArenaRunRecord.__tablename__ in tables:
                for row in connection.execute(select(table_of(ArenaRunRecord))):
                    entries.append(_arena_run(row._mapping))
            if EvolutionRunRecord.__tablename__ in tables:
                for row in connection.execute(select(table_of(EvolutionRunRecord))):
                    entries.append(_evolution_run(row._mapping))
        return entries

    def _owned(self, entry: RunEntry) -> list[tuple[Table, ColumnElement[bool]]]:
        """Every selection of the run's rows, children before the run's own row."""
        run_id = entry.run_id
        # What the run's agents asked: model calls and MCP tool calls, keyed by the run.
        calls = [table_of(record) for record in CALL_RECORDS]
        runs: list[tuple[Table, ColumnElement[bool]]]
        if entry.kind in ("backtest", "trade"):
            root = table_of(RunRecord)
            # Every table of the run store keyed by run, those added later included.
            runs = [
                (t, t.c.run_id == run_id)
                for t in map(table_of, reversed(RUN_RECORDS))
                if "run_id" in t.c and t is not root
            ]
            runs += [(t, t.c.run_id == run_id) for t in calls] + [(root, root.c.id == run_id)]
        elif entry.kind == "arena":
            entrants = table_of(ArenaEntrantRunRecord)
            root = table_of(ArenaRunRecord)
            runs = [
                (entrants, entrants.c.arena_id == run_id),
                # Its entrants' calls: "ARENA/ENTRANT/REPEAT".
                *((t, t.c.run_id.startswith(f"{run_id}/", autoescape=True)) for t in calls),
                (root, root.c.id == run_id),
            ]
        else:
            root = table_of(EvolutionRunRecord)
            runs = [
                (t, t.c.run_id == run_id)
                for t in map(table_of, reversed(EVOLUTION_RECORDS))
                if "run_id" in t.c
            ]
            # Its evaluations' calls: "RUN-WINDOW-GENOME".
            runs += [
                *((t, t.c.run_id.startswith(f"{run_id}-", autoescape=True)) for t in calls),
                (root, root.c.id == run_id),
            ]
        tables = self._tables()
        return [(table, where) for table, where in runs if table.name in tables]

    def _count(self, entry: RunEntry) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._require().connect() as connection:
            for table, where in self._owned(entry):
                query = select(func.count()).select_from(table).where(where)
                counts[table.name] = (
                    counts.get(table.name, 0) + connection.execute(query).scalar_one()
                )
        return counts


def check_kind(kind: str | None) -> Kind | None:
    if kind is None:
        return None
    for known in KINDS:
        if kind == known:
            return known
    raise ConfigError(f"--kind takes one of {', '.join(KINDS)}; got {kind!r}")


def _stored_run(row: Any) -> RunEntry:
    config, summary = row["config"] or {}, row["summary"] or {}
    kind: Kind = "backtest" if row["kind"] == "backtest" else "trade"
    final = summary.get("final_equity")
    return RunEntry(
        run_id=row["id"],
        kind=kind,
        status=row["status"],
        created_at=row["created_at"],
        finished_at=None if row["finished_at"] is None else row["finished_at"],
        label=str(config.get("agent", "")),
        symbols=tuple(config.get("symbols", ())),
        result="" if final is None else f"final equity {final}",
        details={
            "window": [config.get("start"), config.get("end")],
            "cash": config.get("cash"),
            "summary": summary,
        },
    )


def _arena_run(row: Any) -> RunEntry:
    board = row["leaderboard"] or {}
    ranked = board.get("rows") or []
    return RunEntry(
        run_id=row["id"],
        kind="arena",
        status="finished",  # an arena is stored when it ends
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        label=str(row["name"]),
        symbols=tuple(board.get("symbols", ())),
        result=f"winner {ranked[0]['entrant']}" if ranked else "",
        details={
            "window": [board.get("start"), board.get("end")],
            "replay_of": row["replay_of"],
            "leaderboard": [
                {k: r.get(k) for k in ("rank", "entrant", "total_return", "sharpe", "max_drawdown")}
                for r in ranked
            ],
        },
    )


def _evolution_run(row: Any) -> RunEntry:
    config, result = row["config"] or {}, row["result"] or {}
    market = config.get("market", {})
    adopted = result.get("adopted")
    return RunEntry(
        run_id=row["id"],
        kind="evolve",
        status=row["status"],
        created_at=row["created_at"],
        finished_at=row["updated_at"] if row["status"] == "finished" else None,
        label=str(config.get("name", "")),
        symbols=tuple(market.get("symbols", ())),
        result="" if not result else ("adopted a genome" if adopted else "adopted none"),
        details={
            "window": [market.get("start"), market.get("end")],
            "fitness": config.get("fitness"),
            "result": result,
        },
    )
