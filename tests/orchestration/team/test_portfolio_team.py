"""Teams whose members judge portfolios: a 3-member debate on 20 symbols makes one LLM call
per member per round (never one per symbol), and the coordinator merges the views per symbol
as it merges single-symbol theses."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agents.gateway import LlmGateway, RetryPolicy
from agents.llm_calls import LlmCallStore
from orchestration.team.config import TeamConfig
from orchestration.team.runtime import build_team
from tests.fakes.agents import loopback_providers, portfolio_json
from tests.fakes.llm_server import Say, Step, fake_llm
from trading.clock import ReplayClock
from trading.construction import ConstructionConfig, Method
from trading.data import Catalog, PointInTimeView
from trading.data.universe import SP20
from trading.decision import Snapshot
from trading.ledger import Ledger

NOW = datetime(2012, 6, 1, tzinfo=UTC)
WEIGHTS = {"bull": {"AAPL": 30, "MSFT": 20}, "bear": {"AAPL": 10}, "portfolio": {"AAPL": 20}}


def role_of(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    return str(system.split("Role: ")[1].split(" ")[0].rstrip("."))


def by_role(body: dict[str, Any]) -> Step:
    return Say(portfolio_json(SP20, WEIGHTS[role_of(body)]))


def member(name: str, role: str) -> dict[str, Any]:
    spec = {"name": name, "role": role, "model": "local:primary", "tools": [], "timeout_s": 5}
    return {"spec": spec | {"portfolio": True}}


def config(mode: str, rounds: int) -> TeamConfig:
    team: dict[str, Any] = {
        "name": "desk",
        "mode": mode,
        "rounds": rounds,
        "decide_every": 1,
        "members": [
            member("bull", "bull"),
            member("bear", "bear"),
            member("pm", "portfolio_manager"),
        ],
    }
    if mode == "judge":
        team["judge"] = {"spec": member("chief", "portfolio_manager")["spec"]}
    return TeamConfig.model_validate(team)


async def decide(tmp_path: Path, team: TeamConfig, script: Callable[[dict[str, Any]], Step]):
    catalog = Catalog.default()
    with fake_llm(script) as server:
        gateway = LlmGateway(
            run_id="run-1",
            store=LlmCallStore(f"sqlite:///{tmp_path / 'llm.db'}"),
            clock=ReplayClock(NOW),
            retry=RetryPolicy(attempts=1),
        )
        desk = build_team(
            team, catalog=catalog, gateway=gateway, providers=loopback_providers(server)
        )
        view = PointInTimeView(catalog, ReplayClock(NOW))
        snapshot = Snapshot(NOW, SP20, view, Ledger(cash=Decimal(100_000)).portfolio())
        decision = await desk.decide(snapshot)
        assert not server.errors
        return decision, desk.transcript(), server.requests


@pytest.mark.parametrize("rounds", [1, 2])
async def test_a_three_member_debate_on_twenty_symbols_calls_once_per_member_per_round(
    tmp_path: Path, rounds: int
) -> None:
    decision, transcript, requests = await decide(tmp_path, config("debate", rounds), by_role)
    assert len(requests) == 3 * (1 + rounds)  # 20 symbols asked one by one: 3 * 20 * (1 + r)
    assert decision.details["llm.calls"] == 3 * (1 + rounds)
    # Merged per symbol: AAPL bought by all three at 30, 10 and 20 (equal confidence: 20);
    # MSFT by one of three, which the quorum does not carry; the rest held.
    assert decision.targets == {"AAPL": Decimal("0.200000")}
    assert transcript is not None
    debate = next(s for s in transcript["steps"] if s["kind"] == "debate")
    assert len(debate["turns"]) == 3 * rounds  # one portfolio turn per member per round
    assert len(debate["revisions"]) == 3 * rounds * 20  # still recorded per symbol
    # The bull's last turn (the members of a round ask at once: which request comes last
    # is the scheduler's to say) reads the bear's view in the round's note.
    last_bull = [r for r in requests if role_of(r) == "bull"][-1]
    notes = [m["content"] for m in last_bull["messages"] if m["role"] == "user"]
    assert "Debate round" in notes[0]
    assert "- AAPL: bear buy +10%" in notes[0]


async def test_a_judge_reads_every_symbol_in_one_note_and_decides_in_one_call(
    tmp_path: Path,
) -> None:
    def script(body: dict[str, Any]) -> Step:
        last = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        if "You are the judge" in last:
            return Say(portfolio_json(SP20, {"JPM": 40}))
        return by_role(body)

    decision, _, requests = await decide(tmp_path, config("judge", 1), script)
    assert len(requests) == 3 + 3 + 1
    assert decision.targets == {"JPM": Decimal("0.400000")}
    judged = json.dumps(requests[-1])
    assert "bull buy +30%" in judged


async def test_the_teams_merged_views_go_through_construction_before_the_gate(
    tmp_path: Path,
) -> None:
    def script(body: dict[str, Any]) -> Step:
        return Say(portfolio_json(SP20, {"AAPL": 20, "JNJ": 20}))

    team = config("vote", 0).model_copy(
        update={"construction": ConstructionConfig(method=Method.INVERSE_VOLATILITY)}
    )
    decision, transcript, _ = await decide(tmp_path, team, script)
    assert transcript is not None
    built = transcript["construction"]
    assert built["views"] == {"AAPL": "0.200000", "JNJ": "0.200000"}
    assert built["rebalanced"]
    assert sum(decision.targets.values()) == Decimal("0.400000")
    assert decision.targets["JNJ"] > decision.targets["AAPL"]  # the calmer name gets more
    assert "construction inverse_volatility" in decision.rationale
