"""LLM agents against loopback servers speaking the OpenAI chat-completions and Anthropic
messages wire formats: typed theses, re-asks, abstentions, retries, fallback, cost, budget and
replay. Every malformed reply ends in a valid thesis or a recorded abstain, never a crash and
never an order."""

from __future__ import annotations

import asyncio
import json
import time
from base64 import b64encode
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agents.gateway import LlmGateway, ReplayMiss, RetryPolicy
from agents.llm_agent import (
    MODEL_CALLS_PER_TURN,
    LlmAgent,
    Turn,
    build_models,
    decision_from_theses,
)
from agents.llm_calls import Budget, BudgetExceeded, LlmCallStore
from agents.models import ModelNotFound, ProviderKeyRefused
from agents.providers import ModelRef
from agents.specs import Abstention, AgentSpec, Role, Thesis, ThesisReply
from tests.fakes.agents import loopback_providers, thesis_json
from tests.fakes.llm_server import CallTool, Drop, Fail, FakeLlm, Hang, Say, Script, fake_llm
from tests.helpers import catalog_of, daily_series
from trading.clock import ReplayClock
from trading.data import Catalog, PointInTimeView
from trading.decision import Snapshot
from trading.errors import ConfigError
from trading.ledger import Ledger

NOW = datetime(2008, 9, 17, tzinfo=UTC)  # when the daily bar of 2008-09-16 has closed
SUMMARY = CallTool("get_market_summary", {"symbols": ["SPX"]})


class World:
    """One run's plumbing around a scripted model."""

    def __init__(self, server: FakeLlm, tmp_path: Path, catalog: Catalog) -> None:
        self.server = server
        self.url = f"sqlite:///{tmp_path / 'llm.db'}"
        self.store = LlmCallStore(self.url)
        self.catalog = catalog
        self.key_env: str | None = None  # the variable the loopback providers' key is in

    def gateway(
        self,
        *,
        replay: bool = False,
        budget: Budget | None = None,
        timer: Callable[[], float] | None = None,
        run_id: str = "run-1",
    ) -> LlmGateway:
        return LlmGateway(
            run_id=run_id,
            store=self.store,
            clock=ReplayClock(NOW),
            budget=budget,
            replay=replay,
            retry=RetryPolicy(attempts=2),
            **({} if timer is None else {"timer": timer}),
        )

    def agent(self, gateway: LlmGateway | None = None, **spec: Any) -> LlmAgent:
        fields: dict[str, Any] = {"name": "analyst", "role": Role.MARKET_ANALYST}
        # A call timeout far above a loopback answer on a loaded CI machine (a cold first call
        # through an SDK took over 1 s there); the tests of timeouts set their own.
        fields |= {"model": "local:primary", "timeout_s": 30.0, **spec}
        agent_spec = AgentSpec(**fields)
        models = build_models(agent_spec, loopback_providers(self.server, self.key_env))
        return LlmAgent(agent_spec, gateway or self.gateway(), models, self.catalog)

    def snapshot(self, now: datetime = NOW) -> Snapshot:
        view = PointInTimeView(self.catalog, ReplayClock(now))
        return Snapshot(now, ("SPX",), view, Ledger(cash=Decimal(100_000)).portfolio())


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.default()


@pytest.fixture
def world(tmp_path: Path, catalog: Catalog, request: pytest.FixtureRequest) -> Iterator[World]:
    script: Script = request.param
    with fake_llm(script) as server:
        yield World(server, tmp_path, catalog)
        server.assert_done()


def scripted(*steps: Any) -> Any:
    return pytest.mark.parametrize("world", [list(steps)], indirect=True)


async def ask(world: World, **spec: Any) -> Turn:
    return await world.agent(**spec).thesis(world.snapshot(), "SPX")


