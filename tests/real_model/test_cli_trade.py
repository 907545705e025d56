"""`tradepit trade` with a debating team on a real model (SmolLM2-135M on llama.cpp's server),
an LLM bull against a buy-and-hold member: the run finishes, every turn ends in an accepted
thesis or a recorded abstain, a decision counts only accepted theses, every call is logged and
priced, and `--replay` with the server stopped trades the same run from the cache with zero
calls."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from agents.llm_agent import TURN_DEADLINE_TIMEOUTS
from agents.llm_calls import LlmCallStore
from agents.specs import Abstention, Thesis
from orchestration.cli import app
from orchestration.team.coordinator import CoordinatorConfig
from tests.real_model.checks import logged, outcomes, transcript_turns
from tests.real_model.server import MODEL, ModelServer, providers
from trading.storage import Store

pytestmark = pytest.mark.real_model

runner = CliRunner()
# 28 SPX bars, a decision every 14th: two decisions (cycles 0 and 14), each the bull's thesis and
# its rebuttal (a quant member does not revise). Two LLM debaters would double the turns, and
# on one llama.cpp server their alternating prompts cost more still: 211 s against ~100 s.
WINDOW = ["--symbols", "SPX", "--start", "2008-09-02", "--end", "2008-10-09"]
CYCLES, DECISIONS, TURNS_PER_DECISION = 28, [0, 14], 2
TIMEOUT_S = 60.0
LLM_MEMBERS = {"bull"}
MEMBERS = {*LLM_MEMBERS, "buy_and_hold"}
QUORUM = CoordinatorConfig().min_agents  # valid theses a decision needs to act


def member(name: str) -> dict[str, Any]:
    return {
        "spec": {
            "name": name,
            "role": name,
            "model": MODEL,
            "temperature": 0.0,
            "max_tokens": 128,
            "timeout_s": TIMEOUT_S,
        }
    }


TEAM = {
    "name": "desk",
    "mode": "debate",
    "rounds": 1,
    "decide_every": 14,
    "members": [member("bull"), {"quant": "buy_and_hold", "confidence": 0.5}],
}


def trade(*args: str) -> tuple[int, dict[str, Any] | None, str]:
    result = runner.invoke(app, ["trade", *args, "--json"])
    doc = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, doc, result.stderr


def test_a_debating_team_on_a_real_model_trades_and_replays_with_the_server_stopped(
    model_server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))
    team = tmp_path / "team.yaml"
    team.write_text(yaml.safe_dump(TEAM, sort_keys=False), encoding="utf-8")
    given = tmp_path / "providers.yaml"
    given.write_text(yaml.safe_dump(providers(model_server).model_dump(mode="json")))
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    common = ["--providers", str(given), "--db", db]

    code, doc, err = trade("--team", str(team), *WINDOW, "--run-id", "real", *common)
    assert code == 0, err
    assert doc is not None
    assert (doc["status"], doc["cycles"]) == ("finished", CYCLES)
    assert [d["cycle"] for d in doc["decisions"]] == DECISIONS

    store = Store(db)
    turns = []
    for decision in doc["decisions"]:
        record = transcript(store, "real", decision["cycle"])
        decided = transcript_turns(record, LLM_MEMBERS)
        assert len(decided) == TURNS_PER_DECISION
        turns += decided
        [merge] = [s for s in record["steps"] if s["kind"] == "merge"]
        ballots = merge["ballots"]["SPX"]
        valid = {a for a, b in ballots.items() if _is(Thesis, b)}
        abstained = {a for a, b in ballots.items() if _is(Abstention, b)}
        assert valid | abstained == MEMBERS
        [merged] = record["decisions"]
        # Only accepted theses vote; an abstain is recorded with its reason, never a hold.
        assert {v["agent"] for v in merged["votes"]} <= valid
        assert set(merged["abstentions"]) == abstained
        if len(valid) < QUORUM:
            assert merged["action"] == "hold"
            assert decision["targets"] == {}
    orders = store.orders("real")
    store.close()
    if not any(t.thesis is not None for t in turns):
        # buy_and_hold alone is below the quorum: no order from answers that were all refused.
        assert orders == []
        assert doc["fills"] == 0

    calls = LlmCallStore(db).calls("real")
    logged(calls, TIMEOUT_S, cached=False)
    assert len(calls) == doc["llm"]["calls"] == sum(d["llm_calls"] for d in doc["decisions"])
    assert len(calls) >= sum(len(t.attempts) for t in turns)
    assert Decimal(doc["llm"]["usd"]) == sum(c.cost_usd for c in calls)
    assert doc["llm"]["paid_tokens"] == sum(c.tokens for c in calls)
    spent = sum(c.latency_s for c in calls)
    assert spent < len(turns) * TURN_DEADLINE_TIMEOUTS * TIMEOUT_S  # no turn hung

    with model_server.stopped():
        code, replayed, err = trade("--replay", "real", "--run-id", "again", *common)
    assert code == 0, err
    assert replayed is not None
    assert replayed["replay"] == {
        "of": "real",
        "llm_calls_made": 0,
        "ledger_equal": True,
        "differences": [],
    }
    assert replayed["llm"]["cached"] == len(calls)
    assert replayed["final_equity"] == doc["final_equity"]
    store = Store(db)
    for decision in doc["decisions"]:
        first, again = (transcript(store, run, decision["cycle"]) for run in ("real", "again"))
        assert outcomes(transcript_turns(again, LLM_MEMBERS)) == outcomes(
            transcript_turns(first, LLM_MEMBERS)
        )
    store.close()


def transcript(store: Store, run_id: str, cycle: int) -> dict[str, Any]:
    record = store.cycle(run_id, cycle)
    assert record is not None
    assert record.transcript is not None
    return record.transcript


def _is(kind: type[Thesis] | type[Abstention], ballot: dict[str, Any]) -> bool:
    try:
        kind.model_validate(ballot)
    except ValueError:
        return False
    return True
