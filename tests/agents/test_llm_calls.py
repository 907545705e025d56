"""Every LLM call is recorded and priced, budgets stop a run, and the cache replays answers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from agents.llm_calls import Budget, BudgetExceeded, LlmCall, LlmCallStore, cache_key
from trading.errors import FatalError

T = datetime(2026, 1, 2, tzinfo=UTC)
MESSAGES = [{"role": "user", "content": "SPX view?"}]


def call(tokens: tuple[int, int] = (100, 50), usd: str = "0.001", cached: bool = False) -> LlmCall:
    return LlmCall(
        "run-1",
        "bull",
        "openai:gpt-4o-mini",
        tokens[0],
        tokens[1],
        Decimal(usd),
        0.25,
        "k" * 64,
        cached,
        T,
    )


def test_the_cache_key_depends_on_everything_that_shapes_the_answer() -> None:
    base = cache_key("openai:gpt-4o-mini", MESSAGES, [], {"temperature": 0.2})
    assert base == cache_key("openai:gpt-4o-mini", MESSAGES, [], {"temperature": 0.2})
    assert base != cache_key("openai:gpt-4o", MESSAGES, [], {"temperature": 0.2})
    assert base != cache_key("openai:gpt-4o-mini", MESSAGES, [], {"temperature": 0.3})
    assert base != cache_key("openai:gpt-4o-mini", [*MESSAGES, MESSAGES[0]], [], {})
    assert base != cache_key(
        "openai:gpt-4o-mini", MESSAGES, [{"name": "get_price"}], {"temperature": 0.2}
    )
    # Key order inside a message does not matter: the JSON is canonical.
    swapped = [{"content": "SPX view?", "role": "user"}]
    assert base == cache_key("openai:gpt-4o-mini", swapped, [], {"temperature": 0.2})


def test_a_token_budget_stops_the_run_with_a_clear_message() -> None:
    budget = Budget(max_tokens=300)
    budget.charge(call((100, 50)))
    with pytest.raises(BudgetExceeded, match="token budget reached: 300 of 300 tokens spent"):
        budget.charge(call((100, 50)))


def test_a_dollar_budget_stops_the_run_and_cached_calls_are_free() -> None:
    budget = Budget(max_usd=Decimal("0.002"))
    budget.charge(call(usd="0.0015"))
    budget.charge(call(usd="5", cached=True))
    assert budget.usd == Decimal("0.0015")
    with pytest.raises(BudgetExceeded, match=r"dollar budget reached: \$0.0030 of \$0.0020"):
        budget.charge(call(usd="0.0015"))


def test_budgets_must_be_positive() -> None:
    with pytest.raises(FatalError, match="positive"):
        Budget(max_tokens=0)


def test_calls_and_cached_answers_persist(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'llm.db'}"
    store = LlmCallStore(url)
    key = cache_key("openai:gpt-4o-mini", MESSAGES)
    assert store.cached(key) is None
    store.store(key, "openai:gpt-4o-mini", {"content": "first"}, T)
    store.store(key, "openai:gpt-4o-mini", {"content": "second"}, T)  # first answer wins
    store.record(call())
    store.close()
    reopened = LlmCallStore(url)
    assert reopened.cached(key) == {"content": "first"}
    [logged] = reopened.calls("run-1")
    assert (logged.prompt_tokens, logged.cost_usd, logged.time) == (100, Decimal("0.001"), T)
    reopened.close()
