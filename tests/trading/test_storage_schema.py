"""The one metadata of tradepit's databases, each store creating only its own tables; and two
processes opening a fresh database at once: both get its tables, neither fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import create_engine, inspect

from agents.llm_calls import LlmCallStore
from agents.manager import AgentSpecRecord
from orchestration.arena.store import ArenaStore
from orchestration.evolution.store import EVOLUTION_RECORDS, EvolutionStore
from tests.trading.storage_helpers import at_once
from trading.kraken.cache import CandleCache
from trading.kraken.store import OrderJournal
from trading.storage import RUN_RECORDS, Store
from trading.storage_schema import Base


class Closable(Protocol):
    def close(self) -> None: ...


def open_together(opener: Callable[[str], Closable], url: str) -> list[BaseException]:
    """Two threads open `url` at the same moment; what they raised."""
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            opener(url).close()
        except Exception as error:  # collected for the caller's assertion
            errors.append(error)

    at_once(open_store)
    return errors


OPENERS = [Store, LlmCallStore, ArenaStore, EvolutionStore, OrderJournal, CandleCache]
OPENER_IDS = ["runs", "llm calls", "arena", "evolution", "kraken orders", "kraken candles"]


def test_every_stored_record_shares_one_metadata() -> None:
    # Seven DeclarativeBase roots before; a record of another root would not be in it.
    records = [*RUN_RECORDS, *EVOLUTION_RECORDS, AgentSpecRecord]
    assert all(record.metadata is Base.metadata for record in records)


def tables_in(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_each_store_creates_only_its_own_tables_in_a_fresh_database(tmp_path: Path) -> None:
    runs, evolution = f"sqlite:///{tmp_path / 'runs.db'}", f"sqlite:///{tmp_path / 'evo.db'}"
    Store(runs).close()
    EvolutionStore(evolution).close()
    assert tables_in(runs) == {record.__tablename__ for record in RUN_RECORDS}
    assert tables_in(evolution) == {record.__tablename__ for record in EVOLUTION_RECORDS}


@pytest.mark.parametrize("opener", OPENERS, ids=OPENER_IDS)
def test_two_openers_creating_the_schema_of_a_fresh_database_at_once_both_succeed(
    tmp_path: Path, opener: Callable[[str], Closable]
) -> None:
    # Both see the tables missing, then both create them: the loser used to fail with "table
    # runs already exists" (5 and 12 of these 15 attempts). Fifteen fresh files.
    for attempt in range(15):
        errors = open_together(opener, f"sqlite:///{tmp_path / f'fresh{attempt}.db'}")
        assert errors == [], f"attempt {attempt}: {errors[0]}"
    store = Store(f"sqlite:///{tmp_path / 'fresh0.db'}")
    assert store.runs() == []
    store.close()
