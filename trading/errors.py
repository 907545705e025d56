"""One root for every error tradepit raises on purpose, split into what a caller may retry and
what it must not."""

from __future__ import annotations


class TradepitError(Exception):
    """Root of every deliberate tradepit error."""


class FatalError(TradepitError):
    """Retrying cannot help: bad input, broken invariant, misconfiguration."""


class RetryableError(TradepitError):
    """The same call may succeed later: a timeout, a rate limit, a busy resource."""


class ConfigError(FatalError):
    """A setting, parameter or file the user supplied is not acceptable."""


class DataError(FatalError):
    """Market data is missing, malformed or asked for in a way that cannot be served."""


class UnknownSymbolError(DataError):
    """No source offers the requested symbol."""


class LookaheadError(DataError):
    """Something asked for data that closes after the clock's "now"."""


class InvalidOrderError(FatalError):
    """An order that can never be valid (non-positive quantity, missing limit price...)."""


class InvalidTransitionError(FatalError):
    """An order event that the order's current state does not accept."""


class InsufficientFundsError(FatalError):
    """A fill the account cannot pay for under its margin settings."""


class InvalidFillError(FatalError):
    """A fill that breaks a rule of the books: a price or quantity that is not positive, a
    negative fee, more than the order has left, a side or symbol that is not the order's.
    Nothing is booked; from an exchange it stops the run with a report."""


class StorageError(FatalError):
    """The database cannot be used: not a database, damaged, or not there to open."""
