"""A backtest's batch of rows: stored as SQLAlchemy stores them, each distinct value encoded
once."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, create_engine, event
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import StatementError

from tests.trading.storage_helpers import store_with_run
from trading import storage_bulk, storage_types, storage_write
from trading.domain import EquityPoint
from trading.storage import DecimalText, DecisionRow, Store, UtcDateTime
from trading.storage_bulk import bulk_insert
from trading.storage_types import utc_texts

T = datetime(2020, 1, 2, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with store_with_run(tmp_path, "backtest", T) as store:
        yield store


def test_a_batch_reads_back_as_the_values_it_was_given(store: Store) -> None:
    # Equal decimals with other digits, and targets shared or equal, keep their own text.
    one, one_more = Decimal("1.0"), Decimal("1.00")
    shared = {"SPX": Decimal("0.5")}
    decisions = [
        DecisionRow(
            T + timedelta(days=i),
            "agent",
            shared if i % 3 else {"SPX": [one, one_more][i % 2]},
            "why" if i % 2 else "",
            [{"verdict": "approved", "reasons": ["a"]}] if i == 7 else [],
            {"SPX": "no view"} if i == 9 else {},
        )
        for i in range(100)
    ]
    equity = [
        EquityPoint(T + timedelta(days=i), [one, one_more][i % 2], one_more) for i in range(100)
    ]
    store.save_records("r", equity=equity, decisions=decisions)
    assert [(p.time, str(p.cash), str(p.equity)) for p in store.equity("r")] == [
        (t, str(c), str(e)) for t, c, e in equity
    ]
    stored = [
        (d.seq, d.time, d.agent, d.targets, d.rationale, d.risk, d.abstentions)
        for d in store.decisions("r")
    ]
    assert stored == [
        (
            i,
            d.time,
            d.agent,
            {s: str(w) for s, w in d.targets.items()},
            d.rationale,
            d.risk,
            d.abstentions,
        )
        for i, d in enumerate(decisions)
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
        bulk_insert(connection, bulk, dict(zip(names, zip(*rows, strict=True), strict=True)))
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


def _raw_pair(tmp_path: Path, values: list[Any], column: Any) -> tuple[list[Any], list[Any]]:
    """The stored text of `values` in a column of type `column`, written by `bulk_insert` and
    by SQLAlchemy's own executemany."""
    metadata = MetaData()
    columns = [Column("id", Integer, primary_key=True), Column("v", column)]
    bulk = Table("bulk", metadata, *columns)
    plain = Table("plain", metadata, *(c._copy() for c in columns))
    engine = create_engine(f"sqlite:///{tmp_path / 'raw.db'}")
    metadata.create_all(engine)
    rows = list(enumerate(values))
    with engine.begin() as connection:
        bulk_insert(connection, bulk, {"id": range(len(values)), "v": values})
        connection.execute(plain.insert(), [{"id": i, "v": v} for i, v in rows])
    with engine.connect() as connection:
        query = "SELECT typeof(v), CAST(v AS TEXT) FROM {} ORDER BY id"
        raw = [connection.exec_driver_sql(query.format(t)).all() for t in ("bulk", "plain")]
    engine.dispose()
    return raw[0], raw[1]


def test_times_are_stored_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    times = [
        T,
        T.replace(microsecond=123),
        T.replace(microsecond=999_999),
        datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(2020, 1, 2, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2020, 7, 1, 9, 30, 0, 5, tzinfo=ZoneInfo("America/New_York")),
        pd.Timestamp("2020-01-02 03:04:05.000007", tz="UTC"),
        None,
    ]
    bulk, plain = _raw_pair(tmp_path, times, UtcDateTime())
    assert bulk == plain
    assert bulk[3] == ("text", "0005-01-02 03:04:05.000000")
    assert bulk[5] == ("text", "2020-01-03 04:30:00.000000")


def test_a_column_of_aware_utc_times_is_stored_as_sqlalchemy_stores_it(tmp_path: Path) -> None:
    # Only aware UTC times: formatted together (numpy), from before the epoch to the last
    # microsecond of year 9999.
    times = [
        T,
        T.replace(microsecond=123),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2020, 2, 29, 12, 0, 0, 500_000, tzinfo=UTC, fold=1),
    ]
    bulk, plain = _raw_pair(tmp_path, times, UtcDateTime())
    assert bulk == plain
    assert [text for _, text in bulk[2:4]] == [
        "1969-12-31 23:59:59.999999",
        "0001-01-01 00:00:00.000000",
    ]


