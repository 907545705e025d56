"""`tradepit runs list|show|delete|vacuum`, called in-process on one database holding a run of
every kind, each made by its own command: a backtest, a quant team's trade, an arena and an
evolution."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, insert, select

from agents.llm_calls import LlmCallRecord, LlmCallStore
from tests.orchestration.cli.helpers import as_json, bad, ok
from tests.orchestration.evolution.configs import quant_raw
from trading.storage import RUN_RECORDS, Store
from trading.storage_schema import table_of

TEAM = {
    "name": "two-quant",
    "mode": "vote",
    "decide_every": 1,
    "members": [
        {"quant": "sma_cross", "params": {"fast": 3, "slow": 8}, "confidence": 0.7},
        {"quant": "momentum", "params": {"lookback": 5}, "confidence": 0.5},
    ],
}
ARENA = {
    "name": "tiny",
    "symbols": ["SPX"],
    "start": "2017-01-01",
    "end": "2017-03-31",
    "entrants": [{"quant": "buy_and_hold"}, {"quant": "sma_cross"}],
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with a run of every kind, and LLM calls logged under each run's id."""
    folder = tmp_path_factory.mktemp("runs")
    db = f"sqlite:///{folder / 'runs.db'}"
    home = str(folder / "home")
    team, arena, evolve = folder / "team.yaml", folder / "arena.yaml", folder / "evolve.yaml"
    team.write_text(yaml.safe_dump(TEAM), encoding="utf-8")
    arena.write_text(yaml.safe_dump(ARENA), encoding="utf-8")
    evolve.write_text(yaml.safe_dump(quant_raw()), encoding="utf-8")
    window = ["--start", "2017-01-01", "--end", "2017-03-31"]
    ok("backtest", "--agent", "sma_cross", "--symbol", "SPX", *window, "--db", db, "--json")
    for run_id in ("tr-one", "tr-two"):
        ok("trade", "--team", str(team), "--symbols", "SPX", *window, "--run-id", run_id,
           "--db", db, "--home", home)  # fmt: skip
    ok("arena", "--config", str(arena), "--db", db, "--json")
    ok("evolve", "--config", str(evolve), "--db", db, "--json")
    ids = {e["kind"]: e["run_id"] for e in as_json("runs", "list", "--db", db)["runs"]}
    calls = LlmCallStore(db)
    with calls.engine.begin() as connection:
        connection.execute(
            insert(LlmCallRecord),
            [
                _call(run_id)
                for run_id in (
                    "tr-one",
                    "tr-two",
                    f"{ids['arena']}/bull/0",
                    f"{ids['evolve']}-f0-g1",
                )
            ],
        )
    calls.close()
    return folder / "runs.db"


