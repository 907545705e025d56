"""Arena runs in the run database, beside the LLM call log and response cache: the config (with
saved agents inlined), the providers it used (never a key: `ProvidersConfig.stored_form`), seeds,
the data files and a hash of the market data, the code version, the leaderboard and every
entrant run's equity curve and fills. `tradepit arena show` reprints
a run from here, and a replay compares its own runs with these.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    BigInteger,
    Engine,
    Integer,
    String,
    create_engine,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from agents.providers import ProvidersConfig
from agents.turn_counts import TurnCounts
from orchestration.arena.config import ArenaConfig, parse_config
from orchestration.arena.leaderboard import Leaderboard
from orchestration.arena.results import ArenaResult, EntrantRun, LlmUsage
from trading.errors import ConfigError
from trading.metrics import PerformanceMetrics
from trading.storage import DecimalText, UtcDateTime
from trading.storage_schema import Base, create_schema


class ArenaRunRecord(Base):
    __tablename__ = "arena_runs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime())
    replay_of: Mapped[str | None] = mapped_column(String(64), nullable=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    seeds: Mapped[dict[str, Any]] = mapped_column(JSON)
    models: Mapped[dict[str, Any]] = mapped_column(JSON)
    data_hash: Mapped[str] = mapped_column(String(64))
    data_files: Mapped[list[Any]] = mapped_column(JSON)
    code_version: Mapped[dict[str, Any]] = mapped_column(JSON)
    leaderboard: Mapped[dict[str, Any]] = mapped_column(JSON)
    replay_report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # None for a run of quant entrants only, and for runs stored before providers were.
    providers: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ArenaEntrantRunRecord(Base):
    __tablename__ = "arena_entrant_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    arena_id: Mapped[str] = mapped_column(String(64), index=True)
    entrant: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    repeat: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    final_equity: Mapped[Decimal] = mapped_column(DecimalText())
    kill_switch: Mapped[str] = mapped_column(String(256))
    round_trips: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    llm: Mapped[dict[str, Any]] = mapped_column(JSON)
    equity: Mapped[list[Any]] = mapped_column(JSON)
    fills: Mapped[list[Any]] = mapped_column(JSON)


@dataclass(frozen=True, slots=True)
class StoredArena:
    run_id: str
    created_at: datetime
    finished_at: datetime
    replay_of: str | None
    config: ArenaConfig
    seeds: dict[str, Any]
    models: dict[str, Any]
    data_hash: str
    data_files: list[str]
    code_version: dict[str, Any]
    leaderboard: Leaderboard
    replay_report: dict[str, Any] | None
    runs: list[EntrantRun]
    providers: ProvidersConfig | None = None


class ArenaStore:
    """Arena runs in any SQLAlchemy database (the run database by default)."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        create_schema(self.engine, (ArenaRunRecord, ArenaEntrantRunRecord))
        _add_providers_column(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def save(
        self,
        result: ArenaResult,
        board: Leaderboard,
        *,
        created_at: datetime,
        finished_at: datetime,
        code_version: dict[str, Any],
        data_files: Sequence[Path] = (),
        replay_of: str | None = None,
        replay_report: dict[str, Any] | None = None,
        providers: ProvidersConfig | None = None,
    ) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(
                ArenaRunRecord(
                    id=result.run_id,
                    name=result.config.name,
                    created_at=created_at,
                    finished_at=finished_at,
                    replay_of=replay_of,
                    config=result.config.model_dump(mode="json"),
                    seeds=result.seeds,
                    models=result.models,
                    data_hash=result.data_hash,
                    data_files=[str(f) for f in data_files],
                    code_version=code_version,
                    leaderboard=board.model_dump(mode="json"),
                    replay_report=replay_report,
                    providers=None if providers is None else providers.stored_form(),
                )
            )
            for run in result.runs:
                session.add(
                    ArenaEntrantRunRecord(
                        arena_id=result.run_id,
                        entrant=run.entrant,
                        kind=run.kind,
                        repeat=run.repeat,
                        seed=run.seed,
                        final_equity=run.final_equity,
                        kill_switch=run.kill_switch,
                        round_trips=run.round_trips,
                        metrics=run.metrics.model_dump(mode="json"),
                        llm=run.llm.to_json(),
                        equity=[[t.isoformat(), str(v)] for t, v in run.equity],
                        fills=run.fills,
                    )
                )

    def get(self, run_id: str) -> StoredArena:
        with Session(self.engine) as session:
            record = session.get(ArenaRunRecord, run_id)
            if record is None:
                known = self.run_ids()[-5:]
                raise ConfigError(
                    f"no arena run {run_id!r} in the database; latest: "
                    f"{', '.join(known) or 'none yet'}"
                )
            rows = session.scalars(
                select(ArenaEntrantRunRecord)
                .where(ArenaEntrantRunRecord.arena_id == run_id)
                .order_by(ArenaEntrantRunRecord.id)
            ).all()
            return StoredArena(
                run_id=record.id,
                created_at=record.created_at,
                finished_at=record.finished_at,
                replay_of=record.replay_of,
                config=parse_config(record.config, f"stored arena run {run_id!r}"),
                seeds=dict(record.seeds),
                models=dict(record.models),
                data_hash=record.data_hash,
                data_files=[str(f) for f in record.data_files],
                code_version=dict(record.code_version),
                leaderboard=Leaderboard.model_validate(record.leaderboard),
                replay_report=record.replay_report,
                runs=[_entrant_run(row) for row in rows],
                providers=_providers(run_id, record.providers),
            )

    def run_ids(self) -> list[str]:
        with Session(self.engine) as session:
            return list(
                session.scalars(select(ArenaRunRecord.id).order_by(ArenaRunRecord.created_at))
            )


def _add_providers_column(engine: Engine) -> None:
    """A database made before runs stored their providers gets the column (empty for them)."""
    columns = {c["name"] for c in inspect(engine).get_columns(ArenaRunRecord.__tablename__)}
    if "providers" not in columns:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE arena_runs ADD COLUMN providers JSON"))


def _providers(run_id: str, stored: dict[str, Any] | None) -> ProvidersConfig | None:
    if stored is None:
        return None
    try:
        return ProvidersConfig.model_validate(stored)
    except (ValidationError, ConfigError) as error:
        raise ConfigError(
            f"stored arena run {run_id!r}: its providers are unreadable: {error}"
        ) from None


def _entrant_run(row: ArenaEntrantRunRecord) -> EntrantRun:
    llm = row.llm
    return EntrantRun(
        entrant=row.entrant,
        kind=row.kind,  # type: ignore[arg-type]  # written from an EntrantKind
        repeat=row.repeat,
        seed=row.seed,
        equity=[(datetime.fromisoformat(t), Decimal(v)) for t, v in row.equity],
        fills=list(row.fills),
        metrics=PerformanceMetrics.model_validate(row.metrics),
        round_trips=row.round_trips,
        final_equity=row.final_equity,
        kill_switch=row.kill_switch,
        llm=LlmUsage(
            calls=int(llm["calls"]),
            cached=int(llm["cached"]),
            tokens=int(llm["tokens"]),
            cost_usd=Decimal(llm["cost_usd"]),
            paid_usd=Decimal(llm["paid_usd"]),
            answers=None if llm.get("answers") is None else TurnCounts.from_json(llm["answers"]),
        ),
    )


def differences(original: Sequence[EntrantRun], replayed: Sequence[EntrantRun]) -> list[str]:
    """What a replay did differently from its original, run by run; empty when they are equal
    in every equity point, every fill and every LLM call's count and tokens."""
    before = {(r.entrant, r.repeat): r for r in original}
    after = {(r.entrant, r.repeat): r for r in replayed}
    found = [f"{e} run {i}: missing from the replay" for e, i in sorted(before.keys() - after)]
    found += [f"{e} run {i}: not in the original" for e, i in sorted(after.keys() - before)]
    for key in sorted(before.keys() & after.keys()):
        old, new = before[key], after[key]
        label = f"{key[0]} run {key[1]}"
        if old.final_equity != new.final_equity:
            found.append(f"{label}: final equity {old.final_equity} then {new.final_equity}")
        if old.equity != new.equity:
            found.append(f"{label}: the equity curves differ")
        if old.fills != new.fills:
            found.append(f"{label}: {len(old.fills)} fills then {len(new.fills)}, not the same")
        if (old.llm.calls, old.llm.tokens) != (new.llm.calls, new.llm.tokens):
            found.append(
                f"{label}: {old.llm.calls} LLM calls ({old.llm.tokens} tokens) then "
                f"{new.llm.calls} ({new.llm.tokens})"
            )
    return found


def code_version() -> dict[str, Any]:
    """The package version and, in a git checkout, the commit: read from .git directly, so
    that no process is started."""
    try:
        version = importlib.metadata.version("tradepit")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"package": version, "commit": _git_commit(Path(__file__).resolve().parents[2])}


def _git_commit(root: Path) -> str | None:
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head or None  # a detached head is the commit itself
        ref = head.removeprefix("ref: ")
        loose = git / ref
        if loose.exists():
            return loose.read_text(encoding="utf-8").strip()
        for line in (git / "packed-refs").read_text(encoding="utf-8").splitlines():
            commit, _, name = line.partition(" ")
            if name == ref:
                return commit
    except OSError:
        return None  # not a git checkout (an installed package): the version must do
    return None
