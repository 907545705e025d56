"""The wires under the gateway, against the loopback model: what each sends on the wire."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from agents.anthropic_format import anthropic_request, openai_response
from agents.providers import ModelRef
from agents.wire import ProviderHttpError, ProviderUnreachable, wire_for
from tests.fakes.agents import loopback_providers
from tests.fakes.llm_server import Fail, FakeLlm, Hang, Say, fake_llm

REQUEST: dict[str, Any] = {
    "messages": [{"role": "user", "content": "Reply with OK."}],
    "temperature": 0.3,
    "max_tokens": 50,
    "seed": 7,
    "drop_params": True,
}


def model(server: FakeLlm, reference: str, **info: Any) -> ModelRef:
    """`local:primary` (OpenAI protocol) or `claude:claude-test` (Anthropic) on the loopback
    model, with `info` changed."""
    ref = loopback_providers(server).resolve(reference)
    return replace(ref, info=ref.info.model_copy(update=info))


async def test_the_openai_wire_sends_the_request_as_it_is_and_answers_in_its_json() -> None:
    with fake_llm([Say("OK")]) as server:
        ref = model(server, "local:primary")
        payload = await wire_for(ref).send(ref, REQUEST, timeout_s=5)
        [body] = server.requests
    assert payload["choices"][0]["message"]["content"] == "OK"
    assert payload["usage"]["prompt_tokens"] == 20
    # drop_params is litellm's switch, not a field of the protocol; the seed goes as it is.
    sent = {name: value for name, value in REQUEST.items() if name != "drop_params"}
    assert body == {**sent, "model": "primary"}


async def test_a_reasoning_model_gets_max_completion_tokens_and_no_temperature() -> None:
    with fake_llm([Say("OK")]) as server:
        ref = model(server, "local:primary", reasoning=True)
        await wire_for(ref).send(ref, REQUEST, timeout_s=5)
        [body] = server.requests
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body
    assert "temperature" not in body


# A conversation as agno sends it: two tool calls answered in parallel, then a re-ask.
CONVERSATION: dict[str, Any] = {
    "messages": [
        {"role": "system", "content": "You are an analyst."},
        {"role": "user", "content": "Judge SPX."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_market_summary", "arguments": '{"symbols": ["SPX"]}'},
                },
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "get_news_sentiment", "arguments": "{not json"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"price": "1213.60"}'},
        {"role": "tool", "tool_call_id": "c2", "content": "Error: bad arguments"},
        {"role": "assistant", "content": "up"},
        {"role": "user", "content": "Reply in JSON."},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_market_summary",
                "description": "Prices.",
                "parameters": {"type": "object", "properties": {"symbols": {"type": "array"}}},
            },
        }
    ],
    "tool_choice": "required",
    "temperature": 0.2,
    "max_tokens": 300,
    "seed": 7,
    "drop_params": True,
}


def test_an_openai_conversation_becomes_anthropic_messages() -> None:
    body = anthropic_request("claude-x", CONVERSATION)
    assert body["model"] == "claude-x"
    assert body["system"] == "You are an analyst."
    assert (body["max_tokens"], body["temperature"]) == (300, 0.2)
    assert "seed" not in body  # Anthropic has no seed
    assert "drop_params" not in body
    assert body["tool_choice"] == {"type": "any"}
    assert body["tools"] == [
        {
            "name": "get_market_summary",
            "description": "Prices.",
            "input_schema": {"type": "object", "properties": {"symbols": {"type": "array"}}},
        }
    ]
    user, calls, results, answer, reask = body["messages"]
    assert user == {"role": "user", "content": [{"type": "text", "text": "Judge SPX."}]}
    assert calls["role"] == "assistant"
    assert [b["input"] for b in calls["content"]] == [{"symbols": ["SPX"]}, {}]
    # Both results in one user turn: Anthropic's turns alternate.
    assert results["role"] == "user"
    assert [(b["type"], b["tool_use_id"]) for b in results["content"]] == [
        ("tool_result", "c1"),
        ("tool_result", "c2"),
    ]
    assert answer == {"role": "assistant", "content": [{"type": "text", "text": "up"}]}
    assert reask["content"][0]["text"] == "Reply in JSON."


def test_tool_choice_names_a_tool_or_is_refused() -> None:
    named = {"type": "function", "function": {"name": "get_market_summary"}}
    body = anthropic_request("c", {**CONVERSATION, "tool_choice": named})
    assert body["tool_choice"] == {"type": "tool", "name": "get_market_summary"}
    with pytest.raises(ValueError, match="unsupported tool_choice"):
        anthropic_request("c", {**CONVERSATION, "tool_choice": "sometimes"})


def test_an_anthropic_answer_reads_as_a_chat_completion() -> None:
    answer = openai_response(
        {
            "id": "msg_1",
            "model": "c",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "t1", "name": "get_market_summary", "input": {"a": 1}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 5},
        }
    )
    [choice] = answer["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    [call] = choice["message"]["tool_calls"]
    assert call["function"] == {"name": "get_market_summary", "arguments": '{"a": 1}'}
    # Tokens read from Anthropic's prompt cache are prompt tokens too.
    assert answer["usage"] == {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105}


async def test_the_anthropic_wire_round_trip_and_its_retryable_failures() -> None:
    with fake_llm([Fail(429, retry_after=3), Fail(529), Fail(401), Say("OK")]) as server:
        ref = model(server, "claude:claude-test")
        wire = wire_for(ref)
        failures = []
        for _ in range(3):
            with pytest.raises(ProviderHttpError) as failed:
                await wire.send(ref, CONVERSATION, timeout_s=5)
            failures.append((wire.retryable(failed.value), wire.retry_after(failed.value)))
        payload = await wire.send(ref, CONVERSATION, timeout_s=5)
        assert server.paths == ["/v1/messages"] * 4
    assert failures == [(True, 3.0), (True, None), (False, None)]
    assert payload["choices"][0]["message"]["content"] == "OK"


async def test_an_anthropic_call_past_its_timeout_fails_as_retryable() -> None:
    with fake_llm([Hang()]) as server:
        ref = model(server, "claude:claude-test")
        wire = wire_for(ref)
        with pytest.raises(ProviderUnreachable, match=r"no answer within 0\.3 s") as failed:
            await wire.send(ref, CONVERSATION, timeout_s=0.3)
    assert wire.retryable(failed.value)
