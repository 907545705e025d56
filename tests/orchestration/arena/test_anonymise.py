"""Against memorisation: `anonymise: true` runs every LLM entrant twice, once shown the real
universe and once renamed (ASSET_01...), rebased to 100 at the window start and dated as day
offsets from it, while the ledger trades the real series; the leaderboard sets the two side by
side."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from orchestration.cli.arena import arena_app
from tests.fakes.agents import loopback_providers, portfolio_json
from tests.fakes.llm_server import FakeLlm, Say, fake_llm

runner = CliRunner()
SYMBOLS = ["AAPL", "JNJ", "XOM"]


def table_names(body: dict[str, Any]) -> list[str]:
    """The symbols of the universe table, as the model was shown them."""
    first = next(m["content"] for m in body["messages"] if m["role"] == "user")
    lines = first.split("symbol,close,")[1].split("\n")[1:]
    return [line.split(",")[0] for line in lines[: len(SYMBOLS)]]


def answer(body: dict[str, Any]) -> Say:
    names = table_names(body)
    return Say(portfolio_json(names, {names[0]: 30, names[1]: 30}))


def agent() -> dict[str, Any]:
    return {
        "name": "pm",
        "role": "portfolio_manager",
        "model": "local:primary",
        "tools": [],
        "portfolio": True,
        "temperature": 0.0,
        "decide_every": 10,
        "timeout_s": 5,
    }


ARENA: dict[str, Any] = {
    "name": "recall",
    "symbols": SYMBOLS,
    "start": "2018-01-01",
    "end": "2018-02-28",
    "anonymise": True,
    "bootstrap": {"samples": 200},
    "benchmark": "equal_weight",
    "entrants": [{"quant": "equal_weight"}, {"agent": agent()}],
}


@pytest.fixture
def server() -> Iterator[FakeLlm]:
    with fake_llm(answer) as fake:
        yield fake
        assert not fake.errors


def write(tmp_path: Path, server: FakeLlm, arena: dict[str, Any]) -> list[str]:
    providers = loopback_providers(server).model_dump(mode="json")
    (tmp_path / "providers.yaml").write_text(yaml.safe_dump(providers), encoding="utf-8")
    (tmp_path / "arena.yaml").write_text(yaml.safe_dump(arena), encoding="utf-8")
    return [
        "--config",
        str(tmp_path / "arena.yaml"),
        "--providers",
        str(tmp_path / "providers.yaml"),
        "--db",
        f"sqlite:///{tmp_path / 'arena.db'}",
    ]


def test_anonymised_twins_see_no_real_name_price_or_date_and_sit_beside_the_plain_run(
    tmp_path: Path, server: FakeLlm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))
    result = runner.invoke(arena_app, [*write(tmp_path, server, ARENA), "--json"])
    assert result.exit_code == 0, result.stderr
    board = json.loads(result.stdout)["leaderboard"]
    rows = {row["entrant"]: row for row in board["rows"]}
    assert set(rows) == {"equal_weight", "pm", "pm-anonymised"}
    # 39 bars, a decision every 10th: four one-call portfolio turns for each twin.
    assert rows["pm"]["llm_calls"] == rows["pm-anonymised"]["llm_calls"] == 4
    assert rows["pm-anonymised"]["trades"] > 0  # the ledger traded the real series
    plain = [r for r in server.requests if "ASSET_" not in json.dumps(r)]
    hidden = [r for r in server.requests if "ASSET_" in json.dumps(r)]
    assert (len(plain), len(hidden)) == (4, 4)
    for request in hidden:
        text = json.dumps(request)
        assert not any(symbol in text for symbol in SYMBOLS)
        assert not re.search(r"\b(19|20)\d\d-\d\d-\d\d\b", text)  # no calendar date
        assert "day +" in text
    # The first decision, on the 10th bar, shows closes near 100 (rebased at the 1st bar).
    first = next(m["content"] for m in hidden[0]["messages"] if m["role"] == "user")
    closes = [float(line.split(",")[1]) for line in first.split("\n") if line.startswith("ASSET_")]
    assert all(80 < c < 120 for c in closes)
    assert all(s in json.dumps(plain[0]) for s in SYMBOLS)
    [pair] = board["recall"]
    assert (pair["entrant"], pair["anonymised"]) == ("pm", "pm-anonymised")
    assert pair["sharpe_gap"] == pytest.approx(pair["sharpe"] - pair["anonymised_sharpe"])

    shown = runner.invoke(arena_app, ["show", json.loads(result.stdout)["run_id"],
                                      "--db", f"sqlite:///{tmp_path / 'arena.db'}"])  # fmt: skip
    assert shown.exit_code == 0
    assert "With and without anonymise" in shown.stdout


def test_anonymise_refuses_an_agent_with_tools_in_one_line(
    tmp_path: Path, server: FakeLlm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))
    arena = {**ARENA, "entrants": [{"agent": agent() | {"tools": ["get_market_summary"]}}]}
    result = runner.invoke(arena_app, write(tmp_path, server, arena))
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert "anonymise" in line
    assert "tools: []" in line
    assert server.requests == []
