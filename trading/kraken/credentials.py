"""Kraken API keys: read from the environment only, held as `SecretStr`, never shown.

The key and secret never reach logs, errors, reports or the database: `redact` scrubs any text
that leaves the client, and ccxt's wire log goes through `WireLog`, which does the same.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Mapping
from typing import Any, Final

from pydantic import Field, SecretStr

from trading.closed import Closed
from trading.errors import ConfigError
from trading.redaction import redact as redact_secrets

KEY_ENV: Final = "KRAKEN_API_KEY"
SECRET_ENV: Final = "KRAKEN_API_SECRET"  # noqa: S105 - a variable name, not a secret


class KrakenCredentials(Closed):
    """A Kraken API key pair. `repr`, `str` and JSON dumps show only asterisks."""

    api_key: SecretStr = Field(description=f"The API key, from ${KEY_ENV}.")
    api_secret: SecretStr = Field(description=f"The private key (base64), from ${SECRET_ENV}.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KrakenCredentials | None:
        """The keys in the environment; None when neither is set. One without the other, or a
        secret that is not base64, is a `ConfigError` that names the variable, not its value."""
        env = os.environ if environ is None else environ
        key, secret = env.get(KEY_ENV, "").strip(), env.get(SECRET_ENV, "").strip()
        if not key and not secret:
            return None
        if not key or not secret:
            missing = KEY_ENV if not key else SECRET_ENV
            raise ConfigError(
                f"${missing} is not set: Kraken needs both ${KEY_ENV} and ${SECRET_ENV}"
            )
        try:
            base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(
                f"${SECRET_ENV} is not base64, so it is not a Kraken private key "
                "(its value is not shown)"
            ) from None
        return cls(api_key=SecretStr(key), api_secret=SecretStr(secret))

    def secrets(self) -> tuple[str, ...]:
        return (self.api_key.get_secret_value(), self.api_secret.get_secret_value())


def redact(text: str, credentials: KrakenCredentials | None) -> str:
    """`text` with the key and the secret replaced, wherever and however they occur."""
    return text if credentials is None else redact_secrets(text, credentials.secrets())


class WireLog:
    """The logger ccxt writes its requests and responses to (request headers carry the API
    key). Messages are formatted, scrubbed of both secrets and only then logged."""

    def __init__(self, credentials: KrakenCredentials | None) -> None:
        self._credentials = credentials
        self._logger = logging.getLogger("trading.kraken.wire")

    def _log(self, level: int, message: object, *args: Any) -> None:
        if self._logger.isEnabledFor(level):
            text = str(message) % args if args else str(message)
            self._logger.log(level, "%s", redact(text, self._credentials))

    def debug(self, message: object, *args: Any, **_: Any) -> None:
        self._log(logging.DEBUG, message, *args)

    def info(self, message: object, *args: Any, **_: Any) -> None:
        self._log(logging.INFO, message, *args)

    def warning(self, message: object, *args: Any, **_: Any) -> None:
        self._log(logging.WARNING, message, *args)

    def error(self, message: object, *args: Any, **_: Any) -> None:
        self._log(logging.ERROR, message, *args)
