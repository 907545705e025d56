"""Structured outputs: each model is asked for its answer in the form providers.yaml says it
takes, the schema is one grammar engines can follow, and a constrained reply validates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agents.gateway import LlmGateway, RetryPolicy
from agents.llm_agent import LlmAgent, Turn, build_models
from agents.llm_calls import LlmCallStore
from agents.providers import ProvidersConfig
from agents.specs import Abstention, AgentSpec, Role, ThesisReply
from agents.structured import SUBMIT_TOOL, answer_schema, request_params, weight_bound_pct
from tests.fakes.agents import thesis_json
from tests.fakes.llm_server import CallTool, Fail, FakeLlm, Say, Script, Step, fake_llm
from trading.clock import ReplayClock
from trading.data import Catalog, PointInTimeView
from trading.decision import Snapshot
from trading.errors import ConfigError
from trading.ledger import Ledger

NOW = datetime(2008, 9, 17, tzinfo=UTC)
SUMMARY = CallTool("get_market_summary", {"symbols": ["SPX"]})
HELD = ("get_market_summary", "compute_indicator", "get_news_sentiment")
ANSWER = json.loads(thesis_json())
PROMPT_EVIDENCE = [{"tool": "prompt", "detail": "last close 1213.60"}]


def providers(server: FakeLlm, primary: str, backup: str = "none", **info: Any) -> ProvidersConfig:
    prices = {"input_per_mtok": "1.00", "output_per_mtok": "2.00", **info}
    models = {
        "primary": {**prices, "structured_output": primary},
        "backup": {**prices, "structured_output": backup},
    }
    local = {"protocol": "openai", "base_url": server.openai_url, "key_required": False}
    return ProvidersConfig.model_validate({"providers": {"local": {**local, "models": models}}})


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.default()


@pytest.fixture
def store(tmp_path: Path) -> LlmCallStore:
    return LlmCallStore(f"sqlite:///{tmp_path / 'llm.db'}")


def agent_on(
    config: ProvidersConfig, catalog: Catalog, store: LlmCallStore, **spec: Any
) -> LlmAgent:
    fields = {"name": "analyst", "role": Role.MARKET_ANALYST, "model": "local:primary"}
    agent_spec = AgentSpec(**(fields | {"timeout_s": 2.0} | spec))
    gateway = LlmGateway(
        run_id="run-1",
        store=store,
        clock=ReplayClock(NOW),
        retry=RetryPolicy(attempts=2),
    )
    return LlmAgent(agent_spec, gateway, build_models(agent_spec, config), catalog)


async def ask(agent: LlmAgent, catalog: Catalog) -> Turn:
    view = PointInTimeView(catalog, ReplayClock(NOW))
    snapshot = Snapshot(NOW, ("SPX",), view, Ledger(cash=Decimal(100_000)).portfolio())
    return await agent.thesis(snapshot, "SPX")


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[FakeLlm] = []

    def start(script: Script) -> FakeLlm:
        server = FakeLlm(script).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        server.assert_done()


# ---- the schema -----------------------------------------------------------------------------


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node)) if node else set()
    return set()


def test_the_answer_schema_is_flat_enough_for_a_grammar_and_narrowed_to_the_turn() -> None:
    schema = answer_schema("SPX", ("get_market_summary",), max_weight=0.5)
    assert not _keys(schema) & {"$ref", "$defs", "anyOf", "oneOf", "allOf", "maxLength"}
    props = schema["properties"]
    assert set(schema["required"]) == set(props) == set(ThesisReply.model_fields)
    assert props["symbol"]["enum"] == ["SPX"]
    assert props["stance"]["enum"] == ["buy", "sell", "hold"]
    integer = {"type": "integer", "minimum": 0, "maximum": 100}
    assert integer.items() <= props["confidence_pct"].items()
    weight = {"type": "integer", "minimum": -50, "maximum": 50}
    assert weight.items() <= props["target_weight_pct"].items()
    tool = props["evidence"]["items"]["properties"]["tool"]
    assert tool["enum"] == ["get_market_summary", "prompt"]
    assert schema["additionalProperties"] is False
    assert props["evidence"]["items"]["additionalProperties"] is False
    assert weight_bound_pct(0.333) == 33
    assert weight_bound_pct(0.29) == 29  # 0.29 * 100 is 28.999999999999996 in floats


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"target_weight_pct": -1.27}, "is not of type 'integer'"),
        ({"target_weight_pct": -258}, "is less than the minimum of -50"),
        ({"confidence_pct": 700}, "is greater than the maximum of 100"),
        ({"symbol": "SPX. Last close 1188.22"}, r"is not one of \['SPX'\]"),
        ({"stance": "bullish"}, r"is not one of \['buy', 'sell', 'hold'\]"),
        ({"evidence": [{"tool": "get_stock_tips", "detail": "x"}]}, "is not one of"),
    ],
)
def test_what_smollm2_wrote_is_outside_the_schema(change: dict[str, Any], why: str) -> None:
    """A grammar-following model cannot write these: each breaks the schema it decodes by."""
    schema = answer_schema("SPX", ("get_market_summary",), max_weight=0.5)
    with pytest.raises(jsonschema.ValidationError, match=why):
        jsonschema.validate(ANSWER | change, schema)


@pytest.mark.parametrize(
    "answer",
    [
        ANSWER,
        ANSWER | {"stance": "sell", "target_weight_pct": -50, "confidence_pct": 0},
        ANSWER | {"stance": "hold", "target_weight_pct": 0, "confidence_pct": 100},
        ANSWER | {"evidence": [{"tool": "prompt", "detail": "last close"}] * 10},
    ],
)
def test_an_answer_inside_the_schema_validates_as_a_thesis_reply(answer: dict[str, Any]) -> None:
    jsonschema.validate(answer, answer_schema("SPX", HELD, max_weight=0.5))
    assert ThesisReply.model_validate(answer).thesis().symbol == "SPX"


# ---- the form each model is asked in --------------------------------------------------------


async def test_a_json_schema_model_is_sent_the_schema_as_its_response_format(
    serve: Any, catalog: Catalog, store: LlmCallStore
) -> None:
    server = serve([SUMMARY, Say(thesis_json())])
    turn = await ask(agent_on(providers(server, "json_schema"), catalog, store), catalog)
    assert turn.thesis is not None
    for body in server.requests:  # with the tool round and the answer alike
        form = body["response_format"]
        assert form["type"] == "json_schema"
        assert form["json_schema"]["strict"] is True
        assert form["json_schema"]["schema"] == answer_schema("SPX", HELD, 1.0)
        assert SUBMIT_TOOL not in {t["function"]["name"] for t in body["tools"]}


def llama_cpp(body: dict[str, Any]) -> Step:
    """llama.cpp's server: HTTP 500 on `json_schema`, its own json_object with a schema works."""
    form = body.get("response_format") or {}
    if form.get("type") == "json_schema":
        return Fail(500, "Internal Server Error")
    assert form.get("type") == "json_object", form
    assert form["schema"]["properties"]["symbol"]["enum"] == ["SPX"]
    return Say(thesis_json(evidence=[{"tool": "prompt", "detail": "last close 1213.60"}]))


