"""The wires under the gateway, against the loopback model: what each sends on the wire."""

from __future__ import annotations

from typing import Any

from agents.providers import ModelRef, ProvidersConfig
from agents.wire import wire_for
from tests.fakes.llm_server import FakeLlm, Say, fake_llm

REQUEST: dict[str, Any] = {
    "messages": [{"role": "user", "content": "Reply with OK."}],
    "temperature": 0.3,
    "max_tokens": 50,
    "seed": 7,
    "drop_params": True,
}


def openai_model(server: FakeLlm, **info: Any) -> ModelRef:
    prices = {"input_per_mtok": "1", "output_per_mtok": "2", **info}
    config = ProvidersConfig.model_validate(
        {
            "providers": {
                "local": {
                    "protocol": "openai",
                    "base_url": server.openai_url,
                    "key_required": False,
                    "models": {"m": prices},
                }
            }
        }
    )
    return config.resolve("local:m")


async def test_the_openai_wire_sends_the_request_as_it_is_and_answers_in_its_json() -> None:
    with fake_llm([Say("OK")]) as server:
        ref = openai_model(server)
        payload = await wire_for(ref).send(ref, REQUEST, timeout_s=5)
        [body] = server.requests
    assert payload["choices"][0]["message"]["content"] == "OK"
    assert payload["usage"]["prompt_tokens"] == 20
    # drop_params is litellm's switch, not a field of the protocol; the seed goes as it is.
    sent = {name: value for name, value in REQUEST.items() if name != "drop_params"}
    assert body == {**sent, "model": "m"}


async def test_a_reasoning_model_gets_max_completion_tokens_and_no_temperature() -> None:
    with fake_llm([Say("OK")]) as server:
        ref = openai_model(server, reasoning=True)
        await wire_for(ref).send(ref, REQUEST, timeout_s=5)
        [body] = server.requests
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body
    assert "temperature" not in body
