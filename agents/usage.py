"""Token counts of an answer, taken only when they are counts a call can have.

A budget adds what each call reports: a reply claiming `prompt_tokens: -10000000` would give
the run ten million tokens back, and one claiming a billion would stop it for nothing. Counts
(read from agno's parsed metrics, `agents.models`) must be whole numbers from 0 to
`MAX_TOKENS_PER_CALL`; anything else is `BadUsage`, and the call counts as failed, saying why,
instead of being charged.
"""

from __future__ import annotations

from typing import Final

# Far above any context window offered today (about 2 million tokens), far below a count
# that could only be an error.
MAX_TOKENS_PER_CALL: Final = 10_000_000


class BadUsage(ValueError):
    """A provider reported token usage no call can have."""


def count(value: object, field: str) -> int:
    """`value` as a token count: a whole number (a float like 20.0 included) from 0 to
    `MAX_TOKENS_PER_CALL`, or 0 when absent."""
    if value is None:
        return 0
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise BadUsage(f"usage.{field} is {value!r}, not a whole number")
    tokens = int(value)  # type: ignore[call-overload]  # an int or a whole float, checked above
    if tokens < 0:
        raise BadUsage(f"usage.{field} is {tokens}, below 0")
    if tokens > MAX_TOKENS_PER_CALL:
        raise BadUsage(
            f"usage.{field} is {tokens}, above {MAX_TOKENS_PER_CALL} tokens for one call"
        )
    return int(tokens)
