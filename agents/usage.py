"""The token counts of a provider's answer, read only when they are counts a call can have.

A budget adds what each call reports: a reply claiming `prompt_tokens: -10000000` would give
the run ten million tokens back, and one claiming a billion would stop it for nothing. Counts
must be whole numbers from 0 to `MAX_TOKENS_PER_CALL`; anything else is `BadUsage`, and the
gateway counts that call as failed, saying why, instead of charging it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# Far above any context window offered today (about 2 million tokens), far below a count
# that could only be an error.
MAX_TOKENS_PER_CALL: Final = 10_000_000


class BadUsage(ValueError):
    """A provider reported token usage no call can have."""


def token_counts(payload: Mapping[str, Any]) -> tuple[int, int]:
    """Prompt and completion tokens of an answer in OpenAI chat-completion JSON; a count
    that is absent reads as 0."""
    usage = usage_of(payload)
    return count(usage, "prompt_tokens"), count(usage, "completion_tokens")


def usage_of(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The answer's `usage` object, empty where there is none."""
    usage = payload.get("usage") or {}
    if not isinstance(usage, Mapping):
        raise BadUsage(f"usage is {usage!r}, not an object")
    return usage


def count(usage: Mapping[str, Any], field: str) -> int:
    """`usage[field]` as a token count: a whole number (a JSON number like 20.0 included)
    from 0 to `MAX_TOKENS_PER_CALL`, or 0 when absent."""
    value = usage.get(field)
    if value is None:
        return 0
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise BadUsage(f"usage.{field} is {value!r}, not a whole number")
    tokens = int(value)
    if tokens < 0:
        raise BadUsage(f"usage.{field} is {tokens}, below 0")
    if tokens > MAX_TOKENS_PER_CALL:
        raise BadUsage(
            f"usage.{field} is {tokens}, above {MAX_TOKENS_PER_CALL} tokens for one call"
        )
    return tokens
