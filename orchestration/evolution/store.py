"""Evolution runs in the run database: the run, every generation, every evaluation and every
fold's adoption decision, each committed as it completes.

A generation is written in one transaction with the evaluations it needed, so an interrupted
run restarts from its last whole generation with nothing evaluated twice; floats travel as
JSON numbers (Python writes the shortest repr, which reads back to the same float) and
per-bar returns as raw float64 bytes, so a resumed run computes on exactly the same values.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import JSON, Float, Integer, LargeBinary, String, Text, create_engine, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from orchestration.evolution.evaluate import Evaluation
from orchestration.evolution.genes import Genome
from trading.errors import ConfigError
from trading.storage import UtcDateTime
from trading.storage_schema import Base, create_schema


class EvolutionRunRecord(Base):
    __tablename__ = "evolution_runs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class GenerationRecord(Base):
    __tablename__ = "evolution_generations"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fold: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    population: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    scores: Mapped[list[float]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class EvaluationRecord(Base):
    __tablename__ = "evolution_evaluations"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[str] = mapped_column(String(64), primary_key=True)
    genome_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    genome: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    returns: Mapped[bytes] = mapped_column(LargeBinary)
    final_equity: Mapped[str] = mapped_column(String(64))
    llm_cost_usd: Mapped[str] = mapped_column(String(64))
    llm_calls: Mapped[int] = mapped_column(Integer)
    engine: Mapped[str] = mapped_column(String(16))


class FoldRecord(Base):
    __tablename__ = "evolution_folds"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fold: Mapped[int] = mapped_column(Integer, primary_key=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    incumbent: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")


# The evolution store's own tables in the one metadata (`trading.storage_schema.Base`).
EVOLUTION_RECORDS: tuple[type[Base], ...] = (
    EvolutionRunRecord,
    GenerationRecord,
    EvaluationRecord,
    FoldRecord,
)


class EvolutionStore:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        create_schema(self.engine, EVOLUTION_RECORDS)

    def close(self) -> None:
        self.engine.dispose()

    def create_run(self, run_id: str, config: dict[str, Any], now: datetime) -> None:
        with Session(self.engine) as session, session.begin():
            if session.get(EvolutionRunRecord, run_id) is not None:
                raise ConfigError(f"an evolution run {run_id!r} already exists")
            session.add(
                EvolutionRunRecord(
                    id=run_id, status="running", created_at=now, updated_at=now, config=config
                )
            )

    def run(self, run_id: str) -> EvolutionRunRecord:
        with Session(self.engine) as session:
            record = session.get(EvolutionRunRecord, run_id)
            if record is None:
                known = session.scalars(
                    select(EvolutionRunRecord.id).order_by(EvolutionRunRecord.created_at)
                ).all()
                listing = ", ".join(known[-5:]) or "none"
                raise ConfigError(
                    f"no evolution run {run_id!r} in this database (latest: {listing})"
                )
            session.expunge(record)
            return record

    def set_status(
        self, run_id: str, status: str, now: datetime, result: dict[str, Any] | None = None
    ) -> None:
        with Session(self.engine) as session, session.begin():
            record = session.get(EvolutionRunRecord, run_id)
            if record is None:
                raise ConfigError(f"no evolution run {run_id!r} in this database")
            record.status = status
            record.updated_at = now
            if result is not None:
                record.result = result

    def save_generation(
        self,
        run_id: str,
        fold: int,
        generation: int,
        population: list[Genome],
        scores: list[float],
        evaluations: Iterable[Evaluation],
        now: datetime,
    ) -> None:
        with Session(self.engine) as session, session.begin():
            self._add_evaluations(session, run_id, evaluations)
            session.add(
                GenerationRecord(
                    run_id=run_id,
                    fold=fold,
                    generation=generation,
                    population=[g.to_json() for g in population],
                    scores=list(scores),
                    created_at=now,
                )
            )

    def save_fold(
        self,
        run_id: str,
        fold: int,
        report: dict[str, Any],
        incumbent: Genome,
        evaluations: Iterable[Evaluation],
    ) -> None:
        with Session(self.engine) as session, session.begin():
            self._add_evaluations(session, run_id, evaluations)
            session.add(
                FoldRecord(run_id=run_id, fold=fold, report=report, incumbent=incumbent.to_json())
            )

    def generations(self, run_id: str) -> dict[tuple[int, int], tuple[list[Genome], list[float]]]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(GenerationRecord).where(GenerationRecord.run_id == run_id)
            ).all()
            return {
                (r.fold, r.generation): (
                    [Genome.from_json(g) for g in r.population],
                    [float(s) for s in r.scores],
                )
                for r in rows
            }

    def folds(self, run_id: str) -> dict[int, tuple[dict[str, Any], Genome]]:
        with Session(self.engine) as session:
            rows = session.scalars(select(FoldRecord).where(FoldRecord.run_id == run_id)).all()
            return {r.fold: (r.report, Genome.from_json(r.incumbent)) for r in rows}

    def evaluations(self, run_id: str) -> dict[tuple[str, str], Evaluation]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(EvaluationRecord).where(EvaluationRecord.run_id == run_id)
            ).all()
            return {
                (r.window, r.genome_key): Evaluation(
                    genome=Genome.from_json(r.genome),
                    window=r.window,
                    score=r.score,
                    metrics=r.metrics,
                    returns=np.frombuffer(r.returns, dtype=np.float64).copy(),
                    final_equity=Decimal(r.final_equity),
                    llm_cost_usd=Decimal(r.llm_cost_usd),
                    llm_calls=r.llm_calls,
                    engine=r.engine,
                )
                for r in rows
            }

    @staticmethod
    def _add_evaluations(session: Session, run_id: str, evaluations: Iterable[Evaluation]) -> None:
        for e in evaluations:
            session.add(
                EvaluationRecord(
                    run_id=run_id,
                    window=e.window,
                    genome_key=e.genome.key,
                    genome=e.genome.to_json(),
                    score=e.score,
                    metrics=e.metrics,
                    returns=np.ascontiguousarray(e.returns, dtype="<f8").tobytes(),
                    final_equity=str(e.final_equity),
                    llm_cost_usd=str(e.llm_cost_usd),
                    llm_calls=e.llm_calls,
                    engine=e.engine,
                )
            )