@pytest.fixture
def db(made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A copy of the made database for each test, which may delete from it."""
    copy = tmp_path / "runs.db"
    shutil.copy(made, copy)
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))
    return f"sqlite:///{copy}"


def _call(run_id: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "agent": "bull",
        "model": "openai:gpt",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost_usd": Decimal("0.01"),
        "latency_s": 0.1,
        "cache_key": "k",
        "cached": 0,
        "time": datetime(2024, 1, 1, tzinfo=UTC),
    }


def listed(db: str, *args: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = as_json("runs", "list", "--db", db, *args)["runs"]
    return runs


def ids_of(db: str, kind: str) -> str:
    [run] = listed(db, "--kind", kind)
    return str(run["run_id"])


def call_ids(db: str) -> list[str]:
    store = LlmCallStore(db)
    with store.engine.connect() as connection:
        found = connection.execute(select(LlmCallRecord.run_id).order_by(LlmCallRecord.id))
        ids = list(found.scalars())
    store.close()
    return ids


def test_list_shows_the_runs_of_every_kind_oldest_first(db: str) -> None:
    runs = listed(db)
    assert [r["kind"] for r in runs] == ["backtest", "trade", "trade", "arena", "evolve"]
    backtest, trade, _, arena, evolve = runs
    assert backtest["run_id"].startswith("bt-")
    assert (trade["run_id"], trade["label"], trade["symbols"]) == ("tr-one", "two-quant", ["SPX"])
    assert trade["status"] == "finished"
    assert trade["result"].startswith("final equity ")
    assert (arena["label"], arena["symbols"]) == ("tiny", ["SPX"])
    assert arena["result"].startswith("winner ")
    assert (evolve["label"], evolve["status"]) == ("evolved-sma", "finished")
    assert [r["created_at"] for r in runs] == sorted(r["created_at"] for r in runs)
    people = ok("runs", "list", "--db", db)
    for run in runs:
        assert run["run_id"] in people


def test_kind_keeps_one_kind_and_a_bad_one_is_one_line(db: str) -> None:
    assert [r["run_id"] for r in listed(db, "--kind", "trade")] == ["tr-one", "tr-two"]
    assert [r["kind"] for r in listed(db, "--kind", "evolve")] == ["evolve"]
    assert "--kind takes one of backtest, trade, arena, evolve; got 'trades'" in bad(
        "runs", "list", "--kind", "trades", "--db", db
    )


def test_show_prints_a_runs_summary_and_its_rows(db: str) -> None:
    trade = as_json("runs", "show", "tr-one", "--db", db)
    rows = trade["rows"]
    assert rows["runs"] == 1
    assert rows["cycles"] == rows["equity"] == trade["summary"]["cycles"] > 50
    assert rows["decisions"] == rows["cycles"] - 1  # the last cycle only settles
    assert rows["agent_states"] == 1
    assert rows["llm_calls"] == 1
    assert trade["window"] == ["2017-01-01", "2017-03-31"]
    people = ok("runs", "show", "tr-one", "--db", db)
    assert "trade run tr-one: finished" in people
    assert "two-quant on SPX, 2017-01-01 to 2017-03-31" in people
    assert f"cycles {rows['cycles']:,}" in people
    arena = as_json("runs", "show", ids_of(db, "arena"), "--db", db)
    assert {r["entrant"] for r in arena["leaderboard"]} == {"buy_and_hold", "sma_cross"}
    assert arena["rows"] == {
        "arena_entrant_runs": 2,
        "llm_calls": 1,
        "llm_recordings": 0,  # the call was logged by hand, with no recording
        "arena_runs": 1,
    }
    evolve = as_json("runs", "show", ids_of(db, "evolve"), "--kind", "evolve", "--db", db)
    assert evolve["rows"]["evolution_runs"] == 1
    assert evolve["rows"]["evolution_generations"] > 0


def test_delete_removes_the_run_and_all_its_rows_and_nothing_else(db: str) -> None:
    before = as_json("runs", "show", "tr-one", "--db", db)["rows"]
    deleted = as_json("runs", "delete", "tr-one", "--db", db)
    assert deleted == {"deleted": "tr-one", "kind": "trade", "rows": before}
    store = Store(db)
    with store.engine.connect() as connection:
        for table in (table_of(record) for record in RUN_RECORDS):
            key = table.c.id if table.name == "runs" else table.c.run_id
            where = key == "tr-one"
            count = connection.execute(select(func.count()).select_from(table).where(where))
            assert count.scalar_one() == 0, table.name
    store.close()
    assert [r["run_id"] for r in listed(db, "--kind", "trade")] == ["tr-two"]
    assert "tr-one" not in call_ids(db)
    assert len(call_ids(db)) == 3
    assert len(listed(db)) == 4
    err = bad("runs", "delete", "tr-one", "--db", db)
    assert "no run 'tr-one' in the database; latest:" in err


def test_delete_of_an_arena_and_an_evolution_takes_their_rows_and_calls(db: str) -> None:
    arena, evolve = ids_of(db, "arena"), ids_of(db, "evolve")
    out = ok("runs", "delete", arena, "--db", db)
    assert out.startswith(f"deleted arena run {arena} and its rows: arena_entrant_runs 2")
    assert "tradepit runs vacuum" in out
    rows = as_json("runs", "delete", evolve, "--kind", "evolve", "--db", db)["rows"]
    assert rows["evolution_runs"] == 1
    assert rows["evolution_evaluations"] > 0
    assert [r["kind"] for r in listed(db)] == ["backtest", "trade", "trade"]
    assert call_ids(db) == ["tr-one", "tr-two"]


def test_an_unknown_id_is_one_line_with_exit_code_2(db: str) -> None:
    for command in ("show", "delete"):
        err = bad("runs", command, "nope", "--db", db)
        assert "error: no run 'nope' in the database; latest: " in err
    err = bad("runs", "show", "tr-one", "--kind", "arena", "--db", db)
    assert "no arena run 'tr-one' in the database" in err


def test_an_id_two_kinds_share_needs_kind(db: str, tmp_path: Path) -> None:
    arena = ids_of(db, "arena")
    store = Store(db)
    store.create_run(arena, "trade", {"agent": "x"}, datetime(2024, 1, 1, tzinfo=UTC))
    store.close()
    err = bad("runs", "delete", arena, "--db", db)
    assert f"{arena!r} names a trade and arena run; say which with --kind" in err
    assert as_json("runs", "delete", arena, "--kind", "arena", "--db", db)["kind"] == "arena"
    assert [r["kind"] for r in listed(db) if r["run_id"] == arena] == ["trade"]


def test_vacuum_gives_a_deleted_runs_space_back(db: str) -> None:
    for run in listed(db):
        ok("runs", "delete", run["run_id"], "--kind", run["kind"], "--db", db)
    report = as_json("runs", "vacuum", "--db", db)
    assert report["bytes_after"] < report["bytes_before"] / 2
    people = ok("runs", "vacuum", "--db", db)
    assert people.startswith(f"vacuumed {db}: {report['bytes_after']:,} bytes before")
    assert listed(db) == []


def test_a_database_that_is_not_there_is_not_created(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'none.db'}"
    assert listed(db) == []
    assert "no runs in" in ok("runs", "list", "--db", db)
    assert "no database at" in bad("runs", "vacuum", "--db", db)
    assert not (tmp_path / "none.db").exists()


def test_delete_takes_the_runs_mcp_tool_calls_too(db: str) -> None:
    from agents.mcp_calls import McpCallRecord, McpCallStore

    store = Store(db)
    calls = McpCallStore(store.engine)
    for key, run_id in (("a", "tr-one"), ("b", "tr-two")):
        calls.save(
            key,
            run_id=run_id,
            agent="bull",
            server="time",
            tool="get_current_time",
            arguments={"timezone": "UTC"},
            result="{}",
            error=False,
            time=datetime(2024, 1, 1, tzinfo=UTC),
        )
    store.close()
    assert as_json("runs", "show", "tr-one", "--db", db)["rows"]["mcp_calls"] == 1
    ok("runs", "delete", "tr-one", "--db", db)
    store = Store(db)
    with store.engine.connect() as connection:
        left = connection.execute(select(McpCallRecord.run_id)).scalars().all()
    store.close()
    assert left == ["tr-two"]
