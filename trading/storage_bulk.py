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
`bulk_processor(dialect, process)`, given the type's own processor, returns its replacement (or
None for none); `trading.storage.UtcDateTime` writes an aware UTC time as SQLite's text in one
call instead of three.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Connection

# JSON scalars compared by value: equal values of these types encode alike.
_BY_VALUE = (str, int, bool, type(None))


def bulk_insert(
    connection: Connection, table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert `rows` (value tuples, in the order of the column `names`) as one executemany."""
    if not rows:
        return
    dialect = connection.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=list(names))
    # Each column is encoded down its values (a loop per column, not per value), then the rows
    # are put together in the order the statement's parameters take.
    columns = {
        name: _encoded(table, name, dialect, [row[i] for row in rows])
        for i, name in enumerate(names)
    }
    params: list[Any]
    if compiled.positional:
        order = compiled.positiontup or list(names)
        params = list(zip(*(columns[name] for name in order), strict=True))
    else:
        params = [
            dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)
        ]
    connection.exec_driver_sql(compiled.string, params)


def _encoded(table: Table, name: str, dialect: Any, values: list[Any]) -> list[Any]:
    """The column's bind processing of `values`: once per distinct value, or through the
    type's `bulk_processor` for each."""
    column_type = table.c[name].type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return values
    faster = getattr(column_type, "bulk_processor", None)
    if faster is not None:
        encode = faster(dialect, process)
        if encode is not None:
            # As cheap as a look-up: no memo (a run's times, for one, are all distinct).
            return list(map(encode, values))
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
