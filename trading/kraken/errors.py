"""Kraken's errors in tradepit's hierarchy: what a caller may retry and what stops a run.

ccxt raises its own classes; `trading.kraken.client` maps them here once, so nothing above the
client sees ccxt. Each error keeps Kraken's own codes (`EOrder:Insufficient funds`...).
"""

from __future__ import annotations

from trading.errors import (
    FatalError,
    InsufficientFundsError,
    InvalidOrderError,
    RetryableError,
    TradepitError,
)


class KrakenError(TradepitError):
    """Root of the Kraken errors; `codes` are Kraken's error strings, when it sent any."""

    def __init__(self, message: str, codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.codes = codes


class KrakenAuthError(KrakenError, FatalError):
    """The key is unknown, the signature is wrong, or the key lacks a permission: stop."""


class KrakenPermissionError(KrakenAuthError):
    """The key is valid but lacks the permission the endpoint needs."""


class KrakenInsufficientFunds(KrakenError, InsufficientFundsError):
    """Kraken refused an order the account cannot pay for (the order was not placed)."""


class KrakenInvalidOrder(KrakenError, InvalidOrderError):
    """Kraken refused an order as invalid (below the minimum, bad price...): not placed."""


class KrakenRateLimited(KrakenError, RetryableError):
    """Kraken refused the request for its rate limit: it was not processed, wait and retry."""


class KrakenNonceRejected(KrakenError, RetryableError):
    """Kraken refused the nonce: the request was not processed."""


class KrakenUnreachable(KrakenError, RetryableError):
    """No answer, a broken connection or an unavailable service. For a read, retry; for an
    order, its fate is unknown until the open and closed orders are queried."""


class KrakenUnreadable(KrakenUnreachable):
    """An answer that cannot be read (cut short, empty, not JSON, without what the endpoint
    always sends): as with no answer, the request may or may not have been processed."""


class KrakenRejected(KrakenError, FatalError):
    """Any other refusal by Kraken; retrying the same request cannot help."""


class VenueAnswerError(KrakenError, FatalError):
    """Kraken answered with something that breaks a rule of the books (a cost of 0, a negative
    fee, a price beyond the limit, an executed volume that falls or passes the order's):
    nothing of it is booked and the run stops with this report."""

    def __init__(
        self,
        endpoint: str,
        subject: str,
        field: str,
        value: object,
        rule: str,
        order_id: str | None = None,
    ) -> None:
        super().__init__(
            f"Kraken's {endpoint} answer breaks a rule for {subject}: {field}={value!r} {rule}; "
            "nothing of it was booked and the run stops"
        )
        self.endpoint = endpoint
        self.order_id = order_id
        self.field = field
        self.value = value


class ReconcileError(FatalError):
    """The exchange and the order store disagree; the report says how. Trading must not start."""
