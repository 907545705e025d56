"""Teams of scripted LLM agents (a loopback server on the OpenAI wire format) and quant members
judge one snapshot: parallel theses, rebuttal rounds, a judge, the coordinator's merge, and a
transcript that records all of it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agents.gateway import LlmGateway, RetryPolicy
from agents.llm_calls import Budget, BudgetExceeded, LlmCallStore
from orchestration.team.config import TeamConfig, load_team, quorum_shortfall
from orchestration.team.runtime import Team, build_team
from tests.fakes.agents import loopback_providers, thesis_json
from tests.fakes.llm_server import FakeLlm, Say, Step, fake_llm
from trading.clock import ReplayClock
from trading.data import Catalog, PointInTimeView
from trading.decision import Snapshot
from trading.errors import ConfigError
from trading.ledger import Ledger
from trading.replay import ReplayConfig, run_replay

NOW = datetime(2008, 9, 17, tzinfo=UTC)
PROMPT = [{"tool": "prompt", "detail": "last close 1213.60"}]


def answer(**fields: Any) -> Say:
    return Say(thesis_json(evidence=PROMPT, **fields))


Replies = dict[tuple[str, str], Say]  # (role, phase) -> reply


def role_script(replies: Replies) -> Callable[[dict[str, Any]], Step]:
    """Answer by the asking agent's role and the phase its last message shows."""

    def script(body: dict[str, Any]) -> Step:
        system = body["messages"][0]["content"]
        role = system.split("Role: ")[1].split(" ")[0].rstrip(".")
        last = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        phase = (
            "judge"
            if "You are the judge" in last
            else "debate"
            if "Debate round" in last
            else "thesis"
        )
        return replies[(role, phase)]

    return script


def spec(name: str, role: str) -> dict[str, Any]:
    return {"name": name, "role": role, "model": "local:primary", "tools": [], "timeout_s": 5}


def team_config(mode: str, **extra: Any) -> TeamConfig:
    return TeamConfig.model_validate(
        {
            "name": "desk",
            "mode": mode,
            "decide_every": 1,
            "members": [
                {"spec": spec("bull", "bull")},
                {"spec": spec("bear", "bear")},
                {"quant": "buy_and_hold", "confidence": 0.5},
            ],
            **extra,
        }
    )


class Desk:
    def __init__(self, server: FakeLlm, tmp_path: Path, catalog: Catalog) -> None:
        self.server = server
        self.store = LlmCallStore(f"sqlite:///{tmp_path / 'llm.db'}")
        self.catalog = catalog

    def team(self, config: TeamConfig, budget: Budget | None = None) -> Team:
        gateway = LlmGateway(
            run_id="run-1",
            store=self.store,
            clock=ReplayClock(NOW),
            budget=budget,
            retry=RetryPolicy(attempts=1),
        )
        return build_team(
            config,
            catalog=self.catalog,
            gateway=gateway,
            providers=loopback_providers(self.server),
        )

    def snapshot(self) -> Snapshot:
        view = PointInTimeView(self.catalog, ReplayClock(NOW))
        return Snapshot(NOW, ("SPX",), view, Ledger(cash=Decimal(100_000)).portfolio())


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.default()


@pytest.fixture
def desk(tmp_path: Path, catalog: Catalog, request: pytest.FixtureRequest) -> Iterator[Desk]:
    with fake_llm(role_script(request.param)) as server:
        yield Desk(server, tmp_path, catalog)
        assert not server.errors


def replies(**table: Say) -> Any:
    """Replies keyed role__phase, for pytest's indirect parametrisation."""
    keyed = {tuple(k.split("__")): v for k, v in table.items()}
    return pytest.mark.parametrize("desk", [keyed], indirect=True)


DEBATE = {
    "bull__thesis": answer(stance="buy", target_weight_pct=60, confidence_pct=80),
    "bear__thesis": answer(stance="sell", target_weight_pct=-40, confidence_pct=50),
    "bull__debate": answer(stance="buy", target_weight_pct=60, confidence_pct=80),
    "bear__debate": answer(
        stance="hold", target_weight_pct=0, confidence_pct=50, rationale="The bull's case holds."
    ),
}


@replies(**DEBATE)
async def test_a_debate_records_revisions_and_merges_the_final_views(desk: Desk) -> None:
    team = desk.team(team_config("debate"))
    decision = await team.decide(desk.snapshot())
    transcript = team.transcript()
    assert transcript is not None
    assert [(s["name"], s["status"]) for s in transcript["steps"]] == [
        ("analysts", "done"),
        ("debate", "done"),
        ("merge", "done"),
    ]
    revisions = {r["agent"]: r for r in transcript["steps"][1]["revisions"]}
    assert set(revisions) == {"bull", "bear"}  # the quant member does not revise
    assert revisions["bull"]["changed"] is False
    assert revisions["bear"]["changed"] is True
    assert revisions["bear"]["before"]["stance"] == "sell"
    assert revisions["bear"]["after"]["stance"] == "hold"
    assert revisions["bear"]["reason"] == "The bull's case holds."
    # Weights are confidence x a neutral track record: bull 0.8 at 0.6, bear's hold 0.5 at
    # the current weight 0, buy_and_hold 0.5 at 1.0: (0.48 + 0 + 0.5) / 1.8.
    assert decision.targets == {"SPX": Decimal("0.544444")}
    [merged] = transcript["decisions"]
    assert [d["agent"] for d in merged["dissent"]] == ["bear"]
    assert merged["dissent"][0]["share"] == pytest.approx(0.5 / 1.8)
    assert transcript["llm"]["calls"] == 4  # two theses in parallel, two revisions, no chain
    assert decision.details["llm.calls"] == 4


