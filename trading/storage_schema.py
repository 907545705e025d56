"""The one SQLAlchemy metadata of tradepit's databases (`Base`: every stored record derives from
it), and creating a store's own tables when two processes may open it for the first time at once.

Each store creates only the tables it owns (`create_schema(engine, records)`): the run database
is shared by the run store, the LLM call log, the arena and the evolution stores, and each
creates its part when it first opens it.

`MetaData.create_all` looks for each table and then creates the missing ones, in separate
statements: two processes opening a fresh database both find `runs` missing, both create it,
and the second fails with "table runs already exists" (SQLite; PostgreSQL says "relation
already exists" or breaks a unique key of its catalog). Losing that race is harmless, since the
winner created the same tables, so the loser looks again and creates what is still missing.

SQLite has a second race on a fresh file: two connections switching it to write-ahead logging
together (the LLM call store does on connect) can get "database is locked" at once, without the
busy timeout's wait; the mode is set by then, so the next look goes through.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase

# Each lost race means another process created at least one table meanwhile, so a schema of
# n tables settles in at most n + 1 looks; the bound only keeps a real error from looping.
_MOST_LOOKS = 32
# A lock held by a long writer fails only after the busy timeout; a few of those are enough.
_MOST_LOCKED = 3

_SchemaError = OperationalError | ProgrammingError | IntegrityError


class Base(DeclarativeBase):
    """The root of every table tradepit stores: one metadata, one registry of records."""


def table_of(record: type[Base]) -> Table:
    """The table a record class maps."""
    return cast(Table, record.__table__)


def create_schema(engine: Engine, records: Iterable[type[Base]]) -> None:
    """Create the missing tables (and their indexes) of `records`, and only those, tolerating
    another process doing the same at the same moment."""
    tables = [table_of(record) for record in records]
    locked = 0
    for look in range(_MOST_LOOKS):
        try:
            Base.metadata.create_all(engine, tables=tables)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as error:
            if _locked(error) and locked < _MOST_LOCKED:
                locked += 1
            elif look == _MOST_LOOKS - 1 or not _lost_race(error):
                raise


def _lost_race(error: _SchemaError) -> bool:
    # PostgreSQL creating a table registers its row type; two at once collide on that key.
    return "already exists" in str(error.orig) or isinstance(error, IntegrityError)


def _locked(error: _SchemaError) -> bool:
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)
