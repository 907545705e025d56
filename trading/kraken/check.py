"""`check_keys`: are the Kraken keys present, valid, and unable to withdraw? Places nothing.

Two read-only questions to Kraken. GetApiKeyInfo (no permission needed) proves the key and
signature and lists the key's permissions. WithdrawMethods, which needs the Withdraw Funds
permission, is the probe that decides: refused with `EGeneral:Permission denied` means the key
cannot withdraw, which is what a trading key should be. Should GetApiKeyInfo be unavailable
(older API), the probe still answers, and Balance proves the key.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from trading.errors import ConfigError
from trading.kraken.client import DEFAULT_URL, KrakenClient, RetryPolicy
from trading.kraken.credentials import KEY_ENV, SECRET_ENV, KrakenCredentials
from trading.kraken.errors import (
    KrakenAuthError,
    KrakenError,
    KrakenPermissionError,
    KrakenRejected,
)

WITHDRAW_PERMISSION = "withdraw-funds"


@dataclass(frozen=True)
class KeyCheck:
    present: bool
    valid: bool | None = None  # None: not asked (no keys)
    can_withdraw: bool | None = None  # None: could not tell
    key_name: str | None = None
    permissions: tuple[str, ...] | None = None
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Safe to trade with: present, valid, and no withdrawal permission."""
        return self.present and self.valid is True and self.can_withdraw is False

    def lines(self) -> list[str]:
        lines = [
            f"keys present: {_word(self.present)} (${KEY_ENV}, ${SECRET_ENV})",
            f"keys valid: {_word(self.valid)}",
            f"can withdraw: {_word(self.can_withdraw)}",
        ]
        if self.key_name:
            lines.append(f"key name: {self.key_name}")
        if self.permissions is not None:
            lines.append(f"permissions: {', '.join(self.permissions) or 'none'}")
        return lines + [f"problem: {p}" for p in self.problems]


def _word(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def check_keys(
    *,
    environ: Mapping[str, str] | None = None,
    base_url: str = DEFAULT_URL,
    timeout_s: float = 10.0,
    rate_limit: bool = True,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> KeyCheck:
    """Read the keys from the environment and ask Kraken about them. Never raises for what
    it finds (missing, invalid, unreachable): that goes into the returned `problems`."""
    try:
        credentials = KrakenCredentials.from_env(environ)
    except ConfigError as error:
        # Both set but the secret is not a key: present, and invalid without asking Kraken.
        env = os.environ if environ is None else environ
        both = all(env.get(name, "").strip() for name in (KEY_ENV, SECRET_ENV))
        return KeyCheck(present=both, valid=False if both else None, problems=(str(error),))
    if credentials is None:
        return KeyCheck(
            present=False,
            problems=(f"set ${KEY_ENV} and ${SECRET_ENV} (a key without withdrawal permission)",),
        )
    client = KrakenClient(
        base_url=base_url,
        credentials=credentials,
        timeout_s=timeout_s,
        rate_limit=rate_limit,
        retry=retry or RetryPolicy(attempts=3),
        sleep=sleep,
    )
    try:
        return _check(client)
    except KrakenError as error:  # unreachable, rate limited: no verdict either way
        return KeyCheck(present=True, problems=(f"could not ask Kraken: {error}",))
    finally:
        client.close()


def _check(client: KrakenClient) -> KeyCheck:
    problems: list[str] = []
    name: str | None = None
    permissions: tuple[str, ...] | None = None
    try:
        info = client.private("GetApiKeyInfo")
        name = str(info.get("apiKeyName") or "") or None
        permissions = tuple(str(p) for p in info.get("permissions", []))
    except KrakenAuthError as error:
        return KeyCheck(present=True, valid=False, problems=(str(error),))
    except KrakenRejected:
        # GetApiKeyInfo unknown here: prove the key with Balance (a refusal for a missing
        # permission still proves it).
        try:
            client.private("Balance")
        except KrakenPermissionError:
            pass
        except KrakenAuthError as error:
            return KeyCheck(present=True, valid=False, problems=(str(error),))
    try:
        client.private("WithdrawMethods")
        can_withdraw: bool | None = True
        problems.append(
            "this key can withdraw funds: create a key without the Withdraw Funds permission"
        )
    except KrakenPermissionError:
        can_withdraw = False
    except KrakenRejected as error:
        can_withdraw = None
        problems.append(f"could not tell whether the key can withdraw: {error}")
    if permissions is not None and can_withdraw is False and WITHDRAW_PERMISSION in permissions:
        can_withdraw = True
        problems.append("Kraken lists the withdraw-funds permission on this key")
    return KeyCheck(
        present=True,
        valid=True,
        can_withdraw=can_withdraw,
        key_name=name,
        permissions=permissions,
        problems=tuple(problems),
    )