@replies(
    bull__thesis=answer(stance="buy", target_weight_pct=60, confidence_pct=80),
    bear__thesis=answer(stance="sell", target_weight_pct=-40, confidence_pct=50),
)
async def test_vote_mode_merges_first_theses_without_rebuttal(desk: Desk) -> None:
    team = desk.team(team_config("vote"))
    decision = await team.decide(desk.snapshot())
    transcript = team.transcript()
    assert transcript is not None
    assert [s["name"] for s in transcript["steps"]] == ["analysts", "merge"]
    # (0.8 x 0.6 - 0.5 x 0.4 + 0.5 x 1.0) / 1.8
    assert decision.targets == {"SPX": Decimal("0.433333")}
    assert transcript["llm"]["calls"] == 2


@replies(
    bull__thesis=answer(stance="buy", target_weight_pct=60, confidence_pct=80),
    bear__thesis=answer(stance="sell", target_weight_pct=-40, confidence_pct=50),
    bull__debate=answer(stance="buy", target_weight_pct=60, confidence_pct=80),
    bear__debate=answer(stance="sell", target_weight_pct=-40, confidence_pct=50),
    portfolio__judge=answer(stance="buy", target_weight_pct=25, confidence_pct=60),
)
async def test_in_judge_mode_the_judges_thesis_is_the_decision(desk: Desk) -> None:
    config = team_config("judge", judge={"spec": spec("pm", "portfolio_manager")})
    team = desk.team(config)
    decision = await team.decide(desk.snapshot())
    assert decision.targets == {"SPX": Decimal("0.250000")}
    transcript = team.transcript()
    assert transcript is not None
    judge_step = transcript["steps"][-1]
    assert judge_step["name"] == "judge"
    judge_prompt = desk.server.requests[-1]["messages"][-1]["content"]
    assert "bear: sell, target -0.40" in judge_prompt  # the judge read the final views
    assert judge_step["panel"][0]["merged_weight"] == pytest.approx((0.48 - 0.2 + 0.5) / 1.8)


@replies(
    bull__thesis=Say("buy buy buy"),
    bear__thesis=answer(stance="sell", target_weight_pct=-40, confidence_pct=50),
)
async def test_an_abstaining_member_is_left_out_and_reported(desk: Desk) -> None:
    team = desk.team(team_config("vote"))
    decision = await team.decide(desk.snapshot())
    transcript = team.transcript()
    assert transcript is not None
    [merged] = transcript["decisions"]
    assert merged["abstentions"]["bull"].startswith("no valid thesis after 3 tries")
    assert {v["agent"] for v in merged["votes"]} == {"bear", "buy_and_hold"}
    # (-0.5 x 0.4 + 0.5 x 1.0) / 1.0
    assert decision.targets == {"SPX": Decimal("0.300000")}


@replies(bull__thesis=Say("buy buy buy"), bear__thesis=Say("{}"))
async def test_too_few_valid_theses_means_hold_with_the_reason(desk: Desk) -> None:
    config = team_config("vote", coordinator={"min_agents": 2})
    config = config.model_copy(update={"members": config.members[:2]})
    team = desk.team(config)
    decision = await team.decide(desk.snapshot())
    assert decision.targets == {}
    assert "fewer than the 2 required" in decision.rationale


@replies(bull__thesis=answer(), bear__thesis=answer())
async def test_a_failing_step_stops_the_graph_and_holds(desk: Desk) -> None:
    team = desk.team(team_config("debate"))

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the strategy's data feed is gone")

    team.members["buy_and_hold"].thesis = broken  # type: ignore[method-assign]
    decision = await team.decide(desk.snapshot())
    assert decision.targets == {}
    transcript = team.transcript()
    assert transcript is not None
    assert [(s["name"], s["status"]) for s in transcript["steps"]] == [
        ("analysts", "failed"),
        ("debate", "skipped"),
        ("merge", "skipped"),
    ]
    assert "the strategy's data feed is gone" in decision.rationale


@replies(bull__thesis=answer(), bear__thesis=answer())
async def test_the_budget_stops_the_run_not_just_the_step(desk: Desk) -> None:
    team = desk.team(team_config("vote"), budget=Budget(max_tokens=20))
    with pytest.raises(BudgetExceeded):
        await team.decide(desk.snapshot())


