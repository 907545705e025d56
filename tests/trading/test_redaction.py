"""A secret is hidden in any text in each form a provider or an exchange may echo it back:
as it is, in another case, base64 (standard or URL-safe, padded or not, alone or inside a
longer encoded value such as a Basic credential), percent-encoded or hex."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest

from trading.redaction import HIDDEN, redact

KEY = "sk-Test_9fQ2+x/Lm3=Zp7"  # upper, lower, digits and the characters encodings change


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


ENCODINGS: dict[str, Callable[[str], str]] = {
    "exact": lambda s: s,
    "upper": str.upper,
    "lower": str.lower,
    "swapped case": str.swapcase,
    "base64": b64,
    "base64 unpadded": lambda s: b64(s).rstrip("="),
    "base64 url-safe": b64url,
    "base64 url-safe unpadded": lambda s: b64url(s).rstrip("="),
    "basic credential": lambda s: b64(f"user:{s}"),  # the key at an offset of 5 bytes
    "base64 after 1 byte": lambda s: b64(f"x{s}"),
    "base64 after 2 bytes": lambda s: b64(f"xy{s}"),
    "url-safe base64 after 1 byte": lambda s: b64url(f"x{s}").rstrip("="),
    "percent-encoded": lambda s: quote(s, safe=""),
    "percent-encoded lower hex": lambda s: quote(s, safe="").lower(),
    "form-encoded": quote_plus,
    "hex": lambda s: binascii.hexlify(s.encode()).decode(),
    "hex upper": lambda s: binascii.hexlify(s.encode()).decode().upper(),
}


@pytest.mark.parametrize("encode", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_every_known_encoding_of_the_secret_is_hidden(encode: Callable[[str], str]) -> None:
    leaked = encode(KEY)
    text = redact(f"HTTP 401: invalid key {leaked!r} for this account", [KEY])
    assert leaked not in text
    assert text.startswith("HTTP 401: invalid key '")
    assert text.endswith("' for this account")
    assert HIDDEN in text


def test_text_without_a_secret_is_left_as_it_is() -> None:
    text = "HTTP 429: slow down, retry after 3 s (request abc123)"
    assert redact(text, [KEY, "another-secret-value"]) == text
    assert redact(text, []) == text
    assert redact(text, [None, ""]) == text


def test_every_secret_given_is_hidden() -> None:
    text = redact(f"key {KEY} secret {b64('kraken-secret').upper()}", [KEY, "kraken-secret"])
    assert text == f"key {HIDDEN} secret {HIDDEN}"