async def test_a_json_mode_server_gets_json_object_with_the_schema_and_answers(
    serve: Any, catalog: Catalog, store: LlmCallStore
) -> None:
    server = serve(llama_cpp)
    agent = agent_on(providers(server, "json_mode"), catalog, store, tools=())
    turn = await ask(agent, catalog)
    assert turn.thesis is not None
    assert len(server.requests) == 1  # asked once, in the form it takes


def test_json_mode_spells_bounded_integers_as_enums_for_grammar_engines() -> None:
    # llama-cpp-python's schema-to-grammar converter ignores minimum and maximum (SmolLM2 sent
    # target_weight_pct above 100 under json_mode) but follows enum.
    schema = answer_schema("SPX", ["get_market_summary"], 0.25)
    sent = request_params("json_mode", schema)["response_format"]["schema"]["properties"]
    assert sent["confidence_pct"]["enum"] == list(range(0, 101))
    assert sent["target_weight_pct"]["enum"] == list(range(-25, 26))
    assert schema["properties"]["confidence_pct"].get("enum") is None  # the turn's own schema
    strict = request_params("json_schema", schema)["response_format"]["json_schema"]["schema"]
    assert "enum" not in strict["properties"]["confidence_pct"]  # OpenAI reads the bounds


async def test_asked_in_the_wrong_form_that_server_fails_every_try(
    serve: Any, catalog: Catalog, store: LlmCallStore
) -> None:
    """The figure json_mode exists for: the same server, told json_schema, never answers."""
    server = serve(llama_cpp)
    turn = await ask(agent_on(providers(server, "json_schema"), catalog, store, tools=()), catalog)
    assert isinstance(turn.outcome, Abstention)
    assert "HTTP 500" in turn.outcome.reason
    assert len(server.requests) == 2  # retried: a 500 may pass


async def test_a_tool_call_model_answers_through_submit_thesis(
    serve: Any, catalog: Catalog, store: LlmCallStore
) -> None:
    server = serve([SUMMARY, CallTool(SUBMIT_TOOL, ANSWER, id="call_2")])
    turn = await ask(agent_on(providers(server, "tool_call"), catalog, store), catalog)
    assert turn.thesis is not None
    assert (turn.thesis.confidence, turn.thesis.target_weight) == (0.7, 0.5)
    first, _answered = server.requests  # agno ends the run at the submission: no third call
    [submit] = [t["function"] for t in first["tools"] if t["function"]["name"] == SUBMIT_TOOL]
    assert submit["parameters"] == answer_schema("SPX", HELD, 1.0)
    assert "response_format" not in first
    assert f"calling {SUBMIT_TOOL}" in first["messages"][-1]["content"]


