"""The quant researcher: a role that measures the factors it proposes with `evaluate_factor`
and rests its thesis on what it measured."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from agents.gateway import LlmGateway, RetryPolicy
from agents.llm_agent import LlmAgent, build_models
from agents.llm_calls import LlmCallStore
from agents.prompts import instructions
from agents.specs import AgentSpec, Role
from tests.fakes.agents import loopback_providers, thesis_json
from tests.fakes.llm_server import CallTool, Say, fake_llm
from trading.clock import ReplayClock
from trading.data import Catalog, PointInTimeView
from trading.decision import Snapshot
from trading.ledger import Ledger

NOW = datetime(2008, 9, 17, tzinfo=UTC)
MOMENTUM = {"kind": "indicator", "name": "momentum", "window": 252, "skip": 21}
EVALUATE = CallTool("evaluate_factor", {"factor": MOMENTUM, "lookback_bars": 504})
CITED = [{"tool": "evaluate_factor", "detail": "12-1 momentum: lag-20 IC and quintiles"}]


def researcher(**fields: object) -> AgentSpec:
    return AgentSpec.model_validate(
        {"name": "quant", "role": "quant_researcher", "model": "local:primary", **fields}
    )


def test_a_quant_researcher_holds_evaluate_factor_unless_it_names_its_own_tools() -> None:
    assert researcher().role is Role.QUANT_RESEARCHER
    assert "evaluate_factor" in researcher().tools
    assert researcher(tools=["get_ohlcv"]).tools == ("get_ohlcv",)
    # Other roles keep the common default.
    other = AgentSpec(name="a", role=Role.MARKET_ANALYST, model="local:primary")
    assert "evaluate_factor" not in other.tools


def test_its_prompt_points_it_to_evaluate_factor_and_to_citing_ic_figures() -> None:
    prompt = instructions(researcher())
    assert "Role: quant researcher" in prompt
    assert "prefer evaluate_factor" in prompt
    assert "IC" in prompt
    assert "evaluate_factor" not in instructions(researcher(tools=["get_ohlcv"]))


async def test_it_calls_evaluate_factor_and_its_thesis_cites_the_result(tmp_path: Path) -> None:
    catalog = Catalog.default()
    spec = researcher(timeout_s=5.0)
    reply = thesis_json(symbol="AAPL", evidence=CITED)
    with fake_llm([EVALUATE, Say(reply)]) as server:
        gateway = LlmGateway(
            run_id="run-1",
            store=LlmCallStore(f"sqlite:///{tmp_path / 'llm.db'}"),
            clock=ReplayClock(NOW),
            retry=RetryPolicy(attempts=1),
        )
        agent = LlmAgent(spec, gateway, build_models(spec, loopback_providers(server)), catalog)
        view = PointInTimeView(catalog, ReplayClock(NOW))
        snapshot = Snapshot(NOW, ("AAPL",), view, Ledger(cash=Decimal(100_000)).portfolio())
        turn = await agent.thesis(snapshot, "AAPL")
        server.assert_done()
    assert turn.thesis is not None
    assert [e.tool for e in turn.thesis.evidence] == ["evaluate_factor"]
    [use] = turn.attempts[-1].tools
    assert (use.name, use.error) == ("evaluate_factor", False)
    first, second = server.requests
    assert "evaluate_factor" in {tool["function"]["name"] for tool in first["tools"]}
    [message] = [m for m in second["messages"] if m["role"] == "tool"]
    result = json.loads(message["content"])
    assert result["factor"] == {**MOMENTUM, "direction": "high"}
    assert [ic["lag"] for ic in result["ic"]] == [1, 5, 20]
    assert len(result["symbols"]) == 20
    # Point in time: nothing evaluated after the bar of 2008-09-16.
    assert result["last"] <= "2008-09-17"
