"""A provider's token usage is taken only when it is a count a call can have: negative,
fractional, non-numeric or absurd usage is refused, never charged."""

from __future__ import annotations

import pytest

from agents.usage import MAX_TOKENS_PER_CALL, BadUsage, count


@pytest.mark.parametrize(
    ("value", "tokens"),
    [(20, 20), (20.0, 20), (MAX_TOKENS_PER_CALL, 10**7), (None, 0), (0, 0)],
)
def test_whole_counts_within_the_ceiling_are_read(value: object, tokens: int) -> None:
    assert count(value, "input_tokens") == tokens


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (-10_000_000, "usage.input_tokens is -10000000, below 0"),
        (-1, "usage.input_tokens is -1, below 0"),
        (
            MAX_TOKENS_PER_CALL + 1,
            "usage.input_tokens is 10000001, above 10000000 tokens for one call",
        ),
        (1.5, "usage.input_tokens is 1.5, not a whole number"),
        (float("nan"), "usage.input_tokens is nan, not a whole number"),
        ("12", "usage.input_tokens is '12', not a whole number"),
        (True, "usage.input_tokens is True, not a whole number"),
    ],
)
def test_impossible_usage_is_refused_by_name(value: object, says: str) -> None:
    with pytest.raises(BadUsage) as refused:
        count(value, "input_tokens")
    assert str(refused.value) == says
