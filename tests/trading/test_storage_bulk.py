"""A backtest's batch of rows: stored as SQLAlchemy stores them, each distinct value encoded
once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, create_engine

from tests.trading.storage_helpers import store_with_run
from trading.storage import DecimalText, Store, UtcDateTime
from trading.storage_bulk import bulk_insert

T = datetime(2020, 1, 2, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with store_with_run(tmp_path, "backtest", T) as store:
        yield store


def test_a_shared_cash_is_encoded_once_per_batch(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[Decimal] = []
    original = DecimalText.process_bind_param

    def counting(self: DecimalText, value: Decimal | None, dialect: Any) -> str | None:
        if value is not None:
            encoded.append(value)
        return original(self, value, dialect)

    monkeypatch.setattr(DecimalText, "process_bind_param", counting)
    cash = Decimal("1000.50")
    equity = [(T + timedelta(days=i), cash, Decimal(1000) + i) for i in range(500)]
    store.save_records("r", equity=equity)
    assert len(encoded) == 501  # the cash once, each equity value once
    assert [(p.time, p.cash, p.equity) for p in store.equity("r")] == equity


def test_a_batch_reads_back_as_the_values_it_was_given(store: Store) -> None:
    # Equal decimals with other digits, and targets shared or equal, keep their own text.
    one, one_more = Decimal("1.0"), Decimal("1.00")
    shared = {"SPX": Decimal("0.5")}
    decisions = [
        (
            T + timedelta(days=i),
            "agent",
            shared if i % 3 else {"SPX": [one, one_more][i % 2]},
            "why" if i % 2 else "",
            [{"verdict": "approved", "reasons": ["a"]}] if i == 7 else [],
            {"SPX": "no view"} if i == 9 else {},
        )
        for i in range(100)
    ]
    equity = [(T + timedelta(days=i), [one, one_more][i % 2], one_more) for i in range(100)]
    store.save_records("r", equity=equity, decisions=decisions)
    assert [(p.time, str(p.cash), str(p.equity)) for p in store.equity("r")] == [
        (t, str(c), str(e)) for t, c, e in equity
    ]
    stored = [
        (d.seq, d.time, d.agent, d.targets, d.rationale, d.risk, d.abstentions)
        for d in store.decisions("r")
    ]
    assert stored == [
        (i, t, agent, {s: str(w) for s, w in targets.items()}, why, risk, abstentions)
        for i, (t, agent, targets, why, risk, abstentions) in enumerate(decisions)
    ]


def test_values_equal_in_python_but_not_as_stored_stay_apart(tmp_path: Path) -> None:
    metadata = MetaData()
    columns = [
        Column("id", Integer, primary_key=True),
        Column("doc", JSON),
        Column("name", String(8)),
        Column("amount", DecimalText()),
        Column("at", UtcDateTime()),
    ]
    bulk = Table("bulk", metadata, *columns)
    plain = Table("plain", metadata, *(c._copy() for c in columns))
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    metadata.create_all(engine)
    docs: list[Any] = [1, 1.0, True, 0.0, -0.0, [1], {"a": 1}, {"a": 1.0}, {"a": True}, None]
    amounts = [Decimal("2.50"), Decimal("2.5")]
    names = ("id", "doc", "name", "amount", "at")
    rows = [(i, d, "x", amounts[i % 2], T) for i, d in enumerate(docs)]
    with engine.begin() as connection:
        bulk_insert(connection, bulk, names, rows)
        # SQLAlchemy's own executemany
        connection.execute(plain.insert(), [dict(zip(names, r, strict=True)) for r in rows])
    with engine.connect() as connection:
        query = "SELECT typeof(doc), CAST(doc AS TEXT), amount, at FROM {} ORDER BY id"
        raw = [connection.exec_driver_sql(query.format(t)).all() for t in ("bulk", "plain")]
    # As SQLAlchemy stores them (SQLite's JSON affinity turns a bare 1.0 into 1), documents
    # that are equal in Python apart, and decimals with their own digits.
    assert raw[0] == raw[1]
    assert [r[1] for r in raw[0][-4:]] == ['{"a": 1}', '{"a": 1.0}', '{"a": true}', "null"]
    assert [r[2] for r in raw[0]] == ["2.50", "2.5"] * 5
    engine.dispose()
