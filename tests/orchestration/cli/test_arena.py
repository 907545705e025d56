"""`tradepit arena` with quant entrants on the bundled data, called in-process: the leaderboard,
the JSON document, the report, `arena show`, the process pool, skipped LLM entrants and bad
configs."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
import yaml
from typer.testing import CliRunner

from orchestration.cli.arena import arena_app
from tests.orchestration.cli.helpers import Outcome, invoke_app, succeeded

runner = CliRunner()

SHORT = {"name": "short", "symbols": ["SPX", "IXIC"], "start": "2017-01-01", "end": "2017-12-31"}
QUANT = [
    {"quant": "buy_and_hold"},
    {"quant": "sma_cross", "name": "sma-fast", "params": {"fast": 5, "slow": 20}},
    {"quant": "rsi"},
]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))


def arena_file(tmp_path: Path, **fields: Any) -> Path:
    path = tmp_path / "arena.yaml"
    path.write_text(yaml.safe_dump({**SHORT, "entrants": QUANT, **fields}), encoding="utf-8")
    return path


def invoke(*args: str) -> Outcome:
    return invoke_app(arena_app, args)


def run_json(*args: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(succeeded(invoke(*args, "--json")))
    return document


def test_a_quant_arena_ranks_every_entrant_on_the_same_bars_and_costs(tmp_path: Path) -> None:
    document = run_json("--config", str(arena_file(tmp_path)))
    board = document["leaderboard"]
    assert [row["rank"] for row in board["rows"]] == [1, 2, 3]
    assert {row["entrant"] for row in board["rows"]} == {"buy_and_hold", "sma-fast", "rsi"}
    sharpes = [row["sharpe"] for row in board["rows"]]
    assert sharpes == sorted(sharpes, reverse=True)
    assert (board["start"], board["end"], board["bars"]) == ("2017-01-03", "2017-12-29", 251)
    by_name = {row["entrant"]: row for row in board["rows"]}
    hold = by_name["buy_and_hold"]
    assert hold["sharpe_vs_benchmark"] is None  # the benchmark is not compared with itself
    assert hold["trades"] == 2  # a buy per symbol, then held
    assert hold["llm_calls"] == 0
    assert hold["net_return"] == hold["total_return"]
    versus = by_name["sma-fast"]["sharpe_vs_benchmark"]
    assert versus["lower"] <= versus["estimate"] <= versus["upper"]
    interval = by_name["rsi"]["sharpe_interval"]
    assert interval["confidence"] == 0.95
    assert interval["lower"] <= interval["estimate"] <= interval["upper"]
    assert board["bootstrap"] == {
        "method": "stationary",
        "samples": 2000,
        "block_length": 7,  # ceil(250 ** (1/3))
        "confidence": 0.95,
        "seed": 0,
    }
    assert document["seeds"] == {"buy_and_hold": [None], "sma-fast": [None], "rsi": [None]}
    assert len(document["data_hash"]) == 64
    assert document["code_version"]["package"] == "0.1.0"
    assert document["config"]["costs"]["taker_fee_bps"] == "1"


def test_the_same_config_gives_the_same_leaderboard(tmp_path: Path) -> None:
    config = str(arena_file(tmp_path))
    first, second = run_json("--config", config), run_json("--config", config)
    assert first["run_id"] != second["run_id"]
    assert first["leaderboard"]["rows"] == second["leaderboard"]["rows"]


def test_the_order_of_symbols_and_entrants_in_the_config_changes_no_row(tmp_path: Path) -> None:
    typed = run_json("--config", str(arena_file(tmp_path)))
    swapped = arena_file(tmp_path, symbols=["IXIC", "SPX"], entrants=QUANT[::-1])
    reordered = run_json("--config", str(swapped))
    assert reordered["leaderboard"]["rows"] == typed["leaderboard"]["rows"]
    assert any(row["trades"] > 2 for row in typed["leaderboard"]["rows"])  # more than one buy


def test_the_report_holds_the_leaderboard_charts_and_trades(tmp_path: Path) -> None:
    report = tmp_path / "report"
    document = run_json("--config", str(arena_file(tmp_path)), "--report", str(report))
    assert sorted(p.name for p in report.iterdir()) == [
        "drawdowns.png",
        "equity.png",
        "report.html",
    ]
    assert (report / "equity.png").read_bytes().startswith(b"\x89PNG")
    html = (report / "report.html").read_text(encoding="utf-8")
    assert '<table id="leaderboard">' in html
    assert html.count('src="data:image/png;base64,') == 2
    for row in document["leaderboard"]["rows"]:
        assert f"<td>{row['entrant']}</td>" in html
    assert "sma-fast:" in html  # its trades
    assert document["report"] == [
        str(report / n) for n in ("report.html", "equity.png", "drawdowns.png")
    ]


def test_arena_show_reprints_a_stored_run(tmp_path: Path) -> None:
    document = run_json("--config", str(arena_file(tmp_path)))
    shown = run_json("show", document["run_id"])
    assert shown == document
    code, out, _ = invoke("show", document["run_id"])
    assert code == 0
    assert "Sharpe ratio (the ranking)" in out
    assert "sma-fast" in out
    assert f"run id: {document['run_id']}" in out
    # One line however long, on a pipe or in a file (80 columns folded it before).
    [line] = [line for line in out.splitlines() if line.startswith("run id: ")]
    assert line.endswith(")")
    assert "tradepit " in line


def test_a_database_from_before_runs_stored_their_providers_still_shows_and_runs(
    tmp_path: Path,
) -> None:
    document = run_json("--config", str(arena_file(tmp_path)))
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'home' / 'replay.db'}")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("ALTER TABLE arena_runs DROP COLUMN providers"))
    engine.dispose()
    assert run_json("show", document["run_id"]) == document
    assert run_json("--config", str(arena_file(tmp_path)))["run_id"] != document["run_id"]


def test_a_team_entrant_that_can_never_reach_its_quorum_is_noted(tmp_path: Path) -> None:
    lonely = {"team": {"name": "lonely", "members": [{"quant": "sma_cross"}]}}
    code, out, err = invoke(
        "--config", str(arena_file(tmp_path, entrants=[*QUANT, lonely])), "--json"
    )
    assert code == 0, err
    assert "note: entrant 'lonely': team 'lonely' can never act: 1 member votes" in err
    row = next(r for r in json.loads(out)["leaderboard"]["rows"] if r["entrant"] == "lonely")
    assert row["trades"] == 0
    _, _, quiet = invoke("--config", str(arena_file(tmp_path)), "--json")
    assert "can never act" not in quiet


def test_arena_show_of_an_unknown_run_is_one_line_and_exit_2() -> None:
    code, _, err = invoke("show", "arena-nope")
    assert code == 2
    assert err.strip().startswith("error: no arena run 'arena-nope' in the database")


def test_quant_entrants_in_a_process_pool_match_those_run_here(tmp_path: Path) -> None:
    here = run_json("--config", str(arena_file(tmp_path)))
    pooled = run_json("--config", str(arena_file(tmp_path)), "--workers", "2")
    assert pooled["config"]["workers"] == 2
    assert pooled["leaderboard"]["rows"] == here["leaderboard"]["rows"]


def test_an_llm_entrant_without_a_usable_model_is_skipped_saying_what_enables_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = {"agent": {"name": "gpt", "role": "market_analyst", "model": "openai:gpt-4o-mini"}}
    document = run_json("--config", str(arena_file(tmp_path, entrants=[*QUANT, llm])))
    board = document["leaderboard"]
    assert [s["entrant"] for s in board["skipped"]] == ["gpt"]
    assert "set $OPENAI_API_KEY to enable it" in board["skipped"][0]["reason"]
    assert "gpt" not in {row["entrant"] for row in board["rows"]}
    code, out, _ = invoke("--config", str(arena_file(tmp_path, entrants=[*QUANT, llm])))
    assert code == 0
    assert "skipped gpt: no usable model for gpt; openai:gpt-4o-mini: set $OPENAI_API_KEY" in (
        " ".join(out.split())
    )


@pytest.mark.parametrize(
    ("entrants", "message"),
    [
        (
            [{"quant": "buy_and_hold"}, {"quant": "sma_cross", "name": "sma-fast",
                                         "params": {"fast": 1}}],
            "entrant 'sma-fast' (#2): agent 'sma_cross': parameter 'fast'=1",
        ),
        (
            [{"quant": "buy_and_hold"},
             {"agent": {"name": "bull", "role": "bull", "model": "fast", "temprature": 0.3}}],
            "entrant 'bull' (#2): agent.temprature: unknown field",
        ),
        (
            [{"quant": "buy_and_hold"},
             {"quant": "rsi", "agent": {"name": "x", "role": "bull", "model": "fast"}}],
            "entrant 'x' (#2): give exactly one of quant, agent or team; got ['quant', 'agent']",
        ),
        (
            [{"quant": "buy_and_hold", "repeats": 0}],
            "entrant 'buy_and_hold' (#1): repeats: Input should be greater than or equal to 1",
        ),
        ([{"quant": "rsi"}], "benchmark 'buy_and_hold' is not an entrant"),
    ],
)  # fmt: skip
def test_a_bad_config_is_one_line_naming_the_entrant_and_field(
    tmp_path: Path, entrants: list[dict[str, Any]], message: str
) -> None:
    path = arena_file(tmp_path, entrants=entrants)
    code, out, err = invoke("--config", str(path))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"error: {path}: ")
    assert message in err


def test_a_window_without_data_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke("--config", str(arena_file(tmp_path)), "--start", "2030-01-01",
                          "--end", "2030-12-31")  # fmt: skip
    assert code == 2
    assert "no SPX bars between 2030-01-01 and 2030-12-31" in err


def test_replay_refuses_a_new_config(tmp_path: Path) -> None:
    code, _, err = invoke("--replay", "arena-x", "--config", str(arena_file(tmp_path)))
    assert code == 2
    assert "--replay reruns a stored arena as it was" in err


def test_a_team_of_quant_members_competes_without_any_model(tmp_path: Path) -> None:
    team = {
        "team": {
            "name": "quants",
            "mode": "vote",
            "decide_every": 1,
            "members": [{"quant": "sma_cross"}, {"quant": "momentum"}],
        }
    }
    document = run_json("--config", str(arena_file(tmp_path, entrants=[QUANT[0], team])))
    row = next(r for r in document["leaderboard"]["rows"] if r["entrant"] == "quants")
    assert (row["kind"], row["runs"], row["llm_calls"]) == ("team", 1, 0)
    assert document["models"] == {}


def test_the_arena_is_a_tradepit_command() -> None:
    from orchestration.cli import app

    result = runner.invoke(app, ["arena", "--help"])
    assert result.exit_code == 0
    assert "--replay" in result.stdout
    assert "show" in result.stdout


def test_a_replay_says_whether_it_reproduced_the_original_and_exits_1_when_not(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'arena.db'}"
    original = run_json("--config", str(arena_file(tmp_path)), "--db", db)
    same = run_json("--replay", original["run_id"], "--db", db)
    assert same["replay"]["equal"] is True
    assert same["replay_of"] == original["run_id"]
    assert same["config"] == original["config"]
    engine = sqlalchemy.create_engine(db)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "UPDATE arena_entrant_runs SET final_equity = '1' "
                "WHERE arena_id = :id AND entrant = 'sma-fast'"
            ),
            {"id": original["run_id"]},
        )
    engine.dispose()
    code, out, _ = invoke("--replay", original["run_id"], "--db", db, "--json")
    assert code == 1
    verdict = json.loads(out)["replay"]
    assert verdict["equal"] is False
    assert verdict["differences"][0].startswith("sma-fast run 0: final equity 1 then ")


def test_an_arena_on_a_data_file_replays_on_the_same_file(tmp_path: Path) -> None:
    rows = ["date,open,high,low,close,volume"]
    for day in range(120):
        price = 100 + 10 * math.sin(day / 7)
        when = date(2020, 1, 1) + timedelta(days=day)
        rows.append(f"{when},{price:.2f},{price + 1:.2f},{price - 1:.2f},{price:.2f},1000")
    csv = tmp_path / "wave.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = arena_file(tmp_path, symbols=["WAVE"], start="2020-01-01", end="2020-04-29")
    db = f"sqlite:///{tmp_path / 'arena.db'}"
    original = run_json("--config", str(config), "--data", str(csv), "--db", db)
    assert original["data_files"] == [str(csv)]
    assert original["leaderboard"]["bars"] == 120
    replayed = run_json("--replay", original["run_id"], "--db", db)  # no --data: the stored file
    assert replayed["replay"]["equal"] is True
    assert replayed["data_hash"] == original["data_hash"]


def test_a_leaderboard_on_the_stock_universe_says_it_is_survivorship_biased(
    tmp_path: Path,
) -> None:
    stocks = {"symbols": ["AAPL", "MSFT"], "start": "2019-01-01", "end": "2019-06-30"}
    config = str(arena_file(tmp_path, **stocks))
    board = run_json("--config", config)["leaderboard"]
    assert any("survivorship-biased universe" in line for line in board["data_notes"])
    code, out, err = invoke("--config", config, "--report", str(tmp_path / "report"))
    assert code == 0, err
    assert "data: survivorship-biased universe" in out
    assert "survivorship-biased universe" in (tmp_path / "report" / "report.html").read_text()
    indices = run_json("--config", str(arena_file(tmp_path)))["leaderboard"]
    assert indices["data_notes"] == []


def test_arena_universe_sp20_is_a_ready_competition_of_the_cross_sectional_baselines() -> None:
    document = run_json("--universe", "sp20", "--start", "2019-01-01", "--end", "2019-12-31")
    board = document["leaderboard"]
    assert len(board["symbols"]) == 20
    ranked = {row["entrant"] for row in board["rows"]}
    assert {"equal_weight", "xs_momentum", "low_volatility", "min_variance"} <= ranked
    assert board["benchmark"] == "equal_weight"
    # The LLM entrants are there, skipped here for want of a usable provider.
    assert {s["entrant"] for s in board["skipped"]} == {"llm-analyst", "llm-desk"}
    assert any("survivorship-biased universe" in line for line in board["data_notes"])


def test_arena_universe_with_a_config_trades_its_entrants_on_the_universe(tmp_path: Path) -> None:
    config = arena_file(tmp_path, entrants=[{"quant": "equal_weight"}], benchmark=None)
    args = ["--config", str(config), "--universe", "sp20", "--start", "2019-01-01"]
    board = run_json(*args, "--end", "2019-03-31")["leaderboard"]
    assert len(board["symbols"]) == 20
    code, _, err = invoke("--universe", "sp99")
    assert code == 2
    assert err.strip() == "error: --universe takes one of sp20, got 'sp99'"
    code, _, err = invoke("--universe", "sp20", "--symbols", "AAPL")
    assert code == 2
    assert "--universe and --symbols" in err
