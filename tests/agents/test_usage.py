"""A provider's token usage is read only when it is a count a call can have: negative,
fractional, non-numeric or absurd usage is refused, never charged."""

from __future__ import annotations

from typing import Any

import pytest

from agents.usage import MAX_TOKENS_PER_CALL, BadUsage, token_counts


@pytest.mark.parametrize(
    ("usage", "counts"),
    [
        ({"prompt_tokens": 20, "completion_tokens": 10}, (20, 10)),
        ({"prompt_tokens": 20.0, "completion_tokens": 0}, (20, 0)),  # a JSON number, whole
        ({"prompt_tokens": MAX_TOKENS_PER_CALL, "completion_tokens": None}, (10**7, 0)),
        ({}, (0, 0)),
        (None, (0, 0)),
    ],
)
def test_whole_counts_within_the_ceiling_are_read(usage: Any, counts: tuple[int, int]) -> None:
    assert token_counts({"usage": usage}) == counts


@pytest.mark.parametrize(
    ("usage", "says"),
    [
        ({"prompt_tokens": -10_000_000}, "usage.prompt_tokens is -10000000, below 0"),
        ({"completion_tokens": -1}, "usage.completion_tokens is -1, below 0"),
        (
            {"prompt_tokens": MAX_TOKENS_PER_CALL + 1},
            "usage.prompt_tokens is 10000001, above 10000000 tokens for one call",
        ),
        ({"prompt_tokens": 1.5}, "usage.prompt_tokens is 1.5, not a whole number"),
        ({"prompt_tokens": float("nan")}, "usage.prompt_tokens is nan, not a whole number"),
        ({"prompt_tokens": "12"}, "usage.prompt_tokens is '12', not a whole number"),
        ({"prompt_tokens": True}, "usage.prompt_tokens is True, not a whole number"),
        ([20, 10], "usage is [20, 10], not an object"),
    ],
)
def test_impossible_usage_is_refused_by_name(usage: Any, says: str) -> None:
    with pytest.raises(BadUsage) as refused:
        token_counts({"usage": usage})
    assert str(refused.value) == says