@scripted(SUMMARY, Say(thesis_json()))
async def test_openai_wire_tool_call_result_and_thesis(world: World) -> None:
    turn = await ask(world)
    assert turn.thesis == ThesisReply.model_validate_json(thesis_json()).thesis()
    assert turn.thesis is not None
    assert (turn.thesis.confidence, turn.thesis.target_weight) == (0.7, 0.5)
    first, second = world.server.requests
    assert world.server.paths == ["/v1/chat/completions"] * 2
    offered = {tool["function"]["name"] for tool in first["tools"]}
    assert offered == {"get_market_summary", "compute_indicator", "get_news_sentiment"}
    [tool_message] = [m for m in second["messages"] if m["role"] == "tool"]
    [summary] = json.loads(tool_message["content"])["symbols"]
    assert summary["symbol"] == "SPX"
    assert summary["price"] == "1213.60"  # the real close of 2008-09-16, nothing later
    assert turn.attempts[0].tools[0].name == "get_market_summary"


async def test_an_agent_deciding_in_1965_sees_its_tools_as_of_1965(tmp_path: Path) -> None:
    # Daily closes 10, 11, 12, ... from 1965-01-04 into 1970: a clock that began at the epoch
    # and only moves forward would show the model a close from 1969.
    days = (date(1970, 2, 1) - date(1965, 1, 4)).days
    series = daily_series("SPX", opens=[10.0 + n for n in range(days)], start=date(1965, 1, 4))
    with fake_llm([SUMMARY, Say(thesis_json())]) as server:
        world = World(server, tmp_path, catalog_of(series))
        now = datetime(1965, 1, 6, tzinfo=UTC)  # the bars of the 4th and the 5th have closed
        await world.agent().thesis(world.snapshot(now), "SPX")
        server.assert_done()
    [tool_message] = [m for m in server.requests[1]["messages"] if m["role"] == "tool"]
    [summary] = json.loads(tool_message["content"])["symbols"]
    assert summary["price"] == "11.0"  # 1965-01-05's close