def test_a_column_of_aware_times_in_any_zone_is_stored_as_their_utc_time(tmp_path: Path) -> None:
    times = [
        datetime(2020, 1, 2, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2020, 7, 1, 9, 30, 0, 5, tzinfo=ZoneInfo("America/New_York")),
        datetime(2021, 11, 7, 1, 30, tzinfo=ZoneInfo("America/New_York"), fold=1),
        T,
    ]
    bulk, plain = _raw_pair(tmp_path, times, UtcDateTime())
    assert bulk == plain
    assert bulk[0] == ("text", "2020-01-03 04:30:00.000000")
    assert bulk[2] == ("text", "2021-11-07 06:30:00.000000")


def test_a_naive_time_in_a_column_is_refused_as_sqlalchemy_refuses_it(store: Store) -> None:
    equity = [EquityPoint(T + timedelta(days=i), Decimal(1), Decimal(i)) for i in range(100)]
    equity[50] = EquityPoint(datetime(2020, 5, 1), Decimal(1), Decimal(1))  # noqa: DTZ001
    with pytest.raises((ValueError, StatementError), match="naive datetime"):
        store.save_records("r", equity=equity)
    assert store.equity("r") == []


def test_decimals_are_stored_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    amounts = [Decimal("1.0"), Decimal("1.00"), Decimal("-0"), Decimal("1E+3"), Decimal("1e-7")]
    for values in (amounts, [*amounts, None]):
        folder = tmp_path / str(len(values))
        folder.mkdir()
        bulk, plain = _raw_pair(folder, values, DecimalText())
        assert bulk == plain
        assert [text for _, text in bulk[:5]] == ["1.0", "1.00", "-0", "1E+3", "1E-7"]


def test_target_weights_of_several_or_no_symbols_keep_their_order_and_text(store: Store) -> None:
    shared = {"SPX": Decimal("0.50"), "IXIC": Decimal("0.5")}
    # Shared, empty, two symbols in either order, and equal mappings in distinct objects.
    targets = [
        [shared, {}, {"IXIC": Decimal("0.5"), "SPX": Decimal(i)}, dict(shared)][i % 4]
        for i in range(80)
    ]
    decisions = [
        DecisionRow(T + timedelta(days=i), "agent", t, "", [], {}) for i, t in enumerate(targets)
    ]
    store.save_records("r", decisions=decisions)
    stored = [d.targets for d in store.decisions("r")]
    assert [list(t.items()) for t in stored] == [
        [(s, str(w)) for s, w in t.items()] for t in targets
    ]


