"""Creating a database's tables when two processes may open it for the first time at once.

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

from sqlalchemy import MetaData
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

# Each lost race means another process created at least one table meanwhile, so a schema of
# n tables settles in at most n + 1 looks; the bound only keeps a real error from looping.
_MOST_LOOKS = 32
# A lock held by a long writer fails only after the busy timeout; a few of those are enough.
_MOST_LOCKED = 3

_SchemaError = OperationalError | ProgrammingError | IntegrityError


def create_schema(metadata: MetaData, engine: Engine) -> None:
    """Create `metadata`'s missing tables and indexes, tolerating another process doing the
    same at the same moment."""
    locked = 0
    for look in range(_MOST_LOOKS):
        try:
            metadata.create_all(engine)
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