async def test_an_anthropic_model_answers_through_submit_thesis_too(
    serve: Any, catalog: Catalog, store: LlmCallStore
) -> None:
    server = serve([CallTool(SUBMIT_TOOL, ANSWER | {"evidence": PROMPT_EVIDENCE})])
    models = {
        "claude-test": {"input_per_mtok": 1, "output_per_mtok": 2, "structured_output": "tool_call"}
    }
    claude = {"protocol": "anthropic", "base_url": server.anthropic_url, "key_required": False}
    config = ProvidersConfig.model_validate({"providers": {"claude": {**claude, "models": models}}})
    turn = await ask(agent_on(config, catalog, store, model="claude:claude-test"), catalog)
    assert turn.thesis is not None
    [body] = server.requests
    [submit] = [t for t in body["tools"] if t["name"] == SUBMIT_TOOL]
    assert submit["input_schema"] == answer_schema("SPX", HELD, 1.0)


async def test_a_submission_citing_only_submit_thesis_is_re_asked(
    serve: Any, catalog: Catalog, store: LlmCallStore
) -> None:
    cites_itself = ANSWER | {"evidence": [{"tool": SUBMIT_TOOL, "detail": "my answer"}]}
    server = serve(
        [
            CallTool(SUBMIT_TOOL, cites_itself),
            CallTool(
                SUBMIT_TOOL,
                ANSWER | {"evidence": [{"tool": "prompt", "detail": "last close 1213.60"}]},
            ),
        ]
    )
    turn = await ask(agent_on(providers(server, "tool_call"), catalog, store), catalog)
    assert turn.thesis is not None
    assert "evidence cites ['submit_thesis']" in (turn.attempts[0].error or "")


async def test_a_model_without_structured_outputs_gets_the_schema_in_the_prompt_only(
    serve: Any, catalog: Catalog, store: LlmCallStore
) -> None:
    """The fallback: the prompt and up to two re-asks, validated as strictly as ever."""
    fractional = thesis_json(target_weight_pct=-1.27, stance="sell")
    server = serve([Say(fractional), SUMMARY, Say(thesis_json())])
    turn = await ask(agent_on(providers(server, "none"), catalog, store), catalog)
    assert turn.thesis is not None
    assert "target_weight_pct: Input should be a valid integer" in (turn.attempts[0].error or "")
    first = server.requests[0]
    assert "response_format" not in first
    assert SUBMIT_TOOL not in {t["function"]["name"] for t in first["tools"]}
    schema = json.dumps(answer_schema("SPX", HELD, 1.0), separators=(",", ":"))
    assert schema in first["messages"][-1]["content"]


async def test_models_that_take_different_forms_are_asked_in_the_prompt(
    serve: Any, catalog: Catalog, store: LlmCallStore
) -> None:
    server = serve([Say(thesis_json(evidence=[{"tool": "prompt", "detail": "last close"}]))])
    config = providers(server, "json_schema", backup="json_mode")
    agent = agent_on(config, catalog, store, tools=(), fallback_model="local:backup")
    turn = await ask(agent, catalog)
    assert turn.thesis is not None
    assert "response_format" not in server.requests[0]


def test_an_agent_with_tools_on_a_model_that_calls_none_is_refused(
    catalog: Catalog, store: LlmCallStore
) -> None:
    with fake_llm([]) as server:
        config = providers(server, "json_mode", tools=False)
        with pytest.raises(ConfigError, match=r"local:primary does not call tools.*tools: \[\]"):
            agent_on(config, catalog, store)
        assert agent_on(config, catalog, store, tools=()).name == "analyst"


@pytest.mark.parametrize("mode", ["json_schema", "none"])
async def test_an_ollama_agents_request_still_goes_through_the_door(
    mode: str, catalog: Catalog, store: LlmCallStore
) -> None:
    """litellm's model takes the door (its http handler) as a request parameter: the turn's
    response_format joins it rather than replacing it, so the try is seen and logged."""
    models = {"llama3.1": {"input_per_mtok": 0, "output_per_mtok": 0, "structured_output": mode}}
    ollama = {"protocol": "ollama", "base_url": "http://127.0.0.1:9", "models": models}
    config = ProvidersConfig.model_validate({"providers": {"ollama": ollama}})
    agent = agent_on(config, catalog, store, model="ollama:llama3.1", tools=())
    turn = await ask(agent, catalog)
    assert isinstance(turn.outcome, Abstention)
    assert "cannot connect: 127.0.0.1:9" in turn.outcome.reason  # the door's description
    assert [c.outcome for c in store.calls("run-1")] == ["failed", "failed"]