@scripted(SUMMARY, Say(thesis_json()))
async def test_anthropic_messages_wire_gives_the_same_thesis(world: World) -> None:
    turn = await ask(world, model="claude:claude-test")
    assert turn.thesis is not None
    assert world.server.paths == ["/v1/messages"] * 2
    second = world.server.requests[1]
    results = [
        block
        for message in second["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    assert len(results) == 1
    assert "1213.60" in json.dumps(results[0])


@pytest.mark.parametrize(
    ("world", "model"),
    [
        ([SUMMARY, Say(thesis_json())], "local:primary"),
        ([SUMMARY, Say(thesis_json())], "claude:claude-test"),
    ],
    indirect=["world"],
)
async def test_every_call_is_priced_and_logged(world: World, model: str) -> None:
    gateway = world.gateway()
    await world.agent(gateway, model=model).thesis(world.snapshot(), "SPX")
    calls = world.store.calls("run-1")
    assert [c.model for c in calls] == [model] * 2
    assert all(c.prompt_tokens == 20 and c.completion_tokens == 10 for c in calls)
    # 20 tokens at $1/M in, 10 at $2/M out
    assert calls[0].cost_usd == Decimal("0.00004")
    assert gateway.budget.tokens == 60
    assert not any(c.cached for c in calls)


@scripted(Say("I think the market goes up."), SUMMARY, Say(thesis_json()))
async def test_a_reply_that_is_not_json_is_re_asked_with_the_error(world: World) -> None:
    turn = await ask(world)
    assert turn.thesis is not None
    assert turn.attempts[0].error is not None
    reask = world.server.requests[1]["messages"][-1]
    assert reask["role"] == "user"
    assert "not accepted" in reask["content"]
    assert "Invalid JSON" in reask["content"]


@scripted(
    Say(json.dumps({"ticker": "SPX", "view": "up"})),
    Say(thesis_json(confidence_pct=700)),
    Say(thesis_json(stance="bullish")),
)
async def test_three_invalid_replies_end_in_a_recorded_abstain(world: World) -> None:
    agent = world.agent(decide_every=1)
    decision = await agent.decide(world.snapshot())
    assert decision.targets == {}  # never an order
    reason = decision.abstentions["SPX"]
    assert reason.startswith("no valid thesis after 3 tries")
    assert "stance" in reason
    [turn] = agent.turns
    assert isinstance(turn.outcome, Abstention)
    errors = [a.error or "" for a in turn.attempts]
    assert "symbol: Field required" in errors[0]
    assert "confidence_pct: Input should be less than or equal to 100" in errors[1]


@scripted(Say(thesis_json(confidence_pct=700)), SUMMARY, Say(thesis_json()))
async def test_a_confidence_of_7_is_re_asked(world: World) -> None:
    turn = await ask(world)
    assert turn.thesis is not None
    assert turn.thesis.confidence == 0.7


@scripted(Say(""), SUMMARY, Say(thesis_json()))
async def test_an_empty_reply_is_re_asked(world: World) -> None:
    turn = await ask(world)
    assert turn.thesis is not None
    assert turn.attempts[0].error == "the reply was empty; a JSON object is required"


@scripted(CallTool("get_stock_tips", {"symbols": ["SPX"]}), SUMMARY, Say(thesis_json()))
async def test_an_unknown_tool_gets_an_error_result_and_the_turn_goes_on(world: World) -> None:
    turn = await ask(world)
    assert turn.thesis is not None
    [tool_message] = [m for m in world.server.requests[1]["messages"] if m["role"] == "tool"]
    assert "does not exist" in tool_message["content"]


@scripted(
    CallTool("get_market_summary", {"symbols": [5]}, id="c1"),
    CallTool("get_market_summary", {"symbols": ["NOPE"]}, id="c2"),
    CallTool("get_market_summary", "{not json", id="c3"),
    SUMMARY,
    Say(thesis_json()),
)
async def test_bad_tool_arguments_come_back_as_errors_the_model_can_fix(world: World) -> None:
    turn = await ask(world)
    assert turn.thesis is not None
    results = [m["content"] for m in world.server.requests[3]["messages"] if m["role"] == "tool"]
    assert "Input should be a valid string" in results[0]
    assert "NOPE" in results[1]
    assert "decoding function arguments" in results[2]


@scripted(Say(thesis_json()))
async def test_evidence_must_cite_a_tool_that_was_called(world: World) -> None:
    world.server._script.append(SUMMARY)  # type: ignore[union-attr]
    world.server._script.append(Say(thesis_json()))  # type: ignore[union-attr]
    turn = await ask(world)
    assert turn.thesis is not None
    assert "gave no result in this conversation" in (turn.attempts[0].error or "")


@pytest.mark.parametrize(
    "world",
    [
        [Fail(429, "slow down", retry_after=0.4), SUMMARY, Say(thesis_json())],
        [Fail(503, "busy", retry_after_ms=400), SUMMARY, Say(thesis_json())],
    ],
    indirect=True,
)
async def test_a_rate_limit_is_retried_after_the_providers_delay(world: World) -> None:
    turn = await ask(world)
    assert turn.thesis is not None
    # The SDK waited as the provider said (retry-after, retry-after-ms), not its 0.5 s backoff
    # with up to 25% jitter off, which could be as short as 0.375 s.
    assert world.server.times[1] - world.server.times[0] >= 0.4
    calls = world.store.calls("run-1")
    assert [c.outcome for c in calls] == ["failed", "answered", "answered"]


@scripted(Fail(500, "do not retry", should_retry=False))
async def test_a_provider_that_says_do_not_retry_is_not_retried(world: World) -> None:
    turn = await ask(world)
    assert isinstance(turn.outcome, Abstention)
    assert "HTTP 500 Internal Server Error: do not retry" in turn.outcome.reason
    assert len(world.server.requests) == 1


@scripted(Hang(), SUMMARY, Say(thesis_json()))
async def test_a_hosted_providers_timeout_is_retried(world: World) -> None:
    turn = await ask(world, model="hosted:primary", timeout_s=1.0)
    assert turn.thesis is not None
    outcomes = [c.outcome for c in world.store.calls("run-1")]
    # The abandoned try is in the log: a hosted provider may bill it.
    assert outcomes == ["timed out", "answered", "answered"]


@scripted(Hang())
async def test_a_local_servers_timeout_is_not_retried_while_it_may_still_be_working(
    world: World,
) -> None:
    turn = await ask(world, timeout_s=1.0)
    assert isinstance(turn.outcome, Abstention)
    assert turn.outcome.reason == (
        "no model answered: local:primary: no answer within 1 s (not retried: a local "
        "server may still be working on it)"
    )
    assert len(world.server.requests) == 1
    [call] = world.store.calls("run-1")
    assert (call.outcome, call.tokens) == ("timed out", 0)


@scripted(Drop(), SUMMARY, Say(thesis_json()))
async def test_a_server_that_crashes_on_a_request_is_retried(world: World) -> None:
    """A connection reset with no answer (llama.cpp's server segfaulting on a schema) is a
    retryable failure like a 500."""
    turn = await ask(world)
    assert turn.thesis is not None
    # The SDK retried the reset after its own backoff (0.5 s, up to 25% jitter off), and the
    # try that got no answer is in the log.
    assert world.server.times[1] - world.server.times[0] >= 0.375
    calls = world.store.calls("run-1")
    assert [c.outcome for c in calls] == ["failed", "answered", "answered"]


@scripted(Drop(), Drop())
async def test_a_server_that_crashes_on_every_try_ends_the_turn_in_an_abstain(
    world: World,
) -> None:
    started = time.perf_counter()
    turn = await ask(world)
    assert time.perf_counter() - started < 1.0  # the reset is seen at once, not at the timeout
    assert isinstance(turn.outcome, Abstention)
    assert turn.outcome.reason.startswith("no model answered")
    assert "(after 2 tries)" in turn.outcome.reason


@scripted(SUMMARY, Hang(), Hang())
async def test_the_tool_calls_of_an_attempt_that_timed_out_are_in_its_turn(world: World) -> None:
    turn = await ask(world, model="hosted:primary", timeout_s=1.0)
    assert isinstance(turn.outcome, Abstention)
    assert turn.outcome.reason.startswith("no model answered")
    [attempt] = turn.attempts
    assert [(t.name, t.arguments) for t in attempt.tools] == [
        ("get_market_summary", {"symbols": ["SPX"]})
    ]
    assert '"symbol":"SPX"' in attempt.tools[0].result
    assert attempt.answered is False
    assert attempt.reply == ""
    assert "hosted:primary: no answer within 1 s (after 2 tries)" in (attempt.error or "")


@scripted(Say("not json"), Fail(500, "down"), Fail(500, "down"))
async def test_a_re_ask_that_gets_no_answer_is_the_turns_last_attempt(world: World) -> None:
    turn = await ask(world)
    assert isinstance(turn.outcome, Abstention)
    first, second = turn.attempts
    assert (first.reply, first.answered) == ("not json", True)
    assert (second.reply, second.tools, second.answered) == ("", [], False)
    assert "HTTP 500 Internal Server Error: down (after 2 tries)" in (second.error or "")


@scripted(Fail(500), Fail(503), SUMMARY, Say(thesis_json()))
async def test_the_fallback_model_answers_when_the_primary_keeps_failing(world: World) -> None:
    gateway = world.gateway()
    turn = await world.agent(gateway, fallback_model="local:backup").thesis(world.snapshot(), "SPX")
    assert turn.thesis is not None
    # agno's fallback answers the whole reply, tool rounds included, once the primary failed.
    assert [c.model for c in gateway.calls] == ["local:backup", "local:backup"]
    logged = [(c.model, c.outcome) for c in world.store.calls("run-1")]
    assert logged[:2] == [("local:primary", "failed"), ("local:primary", "failed")]


@scripted(Fail(500, "primary down"), Fail(500, "primary down"), Fail(502), Fail(502))
async def test_when_no_model_answers_the_agent_abstains(world: World) -> None:
    turn = await ask(world, fallback_model="local:backup")
    assert isinstance(turn.outcome, Abstention)
    assert turn.outcome.reason == (
        "no model answered: local:primary: HTTP 500 Internal Server Error: primary down "
        "(after 2 tries); then local:backup: HTTP 502 Bad Gateway: scripted failure "
        "(after 2 tries)"
    )


@pytest.mark.parametrize(
    ("world", "model"),
    [
        ([Say(thesis_json(), prompt_tokens=-10_000_000)], "local:primary"),
        ([Say(thesis_json(), prompt_tokens=-10_000_000)], "claude:claude-test"),
    ],
    indirect=["world"],
)
async def test_negative_usage_is_a_failed_call_that_never_lowers_the_budget(
    world: World, model: str
) -> None:
    gateway = world.gateway(budget=Budget(max_tokens=1000))
    turn = await world.agent(gateway, model=model).thesis(world.snapshot(), "SPX")
    assert isinstance(turn.outcome, Abstention)
    assert "BadUsage: usage.input_tokens is -10000000, below 0" in turn.outcome.reason
    assert (gateway.budget.tokens, gateway.budget.usd) == (0, Decimal(0))
    [call] = world.store.calls("run-1")  # logged as a failed try, with no tokens
    assert (call.outcome, call.tokens, call.cost_usd) == ("failed", 0, Decimal(0))
    assert len(world.server.requests) == 1  # not retried: the provider would say it again


KEY = "sk-Live_7hG4kQ9zR2mXw5"
ECHOED = f"no such key {KEY.upper()} (sent as Basic {b64encode(f'user:{KEY}'.encode()).decode()})"


@pytest.mark.parametrize(
    ("world", "model", "provider"),
    [
        ([Fail(401, ECHOED)], "local:primary", "local"),
        ([Fail(403, ECHOED)], "claude:claude-test", "claude"),
    ],
    indirect=["world"],
)
async def test_a_refused_key_stops_the_run_at_the_first_call_naming_its_variable(
    world: World, model: str, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEPIT_TEST_LLM_KEY", KEY)
    world.key_env = "TRADEPIT_TEST_LLM_KEY"
    with pytest.raises(ProviderKeyRefused) as refused:
        await ask(world, model=model, fallback_model="local:backup")
    line = str(refused.value)
    assert line.startswith(f"{provider} refused the key ($TRADEPIT_TEST_LLM_KEY, HTTP 40")
    assert "\n" not in line
    assert isinstance(refused.value, ConfigError)  # the CLI's exit 2
    # The key the provider echoed stays out of the line, in any encoding.
    for leaked in (KEY, KEY.upper(), b64encode(f"user:{KEY}".encode()).decode()):
        assert leaked not in line
    assert line.count("[redacted]") == 2
    assert len(world.server.requests) == 1  # neither retried nor handed to the fallback


@scripted(Fail(404, "The model `primary` does not exist"))
async def test_a_missing_model_stops_the_run_naming_the_model(world: World) -> None:
    with pytest.raises(ModelNotFound, match=r"local:primary: the provider has no model 'primary'"):
        await ask(world)


@scripted(SUMMARY)
async def test_the_budget_stops_the_run_with_a_clear_message(world: World) -> None:
    with pytest.raises(BudgetExceeded, match="token budget reached: 30 of 25 tokens"):
        await world.agent(world.gateway(budget=Budget(max_tokens=25))).thesis(
            world.snapshot(), "SPX"
        )


@scripted(SUMMARY, Say(thesis_json()))
async def test_a_replay_answers_from_the_cache_with_zero_calls(world: World) -> None:
    original = await ask(world)
    asked = len(world.server.requests)
    replay_gateway = world.gateway(replay=True)
    replayed = await world.agent(replay_gateway).thesis(world.snapshot(), "SPX")
    assert replayed == original
    assert len(world.server.requests) == asked
    assert all(c.cached for c in replay_gateway.calls)
    assert replay_gateway.budget.tokens == 0  # cached answers are not paid twice


@scripted(SUMMARY, Say(thesis_json()), SUMMARY, Say(thesis_json(confidence_pct=90)))
async def test_a_new_run_asks_its_model_again_and_only_a_replay_reads_a_recording(
    world: World,
) -> None:
    first = await world.agent(world.gateway(run_id="run-1")).thesis(world.snapshot(), "SPX")
    # Same database, same question: a new run is not answered by run-1's recording.
    second = await world.agent(world.gateway(run_id="run-2")).thesis(world.snapshot(), "SPX")
    assert len(world.server.requests) == 4
    assert (
        first.thesis and first.thesis.confidence,
        second.thesis and second.thesis.confidence,
    ) == (
        0.7,
        0.9,
    )
    replay = LlmGateway(
        run_id="rp-1",
        store=world.store,
        clock=ReplayClock(NOW),
        replay=True,
        answers_from="run-2",
    )
    replayed = await world.agent(replay).thesis(world.snapshot(), "SPX")
    assert replayed == second
    assert len(world.server.requests) == 4


@scripted(Hang())
async def test_a_replay_reproduces_the_abstain_a_timeout_caused(world: World) -> None:
    original = await ask(world, timeout_s=1.0)
    assert isinstance(original.outcome, Abstention)
    agent = world.agent(world.gateway(replay=True), timeout_s=1.0)
    replayed = await agent.thesis(world.snapshot(), "SPX")
    assert replayed == original  # not a ReplayMiss: the timeout is part of the record
    assert len(world.server.requests) == 1


def one_at_a_time(ref: ModelRef, limit: int | None) -> ModelRef:
    """`ref` on a local server with the default concurrency (1) or `limit`."""
    return replace(ref, provider=ref.provider.model_copy(update={"concurrency": limit}))


@pytest.mark.parametrize(("limit", "overlap"), [(None, False), (2, True)])
async def test_a_local_server_gets_one_request_at_a_time_unless_configured(
    tmp_path: Path, catalog: Catalog, limit: int | None, overlap: bool
) -> None:
    answer = Say(thesis_json(evidence=[{"tool": "prompt", "detail": "last close"}]))
    with fake_llm(lambda body: answer, latency_s=0.4) as server:
        world = World(server, tmp_path, catalog)
        gateway = world.gateway()
        spec = AgentSpec(name="a", role=Role.MARKET_ANALYST, model="local:primary", tools=())
        ref = one_at_a_time(loopback_providers(server).resolve("local:primary"), limit)
        agents = [
            LlmAgent(spec.model_copy(update={"name": n}), gateway, [ref], catalog)
            for n in ("a", "b")
        ]
        await asyncio.gather(*(a.thesis(world.snapshot(), "SPX") for a in agents))
    first, second = sorted(server.times)
    assert (second - first < 0.4) is overlap


@scripted()
async def test_a_replay_that_meets_a_new_question_stops(world: World) -> None:
    with pytest.raises(ReplayMiss, match="never asked"):
        await world.agent(world.gateway(replay=True)).thesis(world.snapshot(), "SPX")


@scripted()
def test_order_tools_are_refused_to_agents(world: World) -> None:
    with pytest.raises(ConfigError, match="not for agents"):
        world.agent(tools=("get_price", "place_order"))


@scripted(SUMMARY, Say(thesis_json()), SUMMARY, Say(thesis_json(confidence_pct=90)))
async def test_an_agent_decides_every_nth_bar_and_holds_in_between(world: World) -> None:
    agent = world.agent(decide_every=2)
    days = [NOW + timedelta(days=n) for n in range(4)]
    targets = [(await agent.decide(world.snapshot(day))).targets for day in days]
    assert targets == [{"SPX": Decimal("0.5")}, {}, {"SPX": Decimal("0.5")}, {}]


def tools_forever(then: int) -> Callable[[dict[str, Any]], Any]:
    """A model that answers every request with a tool call, `then` times, then a thesis."""
    asked = iter(range(then))
    return lambda body: SUMMARY if next(asked, None) is not None else Say(thesis_json())


@pytest.mark.parametrize("world", [tools_forever(then=100)], indirect=True)
async def test_a_model_that_keeps_calling_tools_abstains_at_the_call_cap(world: World) -> None:
    turn = await ask(world)
    # Past agno's tool-call limit the model is asked again with the tools still offered; the
    # gateway's door refuses the call past the turn's cap instead.
    assert len(world.server.requests) == MODEL_CALLS_PER_TURN
    assert isinstance(turn.outcome, Abstention)
    assert turn.outcome.reason == (
        f"model call cap reached: {MODEL_CALLS_PER_TURN} calls in one turn "
        f"(cap {MODEL_CALLS_PER_TURN}); the model did not end its turn"
    )


class ModelTime:
    """The gateway's monotonic timer, moved by the scripted model: each answer takes 3 s, two
    tool calls and then a thesis."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def thinking(self, body: dict[str, Any]) -> Any:
        self.now += 3.0
        return SUMMARY if self.now < 9 else Say(thesis_json())


MODEL_TIME = ModelTime()


@pytest.mark.parametrize("world", [MODEL_TIME.thinking], indirect=True)
async def test_a_turn_past_its_deadline_abstains_before_the_next_call(world: World) -> None:
    # A call timeout of 1 s gives the turn 5 s: two 3 s answers, and the third is not asked.
    agent = world.agent(world.gateway(timer=MODEL_TIME), timeout_s=1.0)
    turn = await agent.thesis(world.snapshot(), "SPX")
    assert len(world.server.requests) == 2
    assert isinstance(turn.outcome, Abstention)
    assert turn.outcome.reason == "turn deadline passed: 6 s of 5 s, after 2 model calls"


@scripted(Hang())
async def test_a_call_in_flight_at_the_deadline_is_cut_there(world: World) -> None:
    # A call timeout of 3 s gives the turn 15 s; the turn opens at 0 s and its only call
    # starts at 14 s, so the deadline cuts it after 1 s, before its own timeout.
    readings = iter([0.0, 14.0])
    agent = world.agent(world.gateway(timer=lambda: next(readings, 15.0)), timeout_s=3.0)
    turn = await agent.thesis(world.snapshot(), "SPX")
    assert isinstance(turn.outcome, Abstention)
    assert turn.outcome.reason == "turn deadline passed: 15 s of 15 s, after 1 model call"
    # Cut, not timed out and retried; the abandoned try is logged as one.
    assert [c.outcome for c in world.store.calls("run-1")] == ["cut"]


def turn_of(outcome: Thesis | Abstention) -> Turn:
    return Turn(agent="a", symbol="SPX", attempts=[], outcome=outcome)


def test_hold_low_confidence_and_abstain_leave_positions_alone() -> None:
    spec = AgentSpec(name="a", role=Role.BULL, model="x:y", min_confidence=0.5, max_weight=0.3)
    base = ThesisReply.model_validate_json(thesis_json()).thesis()
    buy = base.model_copy(update={"target_weight": 0.25})
    hold = base.model_copy(update={"stance": "hold"})
    unsure = base.model_copy(update={"confidence": 0.4})
    assert decision_from_theses(spec, [turn_of(buy)]).targets == {"SPX": Decimal("0.25")}
    assert decision_from_theses(spec, [turn_of(hold)]).targets == {}
    low = decision_from_theses(spec, [turn_of(unsure)])
    assert low.targets == {}
    assert "below 0.5" in low.rationale
    abstained = decision_from_theses(
        spec, [turn_of(Abstention(agent="a", symbol="SPX", reason="timeout"))]
    )
    assert abstained.targets == {}
    assert abstained.abstentions == {"SPX": "timeout"}
