"""Inserting thousands of rows in one statement batch, each distinct value encoded once.

A backtest stores its whole run at the end: about two rows per bar (an equity point and a
decision). SQLAlchemy's executemany builds every row's parameters through the compiled
statement and runs each column's bind processor on every value, which cost ten times the
database's own insert (0.35 s of 0.4 s for 10k rows). Most values repeat: the cash between two
trades is one `Decimal` object, a run's decisions share a handful of targets, and almost every
risk list and abstention map is empty. So `bulk_insert` runs the same bind processors (the
column types' own, for the connection's dialect, so what is stored is byte for byte what
SQLAlchemy stores), once per distinct value, and hands the encoded rows to the driver's
executemany through `Connection.exec_driver_sql`, in the same transaction as the caller's.

Distinct means the same object for plain columns (equal Decimals can differ in their digits:
1.0 and 1.00), and the same JSON document for JSON columns, told apart by value and type (so
1, 1.0 and True stay three values, as keys too).

A column type may offer a faster encoder that gives the same output as its bind processing:
`bulk_processor(dialect, process)`, given the type's own processor, returns its replacement for
a whole column, a function from the column's values to their encodings (or None for none);
`trading.storage.UtcDateTime` writes aware UTC times as SQLite's text, one formatting each
instead of three calls.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any, NamedTuple

from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Connection, Dialect

# The parameters of one statement: SQLite's least limit (builds before 3.32 allow 999).
_MOST_PARAMETERS = 999
# JSON scalars compared by value: equal values of these types encode alike.
_BY_VALUE = (str, int, bool, type(None))


class _Statement(NamedTuple):
    """An insert compiled for one dialect: its text, the column names in the order its
    positional parameters take (None for named parameters), and the text's VALUES group when
    the rows can go several to a statement (None when they cannot)."""

    text: str
    order: tuple[str, ...] | None
    row: str | None


# Compiled once per dialect, table and columns: a compile costs 0.3 ms, a backtest inserts into
# four tables. Keyed weakly by the dialect, which lives as long as its engine.
_STATEMENTS: weakref.WeakKeyDictionary[Dialect, dict[tuple[Table, tuple[str, ...]], _Statement]]
_STATEMENTS = weakref.WeakKeyDictionary()


def _statement(dialect: Dialect, table: Table, names: tuple[str, ...]) -> _Statement:
    compiled_for = _STATEMENTS.setdefault(dialect, {})
    statement = compiled_for.get((table, names))
    if statement is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(names))
        order = tuple(compiled.positiontup or names) if compiled.positional else None
        row = _values_group(compiled.string, len(names)) if order is not None else None
        if not dialect.supports_multivalues_insert:
            row = None
        statement = compiled_for[(table, names)] = _Statement(compiled.string, order, row)
    return statement


def _values_group(text: str, width: int) -> str | None:
    """The VALUES group that ends a compiled single-row insert, if its placeholders are
    anonymous ("?", "%s"), so that repeating it gives the insert of several rows (as
    SQLAlchemy's own "insertmanyvalues" batching repeats it); None for numbered ones."""
    for placeholder in ("?", "%s"):
        row = "(" + ", ".join([placeholder] * width) + ")"
        if text.endswith(" VALUES " + row):
            return row
    return None


def bulk_insert(
    connection: Connection, table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert `rows` (value tuples, in the order of the column `names`) as one executemany."""
    if not rows:
        return
    dialect = connection.dialect
    statement = _statement(dialect, table, tuple(names))
    # Each column is encoded down its values (a loop per column, not per value), then the rows
    # are put together in the order the statement's parameters take.
    columns = {
        name: _encoded(table, name, dialect, values)
        for name, values in zip(names, zip(*rows, strict=True), strict=True)
    }
    if statement.order is None:
        params = [
            dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)
        ]
        connection.exec_driver_sql(statement.text, params)
        return
    rows_in_order = zip(*(columns[name] for name in statement.order), strict=True)
    row = statement.row
    if row is None:
        connection.exec_driver_sql(statement.text, list(rows_in_order))
        return
    # Many rows to a statement: SQLite inserts 10k rows of a backtest in 9 ms so, 15 ms one row
    # to a statement (the statement's steps, not the rows, cost the difference). Each statement
    # takes at most `_MOST_PARAMETERS`, and all but the last as many rows, so one executemany
    # of one text sends them, and the last rows go in one statement of their own.
    flat = tuple(chain.from_iterable(rows_in_order))
    width = len(statement.order)
    per_statement = max(1, _MOST_PARAMETERS // width)
    step = per_statement * width
    whole = len(flat) - len(flat) % step
    if whole:
        connection.exec_driver_sql(
            statement.text + (", " + row) * (per_statement - 1),
            [flat[start : start + step] for start in range(0, whole, step)],
        )
    if whole < len(flat):
        last = statement.text + (", " + row) * ((len(flat) - whole) // width - 1)
        connection.exec_driver_sql(last, flat[whole:])


def _encoded(table: Table, name: str, dialect: Any, values: Sequence[Any]) -> Sequence[Any]:
    """The column's bind processing of `values`: once per distinct value, or through the
    type's `bulk_processor`."""
    column_type = table.c[name].type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return values
    faster: Callable[..., Any] | None = getattr(column_type, "bulk_processor", None)
    if faster is not None:
        encode_all = faster(dialect, process)
        if encode_all is not None:
            # As cheap as a look-up: no memo (a run's times, for one, are all distinct).
            return encode_all(values)  # type: ignore[no-any-return]
    # The rows hold their values until the batch is sent, so an id names one live object.
    by_id: dict[int, Any] = {}
    get = by_id.get
    encoded = []
    missing = object()
    if not isinstance(column_type, JSON):
        for value in values:
            result = get(id(value), missing)
            if result is missing:
                result = by_id[id(value)] = process(value)
            encoded.append(result)
        return encoded
    # A JSON column: equal documents in distinct objects are encoded once too.
    by_document: dict[Any, Any] = {}
    for value in values:
        result = get(id(value), missing)
        if result is missing:
            document = _document(value)
            result = by_document.get(document, missing)
            if result is missing:
                result = by_document[document] = process(value)
            by_id[id(value)] = result
        encoded.append(result)
    return encoded


_EMPTY = (list, dict, tuple)
# Marks the key of a dict whose keys and values are all strings (a decision's targets).
_FLAT = object()


def _document(value: Any) -> Any:
    """A hashable key equal for two values only if they are the same JSON document."""
    if not value and type(value) in _EMPTY:  # a run's risk lists and abstention maps
        return type(value)
    if isinstance(value, dict):
        items = tuple(value.items())
        if all(type(k) is str and type(v) is str for k, v in items):
            return (_FLAT, items)
        return (dict, tuple((_document(k), _document(v)) for k, v in items))
    if isinstance(value, list | tuple):
        return (type(value), tuple(_document(v) for v in value))
    if type(value) in _BY_VALUE:
        return (type(value), value)
    return (type(value), repr(value))  # floats (0.0 and -0.0) and anything else, exactly
