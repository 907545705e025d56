"""LLM entrants in the arena against a scripted model on loopback: an agent run with two seeds,
a debating team, their calls, tokens and cost on the leaderboard, the memorisation flag, and a
replay from the cache that asks the model nothing and comes out the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
import yaml
from typer.testing import CliRunner

from orchestration.cli.arena import arena_app
from tests.fakes.agents import loopback_providers
from tests.fakes.llm_server import FakeLlm, Say, fake_llm

runner = CliRunner()


def scripted_answer(body: dict[str, Any]) -> Say:
    """A thesis on the asked symbol: buy on odd days of the month, sell on even ones."""
    first = next(m["content"] for m in body["messages"] if m["role"] == "user")
    symbol = first.split("Instrument: ")[1].split(".")[0]
    day = int(first.split("Time now: ")[1][8:10])
    stance, weight = ("buy", 50) if day % 2 else ("sell", 0)
    thesis = {
        "symbol": symbol,
        "stance": stance,
        "confidence_pct": 80,
        "target_weight_pct": weight,
        "horizon_days": 10,
        "rationale": f"day {day} says {stance}",
        "evidence": [{"tool": "prompt", "detail": "the last close"}],
    }
    return Say(json.dumps(thesis), prompt_tokens=300, completion_tokens=50)


def llm(name: str, role: str, temperature: float) -> dict[str, Any]:
    return {
        "name": name,
        "role": role,
        "model": "local:primary",
        "tools": [],
        "temperature": temperature,
        "decide_every": 10,
        "timeout_s": 5,
    }


ARENA = {
    "name": "llm",
    "symbols": ["SPX"],
    "start": "2018-01-01",
    "end": "2018-02-28",
    "repeats": 2,
    "bootstrap": {"samples": 200},
    "entrants": [
        {"quant": "buy_and_hold"},
        {"agent": llm("solo", "market_analyst", 0.5)},
        {
            "team": {
                "name": "desk",
                "mode": "debate",
                "rounds": 1,
                "decide_every": 10,
                "members": [
                    {"spec": llm("bull", "bull", 0.0)},
                    {"spec": llm("bear", "bear", 0.0)},
                    {"quant": "sma_cross", "confidence": 0.5},
                ],
            }
        },
    ],
}


@pytest.fixture
def server() -> Iterator[FakeLlm]:
    with fake_llm(scripted_answer) as fake:
        yield fake
        assert not fake.errors


@pytest.fixture
def files(tmp_path: Path, server: FakeLlm, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))
    providers = loopback_providers(server).model_dump(mode="json")
    providers["providers"]["local"]["models"]["primary"]["cutoff"] = "2019-06-01"
    (tmp_path / "providers.yaml").write_text(yaml.safe_dump(providers), encoding="utf-8")
    (tmp_path / "arena.yaml").write_text(yaml.safe_dump(ARENA), encoding="utf-8")
    return {
        "providers": str(tmp_path / "providers.yaml"),
        "config": str(tmp_path / "arena.yaml"),
        "db": f"sqlite:///{tmp_path / 'arena.db'}",
    }


def arena(*args: str) -> tuple[int, dict[str, Any] | None, str]:
    result = runner.invoke(arena_app, [*args, "--json"])
    document = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, document, result.stderr


def first_run(files: dict[str, str]) -> dict[str, Any]:
    """The document of the arena in `files`, run on its providers into its database."""
    code, document, err = arena(
        "--config", files["config"], "--providers", files["providers"], "--db", files["db"]
    )
    assert code == 0, err
    assert document is not None
    return document


def test_llm_entrants_compete_and_a_replay_asks_the_model_nothing(
    server: FakeLlm, files: dict[str, str]
) -> None:
    original = first_run(files)
    rows = {row["entrant"]: row for row in original["leaderboard"]["rows"]}
    assert set(rows) == {"buy_and_hold", "solo", "desk"}
    solo, desk = rows["solo"], rows["desk"]
    # The agent samples at temperature 0.5: two runs with their own seeds; the team is greedy.
    assert solo["runs"] == 2
    assert len(set(solo["seeds"])) == 2
    assert solo["sharpe_spread"]["runs"] == 2
    assert desk["runs"] == 1
    assert original["seeds"]["solo"] == solo["seeds"]
    # 39 bars, a decision every 10th: 4 decisions; one thesis each for the agent, and for the
    # team two theses and two rebuttals.
    assert solo["llm_calls"] == 4
    assert desk["llm_calls"] == 16
    assert solo["llm_tokens"] == 4 * 350
    assert solo["llm_cost_usd"] == str((4 * 300 * 1 + 4 * 50 * 2) / 1_000_000)
    assert solo["net_return"] < solo["total_return"]
    assert (solo["llm_valid_theses"], solo["llm_reasks"], solo["llm_abstains"]) == (4, 0, 0)
    assert (desk["llm_valid_theses"], desk["llm_reasks"], desk["llm_abstains"]) == (16, 0, 0)
    assert rows["buy_and_hold"]["llm_valid_theses"] is None
    assert solo["trades"] > 0
    assert desk["trades"] > 0
    assert len(server.requests) == 2 * 4 + 16
    sent_seeds = {r["seed"] for r in server.requests if "market analyst" in str(r["messages"])}
    assert sent_seeds == set(solo["seeds"])
    assert solo["memorisation"] == [
        "possibly memorised: the window starts 2018-01-01, before local:primary's training "
        "cut-off 2019-06-01"
    ]
    assert rows["buy_and_hold"]["memorisation"] == []
    assert original["models"] == {
        "solo": {"local:primary": "2019-06-01"},
        "desk": {"local:primary": "2019-06-01"},
    }

    asked = len(server.requests)
    # The replay's providers point at a port where nothing listens: it needs no model at all.
    dead = Path(files["providers"]).with_name("dead.yaml")
    text = Path(files["providers"]).read_text(encoding="utf-8")
    assert f":{server.port}/" in text
    dead.write_text(text.replace(f":{server.port}", ":9"), encoding="utf-8")
    code, replayed, err = arena("--replay", original["run_id"], "--db", files["db"],
                                "--providers", str(dead))  # fmt: skip
    assert code == 0, err
    assert replayed is not None
    assert len(server.requests) == asked  # not one request reached the model
    assert replayed["replay_of"] == original["run_id"]
    assert replayed["replay"] == {
        "of": original["run_id"],
        "equal": True,
        "differences": [],
        "llm_calls_made": 0,
        "llm_answers_from_cache": asked,
    }
    assert replayed["leaderboard"]["rows"] == original["leaderboard"]["rows"]

    shown = runner.invoke(arena_app, ["show", replayed["run_id"], "--db", files["db"]])
    assert shown.exit_code == 0
    assert f"replay of {original['run_id']}: identical, 0 LLM calls made" in shown.stdout
    assert "solo (!): possibly memorised" in " ".join(shown.stdout.split())


def test_a_replay_whose_answers_are_gone_stops_instead_of_calling_the_model(
    server: FakeLlm, files: dict[str, str]
) -> None:
    original = first_run(files)
    engine = sqlalchemy.create_engine(files["db"])
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DELETE FROM llm_recordings"))
    engine.dispose()
    asked = len(server.requests)
    code, _, err = arena("--replay", original["run_id"], "--db", files["db"],
                         "--providers", files["providers"])  # fmt: skip
    assert code == 2
    assert "asked something the original run never asked" in err
    assert len(server.requests) == asked


def test_a_replay_without_providers_uses_the_ones_its_original_stored(
    server: FakeLlm, files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The local model takes a key here, so that the run has a secret it must not store.
    monkeypatch.delenv("TRADEPIT_PROVIDERS", raising=False)
    monkeypatch.setenv("TRADEPIT_TEST_LOCAL_KEY", "sk-local-secret-4711")
    providers = yaml.safe_load(Path(files["providers"]).read_text(encoding="utf-8"))
    local = providers["providers"]["local"]
    local |= {"key_required": True, "api_key_env": "TRADEPIT_TEST_LOCAL_KEY"}
    Path(files["providers"]).write_text(yaml.safe_dump(providers), encoding="utf-8")
    original = first_run(files)
    assert server.requests
    Path(files["providers"]).unlink()
    asked = len(server.requests)
    code, replayed, err = arena("--replay", original["run_id"], "--db", files["db"])
    assert code == 0, err
    assert replayed is not None
    assert len(server.requests) == asked
    assert replayed["replay"]["equal"] is True
    assert replayed["replay"]["llm_calls_made"] == 0
    # What was stored: the key's variable, the URL, models and prices; never the key.
    engine = sqlalchemy.create_engine(files["db"])
    with engine.begin() as connection:
        stored = connection.execute(
            sqlalchemy.text("SELECT providers FROM arena_runs WHERE id = :id"),
            {"id": original["run_id"]},
        ).scalar_one()
    engine.dispose()
    local_stored = json.loads(stored)["providers"]["local"]
    assert local_stored["api_key_env"] == "TRADEPIT_TEST_LOCAL_KEY"
    assert local_stored["base_url"] == f"http://127.0.0.1:{server.port}/v1"
    assert local_stored["models"]["primary"]["input_per_mtok"] == "1.00"
    database = Path(files["db"].removeprefix("sqlite:///")).read_bytes()
    assert b"sk-local-secret-4711" not in database


def test_an_llm_entrant_that_never_answers_validly_shows_its_abstentions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))
    config = {
        **ARENA,
        "entrants": [{"quant": "buy_and_hold"}, {"agent": llm("mute", "market_analyst", 0.0)}],
    }
    (tmp_path / "arena.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with fake_llm(lambda body: Say("It looks fine to me.")) as server:
        providers = loopback_providers(server).model_dump(mode="json")
        (tmp_path / "providers.yaml").write_text(yaml.safe_dump(providers), encoding="utf-8")
        args = ["--config", str(tmp_path / "arena.yaml"), "--providers"]
        args += [str(tmp_path / "providers.yaml"), "--db", f"sqlite:///{tmp_path / 'a.db'}"]
        code, document, err = arena(*args)
        assert code == 0, err
        assert document is not None
        shown = runner.invoke(arena_app, ["show", document["run_id"], "--db", args[-1]])
    row = next(r for r in document["leaderboard"]["rows"] if r["entrant"] == "mute")
    # Four decisions, each asked once and re-asked twice, then an abstention: flat, not idle.
    assert row["llm_calls"] == 12
    assert (row["llm_valid_theses"], row["llm_reasks"], row["llm_abstains"]) == (0, 8, 4)
    assert row["trades"] == 0
    cells = [line.split() for line in shown.stdout.splitlines()]
    assert any(line[1:2] == ["mute"] and line[-4:] == ["12", "0", "8", "4"] for line in cells)
    assert "valid theses" in shown.stdout
    assert "mute: no valid thesis, 4 abstentions per run" in " ".join(shown.stdout.split())
