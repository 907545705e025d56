"""What the providers' SDKs send and read through the door, against the loopback model: the
OpenAI and Anthropic wire formats as agno's model classes speak them, tool calls included."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agents.gateway import LlmGateway, RetryPolicy
from agents.llm_agent import LlmAgent
from agents.llm_calls import LlmCallStore
from agents.specs import AgentSpec, Role
from tests.fakes.agents import loopback_providers, thesis_json
from tests.fakes.llm_server import CallTool, Fail, FakeLlm, Say, fake_llm
from trading.clock import ReplayClock
from trading.data import Catalog, PointInTimeView
from trading.decision import Snapshot
from trading.ledger import Ledger

from .test_llm_agent import NOW

CITES_PROMPT = thesis_json(evidence=[{"tool": "prompt", "detail": "last close"}])
TWO_CALLS = [
    CallTool("get_market_summary", {"symbols": ["SPX"]}, id="c1"),
    CallTool("compute_indicator", {"symbol": "SPX", "indicator": "rsi"}, id="c2"),
]


def agent(server: FakeLlm, tmp_path: Path, model: str, seed: int | None = 7, **info: Any) -> Any:
    providers = loopback_providers(server)
    ref = providers.resolve(model)
    ref = replace(ref, info=ref.info.model_copy(update=info))
    store = LlmCallStore(f"sqlite:///{tmp_path / 'llm.db'}")
    gateway = LlmGateway(
        run_id="w", store=store, clock=ReplayClock(NOW), retry=RetryPolicy(2), seed=seed
    )
    spec = AgentSpec(
        name="a", role=Role.MARKET_ANALYST, model=model, temperature=0.3, max_tokens=300
    )
    return LlmAgent(spec, gateway, [ref], Catalog.default()), gateway


def snapshot() -> Snapshot:
    catalog = Catalog.default()
    view = PointInTimeView(catalog, ReplayClock(NOW))
    return Snapshot(NOW, ("SPX",), view, Ledger(cash=100_000).portfolio())  # type: ignore[arg-type]


async def test_the_openai_sdk_sends_the_agents_request_as_chat_completions(tmp_path: Path) -> None:
    with fake_llm([TWO_CALLS, Say(thesis_json())]) as server:
        llm, gateway = agent(server, tmp_path, "local:primary")
        turn = await llm.thesis(snapshot(), "SPX")
        first, second = server.requests
        server.assert_done()
    assert turn.thesis is not None
    assert server.paths == ["/v1/chat/completions"] * 2
    assert (first["model"], first["temperature"], first["max_tokens"], first["seed"]) == (
        "primary",
        0.3,
        300,
        7,
    )
    assert first["messages"][0]["role"] == "system"  # OpenAILike: no "developer" role
    assert {t["function"]["name"] for t in first["tools"]} >= {"get_market_summary"}
    # Both calls answered, in the assistant's tool_calls and one tool message each.
    [calls] = [m for m in second["messages"] if m.get("tool_calls")]
    names = [c["function"]["name"] for c in calls["tool_calls"]]
    assert names == ["get_market_summary", "compute_indicator"]
    results = [m for m in second["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in results] == [c["id"] for c in calls["tool_calls"]]
    assert "1213.60" in results[0]["content"]
    assert [c.prompt_tokens for c in gateway.calls] == [20, 20]


async def test_a_reasoning_model_gets_max_completion_tokens_and_no_temperature(
    tmp_path: Path,
) -> None:
    with fake_llm([Say(CITES_PROMPT)]) as server:
        llm, _ = agent(server, tmp_path, "local:primary", reasoning=True)
        await llm.thesis(snapshot(), "SPX")
        [body] = server.requests
    assert body["max_completion_tokens"] == 300
    assert "max_tokens" not in body
    assert "temperature" not in body


async def test_the_anthropic_sdk_sends_messages_with_tool_results_in_one_user_turn(
    tmp_path: Path,
) -> None:
    with fake_llm([TWO_CALLS, Say(thesis_json())]) as server:
        llm, gateway = agent(server, tmp_path, "claude:claude-test")
        turn = await llm.thesis(snapshot(), "SPX")
        first, second = server.requests
        server.assert_done()
    assert turn.thesis is not None
    assert server.paths == ["/v1/messages"] * 2
    # (agno sends temperature only to the Claude models it knows take one, not to claude-test)
    assert (first["model"], first["max_tokens"]) == ("claude-test", 300)
    assert "seed" not in first  # Anthropic has none; it is in the call's key instead
    assert isinstance(first["system"], (str, list))
    assert all(m["role"] != "system" for m in first["messages"])
    tool = next(t for t in first["tools"] if t["name"] == "get_market_summary")
    assert tool["input_schema"]["type"] == "object"
    assistant, results = second["messages"][-2:]
    assert [b["type"] for b in assistant["content"]] == ["text", "tool_use", "tool_use"]
    assert results["role"] == "user"
    used = [b["id"] for b in assistant["content"] if b["type"] == "tool_use"]
    assert [(b["type"], b["tool_use_id"]) for b in results["content"]] == [
        ("tool_result", used[0]),
        ("tool_result", used[1]),
    ]
    assert "1213.60" in json.dumps(results["content"][0])
    assert [c.model for c in gateway.calls] == ["claude:claude-test"] * 2


@pytest.mark.parametrize("model", ["hosted-claude:claude-test", "hosted:primary"])
async def test_rate_limits_and_overload_are_retried_and_logged_as_tries(
    tmp_path: Path, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEPIT_TEST_LLM_KEY", "k")
    steps = [Fail(429, retry_after_ms=10), Say(CITES_PROMPT)]
    with fake_llm(steps) as server:
        llm, gateway = agent(server, tmp_path, model)
        turn = await llm.thesis(snapshot(), "SPX")
        server.assert_done()
    assert turn.thesis is not None
    outcomes = [c.outcome for c in gateway.store.calls("w")]
    assert outcomes == ["failed", "answered"]
