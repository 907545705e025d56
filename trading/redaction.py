"""Secrets hidden from any text that leaves a client: errors, logs, transcripts, reports.

A provider or an exchange that quotes a key back rarely quotes it as it was sent: it may
upper-case it, or echo the request's Basic credential (base64 of "user:key"), a URL with the
key percent-encoded, or the bytes in hex. `redact` hides each of those forms of each secret:

- the secret in any case;
- base64, standard and URL-safe, padded or not, alone or inside a longer encoded value: the
  characters that encode the secret's bytes alone, at each of the three byte offsets the
  secret can start at, so only a character or two at either end, shared with what is next
  to it, can remain;
- percent-encoded (as a path or a form value), hex, and JSON-escaped.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote, quote_plus

HIDDEN: Final = "[redacted]"
# Encoded forms shorter than this are left alone: they would match ordinary text.
_SHORTEST_FORM: Final = 4


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every known form of each (non-empty) secret replaced by `HIDDEN`."""
    given = tuple(sorted({s for s in secrets if s}))
    if not given:
        return text
    return _pattern(given).sub(HIDDEN, text)


@functools.lru_cache(maxsize=16)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str]:
    forms: set[str] = set()
    for secret in secrets:
        forms.add(secret)
        forms |= {f for f in _encoded(secret) if len(f) >= _SHORTEST_FORM}
    # Longest first: an alternation takes the first form that matches, not the longest.
    ordered = sorted(forms, key=lambda form: (-len(form), form))
    return re.compile("|".join(re.escape(form) for form in ordered), re.IGNORECASE)


def _encoded(secret: str) -> set[str]:
    data = secret.encode()
    whole = base64.b64encode(data).decode()
    encoded = {whole, whole.rstrip("=")}
    for offset in range(3):  # the secret's first byte at each position of a 3-byte group
        shifted = base64.b64encode(bytes(offset) + data).decode()
        # Character i carries bits 6i to 6i+6; the secret's bits run from 8*offset to
        # 8*(offset + len(data)). Keep the characters made of the secret's bits alone.
        first = -(-8 * offset // 6)
        end = 8 * (offset + len(data)) // 6
        encoded.add(shifted[first:end])
    encoded |= {form.translate(_URL_SAFE) for form in encoded}
    return encoded | {
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        data.hex(),
        json.dumps(secret)[1:-1],
    }


_URL_SAFE: Final = str.maketrans("+/", "-_")