def test_aware_utc_times_skip_the_types_generic_processing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A replay's times are aware UTC datetimes: one isoformat call each, not the decorator's
    # conversion and then the dialect's formatting.
    generic: list[datetime] = []
    original = UtcDateTime.process_bind_param

    def counting(self: UtcDateTime, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None:
            generic.append(value)
        return original(self, value, dialect)

    monkeypatch.setattr(UtcDateTime, "process_bind_param", counting)
    equity = [(T + timedelta(days=i, microseconds=i), Decimal(1), Decimal(i)) for i in range(100)]
    store.save_records("r", equity=equity)
    assert generic == []
    assert [p.time for p in store.equity("r")] == [t for t, _, _ in equity]


def test_json_keys_equal_in_python_but_not_as_stored_stay_apart(tmp_path: Path) -> None:
    # True == 1 == 1.0 as dict keys, but JSON writes them "true", "1" and "1.0".
    docs: list[Any] = [{True: "a"}, {1: "a"}, {1.0: "a"}, {"1": "a"}, {"a": "b"}, {"a": "b"}]
    bulk, plain = _raw_pair(tmp_path, docs, JSON)
    assert bulk == plain
    assert [text for _, text in bulk[:4]] == [
        '{"true": "a"}',
        '{"1": "a"}',
        '{"1.0": "a"}',
        '{"1": "a"}',
    ]


def test_decisions_stored_alike_give_the_bulk_insert_one_value_each(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A replay's decisions each hold their own targets mapping and empty review and abstention
    # containers: a JSON value per row to tell apart from the others, where a few distinct
    # documents are all there is.
    encoded: list[int] = []  # the distinct objects given each encoding of a JSON column
    original = storage_write.encoded_column

    def spying(column_type: Any, dialect: Any, values: Any) -> Any:
        if isinstance(column_type, JSON):
            encoded.append(len(set(map(id, values))))
        return original(column_type, dialect, values)

    monkeypatch.setattr(storage_write, "encoded_column", spying)
    decisions = [
        DecisionRow(
            T + timedelta(days=i),
            "agent",
            {"SPX": Decimal("1.0") if i % 2 else Decimal("1.00")},
            "",
            [],
            {},
        )
        for i in range(100)
    ]
    store.save_records("r", decisions=decisions)
    # targets, risk and abstentions: the two texts of one weight, one empty list, one empty map
    assert encoded == [2, 1, 1]
    assert [d.targets for d in store.decisions("r")] == [
        {"SPX": "1.0" if i % 2 else "1.00"} for i in range(100)
    ]


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables whose bulk inserts are built (and so compiled) from now on, in order."""
    names: list[str] = []
    original = storage_bulk.insert

    def counting(table: Table) -> Any:
        names.append(table.name)
        return original(table)

    monkeypatch.setattr(storage_bulk, "insert", counting)
    return names


def test_an_insert_is_compiled_once_per_table_and_columns(
    store: Store, compiled: list[str]
) -> None:
    for batch in range(3):
        days = range(100 * batch, 100 * batch + 100)
        equity = [EquityPoint(T + timedelta(days=i), Decimal(1), Decimal(i)) for i in days]
        store.save_records("r", equity=equity)
    assert compiled.count("equity") <= 1  # once for this engine's dialect, if not before
    assert len(store.equity("r")) == 300


def test_stores_of_one_process_on_sqlite_share_their_compiled_inserts(
    tmp_path: Path, compiled: list[str]
) -> None:
    # A backtest opens a new engine each run; its inserts are compiled once for all of them.
    equity = [EquityPoint(T + timedelta(days=i), Decimal(1), Decimal(i)) for i in range(100)]
    for run in range(3):
        (tmp_path / str(run)).mkdir()
        with store_with_run(tmp_path / str(run), "backtest", T) as store:
            store.save_records("r", equity=equity)
            assert len(store.equity("r")) == 100
    assert compiled.count("equity") <= 1


def test_a_batch_too_small_to_pay_a_statement_of_many_rows_goes_one_row_each(
    store: Store,
) -> None:
    # 150 decisions of 8 values would fill one statement of 124 rows, whose prepare costs more
    # than its rows save (as a backtest's 136 orders of 12 values would fill one of 83).
    sent: list[tuple[str, bool]] = []

    def record(*args: Any) -> None:
        _, _, statement, _, _, executemany = args
        if statement.startswith("INSERT INTO decisions"):
            sent.append((statement, executemany))

    event.listen(store.engine, "before_cursor_execute", record)
    decisions = [
        DecisionRow(T + timedelta(days=i), "agent", {}, str(i), [], {}) for i in range(150)
    ]
    store.save_records("r", decisions=decisions)
    assert [(s.count("(?, ?, ?, ?, ?, ?, ?, ?)"), many) for s, many in sent] == [(1, True)]
    assert [d.rationale for d in store.decisions("r")] == [str(i) for i in range(150)]


def test_a_large_batch_goes_many_rows_to_a_statement_and_reads_back_whole(store: Store) -> None:
    # 600 rows of 4 values: statements of 249 rows (996 parameters, under SQLite's least limit
    # of 999), two of them in one executemany, and the last 102 rows one to a statement, in one
    # executemany of the one-row text (a new text of 102 rows would cost a prepare of its own).
    sent: list[tuple[str, Any, bool]] = []

    def record(*args: Any) -> None:
        _, _, statement, parameters, _, executemany = args
        if statement.startswith("INSERT INTO equity"):
            sent.append((statement, parameters, executemany))

    event.listen(store.engine, "before_cursor_execute", record)
    equity = [EquityPoint(T + timedelta(days=i), Decimal(1000), Decimal(i) / 8) for i in range(600)]
    store.save_records("r", equity=equity)
    assert [(s.count("(?, ?, ?, ?)"), many) for s, _, many in sent] == [(249, True), (1, True)]
    assert [len(p) for p in sent[0][1]] == [996, 996]
    assert [len(p) for p in sent[1][1]] == [4] * 102
    assert [(p.time, p.cash, str(p.equity)) for p in store.equity("r")] == [
        (t, c, str(e)) for t, c, e in equity
    ]


def test_decisions_in_utc_and_in_other_zones_store_their_utc_time(store: Store) -> None:
    # The UTC times are formatted from their fields, the others (a point's instant in another
    # zone, a time in a fold) through their exact instant.
    new_york = ZoneInfo("America/New_York")
    equity = [EquityPoint(T + timedelta(days=i), Decimal(1), Decimal(i)) for i in range(100)]
    times = [T + timedelta(days=i) for i in range(1, 101)]
    times[5] = times[5].astimezone(new_york)
    times[6] = times[6] + timedelta(microseconds=1)
    times[7] = datetime(2021, 11, 7, 1, 30, tzinfo=new_york, fold=1)
    decisions = [DecisionRow(t, "agent", {}, "", [], {}) for t in times]
    store.save_records("r", equity=equity, decisions=decisions)
    with store.engine.connect() as connection:
        query = "SELECT time FROM decisions WHERE run_id = 'r' ORDER BY seq"
        stored = list(connection.exec_driver_sql(query).scalars())
    utc = [t.astimezone(UTC).replace(tzinfo=None) for t in times]
    assert stored == [t.isoformat(" ", "microseconds") for t in utc]
    assert stored[7] == "2021-11-07 06:30:00.000000"
    assert [d.time for d in store.decisions("r")] == [t.astimezone(UTC) for t in times]


def test_utc_times_are_formatted_from_their_fields_as_the_type_formats_them() -> None:
    dialect = sqlite.dialect()
    process = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    chance = random.Random(18)  # noqa: S311 - times to test, not secrets
    first, last = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    span = (last - first) // timedelta(microseconds=1)
    times = [first + timedelta(microseconds=chance.randrange(span)) for _ in range(5000)]
    times += [first, last, datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), T]
    assert utc_texts(times) == [process(t) for t in times]
    assert utc_texts([]) == []


def test_a_column_of_utc_times_takes_their_fields_not_their_instants(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(times: Any) -> list[str]:
        raise AssertionError("the UTC times were formatted through their instants")

    monkeypatch.setattr(storage_types, "sqlite_utc_texts", refused)
    equity = [EquityPoint(T + timedelta(hours=i), Decimal(1), Decimal(i)) for i in range(100)]
    store.save_records("r", equity=equity)
    assert [p.time for p in store.equity("r")] == [p.time for p in equity]


def test_the_few_decisions_with_reviews_or_abstentions_store_theirs_in_place(
    store: Store,
) -> None:
    risks: list[list[dict[str, Any]]] = [[] for _ in range(100)]
    abstentions: list[Any] = [{} for _ in range(100)]
    risks[3] = [{"rule": "max_weight", "ratio": "0.5"}]
    risks[99] = [{"rule": "a"}, {"rule": "b", "n": 1}]
    abstentions[0] = pd.Series({"IXIC": "no data"}).to_dict()
    abstentions[50] = {"SPX": "halted", "IXIC": "stale"}
    decisions = [
        DecisionRow(T + timedelta(days=i), "agent", {}, "", risks[i], abstentions[i])
        for i in range(100)
    ]
    store.save_records("r", decisions=decisions)
    with store.engine.connect() as connection:
        query = "SELECT risk, abstentions FROM decisions WHERE run_id = 'r' ORDER BY seq"
        stored = [tuple(row) for row in connection.exec_driver_sql(query)]
    compact = {"separators": (",", ":")}
    assert stored == [
        (json.dumps(risks[i], **compact), json.dumps(abstentions[i], **compact))  # type: ignore[arg-type]
        for i in range(100)
    ]
    assert stored[50][1] == '{"SPX":"halted","IXIC":"stale"}'


@pytest.mark.parametrize(
    ("dialect", "row"),
    [
        ("sqlite", "(?, ?)"),  # qmark: the group repeats as it is
        ("mysql", "(%s, %s)"),  # format: so does this one
        ("postgresql", None),  # pyformat: named placeholders, one row to a statement
    ],
)
def test_rows_go_several_to_a_statement_only_where_placeholders_repeat(
    dialect: str, row: str | None
) -> None:
    dialects = {"sqlite": sqlite, "mysql": mysql, "postgresql": postgresql}
    table = Table("pairs", MetaData(), Column("a", Integer), Column("b", String))
    statement = storage_bulk._statement(dialects[dialect].dialect(), table, ("a", "b"))
    assert statement.row == row
    if row is not None:
        assert statement.text.endswith(" VALUES " + row)
