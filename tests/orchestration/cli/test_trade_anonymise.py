"""`anonymise: true` in a trade's team file: the members see the universe renamed, rebased
and dated by offsets; the ledger trades the real series."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from orchestration.cli import app
from tests.fakes.agents import loopback_providers, portfolio_json
from tests.fakes.llm_server import FakeLlm, Say, fake_llm
from trading.storage import Store

runner = CliRunner()
SYMBOLS = ["AAPL", "JNJ", "XOM"]
WINDOW = ["--symbols", ",".join(SYMBOLS), "--start", "2018-01-02", "--end", "2018-02-28"]


def answer(body: dict[str, Any]) -> Say:
    first = next(m["content"] for m in body["messages"] if m["role"] == "user")
    rows = [line for line in first.split("\n") if re.match(r"^[A-Z_0-9]+,[0-9]", line)]
    names = [row.split(",")[0] for row in rows]
    return Say(portfolio_json(names, {names[0]: 40}))


@pytest.fixture
def server() -> Iterator[FakeLlm]:
    with fake_llm(answer) as fake:
        yield fake
        assert not fake.errors


def team(tmp_path: Path, server: FakeLlm, tools: list[str]) -> list[str]:
    spec = {"name": "pm", "role": "portfolio_manager", "model": "local:primary"}
    spec |= {"tools": tools, "timeout_s": 5}
    config: dict[str, Any] = {"name": "desk", "mode": "vote", "decide_every": 10}
    config |= {"anonymise": True, "coordinator": {"min_agents": 1}}
    config["members"] = [{"spec": spec}]
    (tmp_path / "team.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    providers = loopback_providers(server).model_dump(mode="json")
    (tmp_path / "providers.yaml").write_text(yaml.safe_dump(providers), encoding="utf-8")
    return ["--team", str(tmp_path / "team.yaml"), "--providers", str(tmp_path / "providers.yaml")]


def test_an_anonymised_team_trades_the_real_series_it_never_sees(
    tmp_path: Path, server: FakeLlm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))
    result = runner.invoke(app, ["trade", *WINDOW, *team(tmp_path, server, []), "--json"])
    assert result.exit_code == 0, result.stderr
    assert len(server.requests) == 4  # 39 bars, a decision every 10th, one call each
    for request in server.requests:
        text = json.dumps(request)
        assert "ASSET_01" in text
        assert not any(symbol in text for symbol in SYMBOLS)
        assert not re.search(r"\b(19|20)\d\d-\d\d-\d\d\b", text)
    run_id = json.loads(result.stdout)["run_id"]
    store = Store(f"sqlite:///{tmp_path / 'home' / 'replay.db'}")
    fills = store.fills(run_id)
    store.close()
    assert fills  # the ledger bought a real symbol
    assert {f.symbol for f in fills} <= set(SYMBOLS)


def test_an_anonymised_team_whose_member_holds_tools_is_refused_in_one_line(
    tmp_path: Path, server: FakeLlm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))
    args = team(tmp_path, server, ["get_market_summary"])
    result = runner.invoke(app, ["trade", *WINDOW, *args])
    assert result.exit_code == 2
    # One error line, after the notes every run on the stock universe starts with.
    [line] = [n for n in result.stderr.strip().splitlines() if not n.startswith("note: ")]
    assert line.startswith("error: ")
    assert "anonymise" in line
    assert "tools: []" in line