@replies(
    bull__thesis=answer(stance="buy", target_weight_pct=60, confidence_pct=80),
    bear__thesis=answer(stance="sell", target_weight_pct=-40, confidence_pct=50),
)
async def test_a_team_replays_end_to_end_with_its_quant_member(desk: Desk) -> None:
    config = team_config("vote", decide_every=5)
    team = desk.team(config)
    result = await run_replay(
        team,
        desk.catalog,
        ReplayConfig(("SPX",), start=date(2008, 9, 1), end=date(2008, 9, 30)),
        run_id="team-replay",
    )
    decided = [d for d in result.decisions if d.decision.rationale != "between decisions"]
    assert len(decided) == 4  # 21 trading days, every fifth bar, the last bar only settles
    assert decided[0].decision.targets == {"SPX": Decimal("0.433333")}
    assert result.fills  # the team's target was traded
    # Then the same views: within the rebalance band of the position, so hold.
    assert [d.decision.targets for d in decided[1:3]] == [{}, {}]
    # By 24 September the first theses' horizons have passed in a falling market: the bear
    # was right, the bull wrong, and the track record moves weight to the bear.
    assert decided[3].decision.targets["SPX"] < Decimal("0.42")
    assert team.track.weight("bear") > 1.0 > team.track.weight("bull")
    assert len(desk.server.requests) == 2 * len(decided)  # a new moment is a new question


def test_a_team_file_with_errors_names_the_member_and_field(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(
        json.dumps(
            {
                "name": "desk",
                "members": [
                    {"quant": "sma_cross"},
                    {"spec": {**spec("bull", "bull"), "temperature": 9}},
                ],
            }
        )
    )
    with pytest.raises(ConfigError, match=r"member 'bull' \(#2\): spec.temperature"):
        load_team(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"members": [{"quant": "sma_cross"}, {"quant": "sma_cross"}]}, "repeated"),
        ({"members": [{"quant": "magic"}]}, "unknown quant strategy 'magic'"),
        ({"mode": "judge"}, "judge mode needs a judge"),
        ({"judge": {"quant": "momentum"}, "mode": "judge"}, "must be an LLM agent"),
        (
            {
                "steps": [
                    {"name": "a", "kind": "theses", "members": ["sma_cross"]},
                    {"name": "b", "kind": "merge", "after": ["c"]},
                    {"name": "c", "kind": "debate", "after": ["b"]},
                ]
            },
            "cycle",
        ),
        (
            {"steps": [{"name": "a", "kind": "theses", "members": ["ghost"]}]},
            "not members of the team",
        ),
        ({"steps": [{"name": "a", "kind": "theses", "members": ["sma_cross"]}]}, "must end in"),
    ],
)
def test_bad_team_configs_are_refused(change: dict[str, Any], message: str) -> None:
    config = {"name": "desk", "members": [{"quant": "sma_cross"}], **change}
    with pytest.raises(ValueError, match=message):
        TeamConfig.model_validate(config)


def test_a_custom_graph_runs_independent_steps_in_the_same_wave() -> None:
    config = TeamConfig.model_validate(
        {
            "name": "desk",
            "members": [{"quant": "sma_cross"}, {"quant": "momentum"}],
            "steps": [
                {"name": "trend", "kind": "theses", "members": ["sma_cross"]},
                {"name": "speed", "kind": "theses", "members": ["momentum"]},
                {"name": "merge", "kind": "merge", "after": ["trend", "speed"]},
            ],
        }
    )
    from orchestration.team.config import order

    assert [[s.name for s in wave] for wave in order(config.graph())] == [
        ["trend", "speed"],
        ["merge"],
    ]


PM = {"spec": {"name": "pm", "role": "portfolio_manager", "model": "local:primary"}}


@pytest.mark.parametrize(
    ("change", "shortfall"),
    [
        ({"members": [{"quant": "sma_cross"}]}, "1 member votes (sma_cross)"),
        ({}, None),
        ({"members": [{"quant": "sma_cross"}], "coordinator": {"min_agents": 1}}, None),
        ({"coordinator": {"min_agents": 3}}, "2 members vote (sma_cross, momentum)"),
        ({"members": [{"quant": "sma_cross"}], "mode": "judge", "judge": PM}, None),
        (
            {
                "steps": [
                    {"name": "trend", "kind": "theses", "members": ["sma_cross"]},
                    {"name": "talk", "kind": "debate", "after": ["trend"]},
                    {"name": "merge", "kind": "merge", "after": ["talk"]},
                ]
            },
            "1 member votes (sma_cross)",  # momentum is in no step
        ),
    ],
)
def test_a_team_that_can_never_reach_its_quorum_is_told_so(
    change: dict[str, Any], shortfall: str | None
) -> None:
    members = [{"quant": "sma_cross"}, {"quant": "momentum"}]
    config = TeamConfig.model_validate({"name": "desk", "members": members, **change})
    found = quorum_shortfall(config)
    if shortfall is None:
        assert found is None
    else:
        assert found is not None
        assert shortfall in found
        assert "coordinator.min_agents" in found
        assert "always hold" in found
