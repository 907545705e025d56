"""Statements compiled once per process, not once per engine: the few that each backtest's
write runs (`trading.storage_write`'s replacing of orders, `trading.storage`'s end of a run).

SQLAlchemy caches a compiled statement per engine (its cache key holds the dialect object), and
`tradepit backtest` opens a new engine every run, so every run compiled each statement again:
0.2 to 0.5 ms apiece, more than SQLite takes to run it. A SQLite dialect's compiled text
depends only on its class, parameter style and library version (`compiles_alike`), so the
text is kept by those, and each run only binds its values: through the bind processors of the
statement's parameter types for the connection's own dialect (its JSON serializer is the
engine's), which is what SQLAlchemy runs on them, and so stores the same bytes. Other dialects
take SQLAlchemy's execution as it is.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.types import TypeEngine


def compiles_alike(dialect: Dialect) -> tuple[object, ...] | None:
    """What a SQLite dialect's compiled statements depend on: its class (the compiler and the
    identifier quoting are class attributes), its parameter style and the SQLite library's
    version; None for other dialects, whose compiles may depend on what their server said at
    connect (MySQL's quoting under ANSI_QUOTES)."""
    if dialect.name != "sqlite":
        return None
    return (
        type(dialect),
        dialect.paramstyle,
        dialect.server_version_info,
        dialect.supports_multivalues_insert,
    )


class _Compiled(NamedTuple):
    """A statement's text and its positional parameters: their names and types, in order."""

    text: str
    names: tuple[str, ...]
    types: tuple[TypeEngine[Any], ...]


# Compiled statements, by what their text depends on (`compiles_alike`) for SQLite, shared by
# every store of the process, else by dialect object, kept as long as it lives: one store for
# this module's statements and `trading.storage_bulk`'s inserts (keys of their own kinds).
_SHARED: dict[tuple[object, ...], dict[Hashable, Any]] = {}
_PER_DIALECT: weakref.WeakKeyDictionary[Dialect, dict[Hashable, Any]] = weakref.WeakKeyDictionary()


def compiled_for(dialect: Dialect) -> dict[Hashable, Any]:
    """Where statements compiled for `dialect` are kept: shared by every SQLite dialect that
    compiles alike, else the dialect's own."""
    alike = compiles_alike(dialect)
    if alike is None:
        return _PER_DIALECT.setdefault(dialect, {})
    return _SHARED.setdefault(alike, {})


# Each dialect's bind processors of a compiled statement, which may hold the dialect's own
# settings (the engine's JSON serializer): kept as long as the dialect lives.
_PROCESSORS: weakref.WeakKeyDictionary[Dialect, dict[str, tuple[Callable[[Any], Any] | None, ...]]]
_PROCESSORS = weakref.WeakKeyDictionary()


def execute_compiled_once(
    connection: Connection,
    name: str,
    build: Callable[[], UpdateBase],
    parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> CursorResult[Any]:
    """Execute the statement `build` makes, which `name` names in the whole process, with
    `parameters` (one mapping of its bind parameters' names to values, or several for an
    executemany). Its bind parameters are named (`bindparam`), never expanding."""
    dialect = connection.dialect
    alike = compiles_alike(dialect)
    if alike is None or not dialect.positional:
        return connection.execute(build(), parameters)
    known = compiled_for(dialect)
    compiled: _Compiled | None = known.get(name)
    if compiled is None:
        made = build().compile(dialect=dialect)
        names = tuple(made.positiontup or ())
        types = tuple(made.binds[n].type for n in names)
        compiled = known[name] = _Compiled(made.string, names, types)
    for_dialect = _PROCESSORS.setdefault(dialect, {})
    processors = for_dialect.get(name)
    if processors is None:
        processors = for_dialect[name] = tuple(
            t.dialect_impl(dialect).bind_processor(dialect) for t in compiled.types
        )

    def bound(values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            values[n] if process is None else process(values[n])
            for n, process in zip(compiled.names, processors, strict=True)
        )

    if isinstance(parameters, Mapping):
        return connection.exec_driver_sql(compiled.text, bound(parameters))
    return connection.exec_driver_sql(compiled.text, list(map(bound, parameters)))
