"""A short arena on a real model (SmolLM2-135M on llama.cpp's server): an LLM agent against
buy and hold, three decisions; the leaderboard carries the calls, tokens and cost the call log
holds, and `--replay` with the server stopped reproduces the leaderboard with zero calls."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from agents.llm_calls import LlmCallStore
from orchestration.cli.arena import arena_app
from tests.real_model.checks import logged
from tests.real_model.server import MODEL, ModelServer, providers

pytestmark = pytest.mark.real_model

runner = CliRunner()
TIMEOUT_S = 60.0
# 39 bars from 2018-01-02, a decision every 15th: three decisions, one turn each.
ARENA = {
    "name": "real",
    "symbols": ["SPX"],
    "start": "2018-01-01",
    "end": "2018-02-28",
    "repeats": 1,
    "bootstrap": {"samples": 200},
    "entrants": [
        {"quant": "buy_and_hold"},
        {
            "agent": {
                "name": "solo",
                "role": "market_analyst",
                "model": MODEL,
                "temperature": 0.0,  # greedy: one run
                "max_tokens": 128,
                "decide_every": 15,
                "timeout_s": TIMEOUT_S,
            }
        },
    ],
}
DECISIONS = 3


def arena(*args: str) -> tuple[int, dict[str, Any] | None, str]:
    result = runner.invoke(arena_app, [*args, "--json"])
    doc = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, doc, result.stderr


def test_an_llm_entrant_on_a_real_model_competes_and_replays_with_the_server_stopped(
    model_server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))
    config = tmp_path / "arena.yaml"
    config.write_text(yaml.safe_dump(ARENA), encoding="utf-8")
    given = tmp_path / "providers.yaml"
    given.write_text(yaml.safe_dump(providers(model_server).model_dump(mode="json")))
    db = f"sqlite:///{tmp_path / 'arena.db'}"

    code, original, err = arena("--config", str(config), "--providers", str(given), "--db", db)
    assert code == 0, err
    assert original is not None
    rows = {row["entrant"]: row for row in original["leaderboard"]["rows"]}
    assert set(rows) == {"buy_and_hold", "solo"}
    solo = rows["solo"]
    assert solo["runs"] == 1

    calls = LlmCallStore(db).calls(f"{original['run_id']}/solo/0")
    logged(calls, TIMEOUT_S, cached=False)
    # Each decision is one turn of one to three replies (two re-asks at most).
    assert DECISIONS <= len(calls) == solo["llm_calls"] <= 3 * DECISIONS
    assert solo["llm_tokens"] == sum(c.tokens for c in calls)
    assert Decimal(solo["llm_cost_usd"]) == sum(c.cost_usd for c in calls)

    with model_server.stopped():
        code, replayed, err = arena("--replay", original["run_id"], "--db", db,
                                    "--providers", str(given))  # fmt: skip
    assert code == 0, err
    assert replayed is not None
    assert replayed["replay"] == {
        "of": original["run_id"],
        "equal": True,
        "differences": [],
        "llm_calls_made": 0,
        "llm_answers_from_cache": len(calls),
    }
    assert replayed["leaderboard"]["rows"] == original["leaderboard"]["rows"]
