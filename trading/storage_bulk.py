"""Inserting thousands of rows given as columns, each value encoded as SQLAlchemy encodes it,
many rows to a statement.

A backtest stores its whole run at the end: about two rows per bar (an equity point and a
decision). SQLAlchemy's executemany builds every row's parameters through the compiled
statement and runs each column's bind processor on every value, which cost ten times the
database's own insert (0.35 s of 0.4 s for 10k rows). So `bulk_insert` takes the rows as
columns (a backtest has them so, or can take them so with loops that run in C), runs the same
bind processors (the column types' own, for the connection's dialect, so what is stored is
byte for byte what SQLAlchemy stores) down each column, and hands the encoded rows to the
driver through `Connection.exec_driver_sql`, in the same transaction as the caller's.

Most values repeat: a run's decisions share a handful of targets, and almost every risk list and
abstention map is empty (`trading.storage_write` gives those as one object each). A column's
distinct objects are encoded once each; equal values in distinct objects are encoded each (equal
Decimals can differ in their digits, 1.0 and 1.00, and equal JSON documents in their types, 1,
1.0 and True).

A column type may offer a faster encoder that gives the same output as its bind processing:
`bulk_processor(dialect, process)`, given the type's own processor, returns its replacement for
a whole column, a function from the column's values to their encodings (or None for none), as
`trading.storage_types.UtcDateTime` and `DecimalText` do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeEngine

from trading import storage_statements

# The parameters of one statement: SQLite's least limit (builds before 3.32 allow 999).
_MOST_PARAMETERS = 999
# The fewest rows that statements of many rows take, below which the rows go one to a
# statement: preparing the text of many rows (0.3 ms on SQLite) costs what about 150 rows
# save (each 0.6 us in a statement of many, 2.4 us alone).
_LEAST_ROWS_MANY = 200


class _Statement(NamedTuple):
    """An insert compiled for one dialect: its text, the column names in the order its
    positional parameters take (None for named parameters), and the text's VALUES group when
    the rows can go several to a statement (None when they cannot)."""

    text: str
    order: tuple[str, ...] | None
    row: str | None


def _statement(dialect: Dialect, table: Table, names: tuple[str, ...]) -> _Statement:
    # Compiled once per dialect, table and columns (a compile costs 0.1 to 0.3 ms, a backtest
    # inserts into four tables), and on SQLite once per process (`compiled_for`): `tradepit
    # backtest` opens a new engine each run.
    compiled_for = storage_statements.compiled_for(dialect)
    statement: _Statement | None = compiled_for.get((table, names))
    if statement is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(names))
        order = tuple(compiled.positiontup or names) if compiled.positional else None
        row = (
            _values_group(compiled.string, len(names), dialect.paramstyle)
            if order is not None
            else None
        )
        if not dialect.supports_multivalues_insert:
            row = None
        statement = compiled_for[(table, names)] = _Statement(compiled.string, order, row)
    return statement


# The anonymous placeholder of each positional paramstyle whose VALUES group can be repeated;
# numbered ones ("numeric", "numeric_dollar") would have to be renumbered in every row.
_ANONYMOUS_PLACEHOLDER = {"qmark": "?", "format": "%s"}


def _values_group(text: str, width: int, paramstyle: str) -> str | None:
    """The VALUES group that ends a compiled single-row insert, if the dialect's placeholders
    are anonymous, so that repeating it gives the insert of several rows (as SQLAlchemy's own
    "insertmanyvalues" batching repeats it); None otherwise."""
    placeholder = _ANONYMOUS_PLACEHOLDER.get(paramstyle)
    if placeholder is None:
        return None
    row = "(" + ", ".join([placeholder] * width) + ")"
    return row if text.endswith(" VALUES " + row) else None


def bulk_insert(
    connection: Connection,
    table: Table,
    columns: Mapping[str, Sequence[Any]],
    encoded_already: Mapping[str, Sequence[Any]] | None = None,
) -> None:
    """Insert the rows whose values `columns` holds, column by column (name to values, one per
    row, as many in each); `encoded_already` gives the `encoded_column` of some of them, which
    the caller made (as `trading.storage_write` makes a decision's JSON columns, a value per
    distinct object)."""
    if not columns or not len(next(iter(columns.values()))):
        return
    dialect = connection.dialect
    names = tuple(columns)
    statement = _statement(dialect, table, names)
    given = encoded_already or {}
    encoded = {
        name: given[name] if name in given else encoded_column(table.c[name].type, dialect, values)
        for name, values in columns.items()
    }
    if statement.order is None:
        params = [
            dict(zip(names, values, strict=True)) for values in zip(*encoded.values(), strict=True)
        ]
        connection.exec_driver_sql(statement.text, params)
        return
    row = statement.row
    if row is None:
        rows = zip(*(encoded[name] for name in statement.order), strict=True)
        connection.exec_driver_sql(statement.text, list(rows))
        return
    # Many rows to a statement: SQLite inserts 10k rows of a backtest in 7 ms so, 14 ms one row
    # to a statement (the statement's steps, not the rows, cost the difference). Each statement
    # takes at most `_MOST_PARAMETERS`, and all but the last as many rows, so one executemany
    # of one text sends them, and the last rows go one to a statement, in a second executemany
    # of the one-row text: SQLite prepares each new text (0.5 ms for one of 999 parameters, on
    # a new connection every backtest), and the few last rows cost less each alone than that.
    # For the same reason a batch whose statements of many rows would hold fewer than
    # `_LEAST_ROWS_MANY` rows in all goes one row to a statement (a backtest's 136 orders).
    # The rows' values are laid one after another a column at a time (a slice assignment each).
    width = len(statement.order)
    count = len(encoded[names[0]])
    values: list[Any] = [None] * (count * width)
    for position, name in enumerate(statement.order):
        values[position::width] = encoded[name]
    flat = tuple(values)
    per_statement = max(1, _MOST_PARAMETERS // width)
    step = per_statement * width
    whole = len(flat) - len(flat) % step
    if whole < _LEAST_ROWS_MANY * width:
        whole = 0
    if whole:
        connection.exec_driver_sql(
            statement.text + (", " + row) * (per_statement - 1),
            [flat[start : start + step] for start in range(0, whole, step)],
        )
    if whole < len(flat):
        connection.exec_driver_sql(
            statement.text,
            [flat[start : start + width] for start in range(whole, len(flat), width)],
        )


def encoded_column(
    column_type: TypeEngine[Any], dialect: Dialect, values: Sequence[Any]
) -> Sequence[Any]:
    """The bind processing of `values` by `column_type` for `dialect`: once per distinct
    value, or through the type's `bulk_processor`."""
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return values
    faster: Callable[..., Any] | None = getattr(column_type, "bulk_processor", None)
    if faster is not None:
        encode_all = faster(dialect, process)
        if encode_all is not None:
            return encode_all(values)  # type: ignore[no-any-return]
    return once_each(process, values)


def once_each(function: Callable[[Any], Any], values: Sequence[Any]) -> list[Any]:
    """`function` of each of `values`, called once per distinct object among them. The loops
    over the values run in C: a backtest's columns hold thousands of values and a few objects,
    or thousands of objects."""
    # The values hold their objects meanwhile, so an id names one live object.
    ids = list(map(id, values))
    distinct = dict(zip(ids, values, strict=True))
    if len(distinct) == len(ids):
        return list(map(function, values))
    results = {key: function(value) for key, value in distinct.items()}
    return list(map(results.__getitem__, ids))
