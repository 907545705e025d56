"""A database that cannot be used, as one tradepit error instead of a driver traceback.

Garbage bytes or a truncated file surface from SQLite as "file is not a database" or "database
disk image is malformed", at whichever statement first reads the damaged page: the schema check
on opening, or a query long after. Every engine `trading.storage.engine_for` makes passes its
errors through `_unusable`, which turns those (and a file that cannot be opened at all) into a
`StorageError` naming the database; the CLI prints it as its one line. Errors a caller handles
(a key already taken, a busy database) pass through unchanged.
"""

from __future__ import annotations

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, ExceptionContext

from trading.errors import StorageError

# Operational errors that mean the file itself is out of reach, not that it is busy.
_OUT_OF_REACH = ("unable to open database file", "disk I/O error")


def report_unusable_databases(engine: Engine) -> None:
    """Make `engine` raise StorageError for a database it cannot use."""
    event.listen(engine, "handle_error", _unusable)


def _unusable(context: ExceptionContext) -> None:
    error = context.sqlalchemy_exception
    reason = str(context.original_exception).strip() or type(context.original_exception).__name__
    # The driver's bare DatabaseError class is SQLite's word for a damaged or foreign file;
    # its subclasses (integrity, operational, programming) are errors callers handle.
    damaged = type(error) is exc.DatabaseError
    unreachable = isinstance(error, exc.OperationalError) and reason in _OUT_OF_REACH
    if not (damaged or unreachable):
        return
    where = "the database" if context.engine is None else f"database {_name(context.engine)}"
    hint = (
        "is it a tradepit database? restore it from a backup or move it aside"
        if damaged
        else "check the path and its permissions"
    )
    raise StorageError(f"{where} cannot be used: {reason}; {hint}") from error


def _name(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
