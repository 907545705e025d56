"""Statements compiled once per process: the text shared by every SQLite engine, the values
bound by each engine's own processors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, update
from sqlalchemy.sql.dml import UpdateBase

from trading.errors import ConfigError
from trading.storage import RunRecord, Store
from trading.storage_statements import execute_compiled_once

T = datetime(2020, 1, 2, tzinfo=UTC)


def test_engines_of_one_process_share_a_statement_compiled_once(tmp_path: Path) -> None:
    built: list[int] = []

    def build() -> UpdateBase:
        built.append(1)
        return (
            update(RunRecord)
            .where(RunRecord.id == bindparam("run_id"))
            .values(summary=bindparam("summary"), finished_at=bindparam("finished_at"))
        )

    stored: list[Any] = []
    for n in range(3):
        store = Store(f"sqlite:///{tmp_path / f'{n}.db'}")
        try:
            store.create_run("r", "backtest", {}, T)
            with store.engine.begin() as connection:
                result = execute_compiled_once(
                    connection,
                    "test: end a run",
                    build,
                    {"run_id": "r", "summary": {"n": n, "a": [1]}, "finished_at": T},
                )
                assert result.rowcount == 1
                query = "SELECT summary, finished_at FROM runs WHERE id = 'r'"
                stored.append(tuple(connection.exec_driver_sql(query).one()))
        finally:
            store.close()
    assert len(built) == 1
    # The engine's compact JSON and the UTC time's text, as SQLAlchemy binds them.
    assert stored == [
        (json.dumps({"n": n, "a": [1]}, separators=(",", ":")), "2020-01-02 00:00:00.000000")
        for n in range(3)
    ]


def test_finishing_a_run_that_is_not_stored_is_refused(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    try:
        with pytest.raises(ConfigError, match="no run 'missing'"):
            store.finish_run("missing", "finished", {}, T)
    finally:
        store.close()
