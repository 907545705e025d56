"""`tradepit arena --events jsonl`: progress per block of bars and per finished entrant, then the
result document, one JSON object per line on standard output, as `trade --events` writes; a
failure ends with an error event and exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from orchestration.cli.arena import arena_app
from tests.orchestration.cli.test_arena import QUANT, SHORT

runner = CliRunner()

ARENA = {**SHORT, "name": "events", "entrants": QUANT}  # 251 bars of SPX and IXIC in 2017
# A drawdown limit keeps quant entrants off the vectorised path: on the lockstep replay or in
# workers.
REPLAYED = {"limits": {"max_drawdown": "0.5"}}


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))


def events_of(tmp_path: Path, *args: str, **fields: Any) -> tuple[int, list[dict[str, Any]], str]:
    path = tmp_path / "arena.yaml"
    path.write_text(yaml.safe_dump({**ARENA, **fields}), encoding="utf-8")
    result = runner.invoke(arena_app, ["--config", str(path), "--events", "jsonl", *args])
    lines = result.stdout.splitlines()
    return result.exit_code, [json.loads(line) for line in lines], result.stderr


@pytest.mark.parametrize(("workers", "fields"), [("0", REPLAYED), ("2", REPLAYED), ("0", {})])
def test_events_are_progress_per_bar_block_and_per_entrant_then_the_result(
    tmp_path: Path, workers: str, fields: dict[str, Any]
) -> None:
    code, events, err = events_of(tmp_path, "--workers", workers, **fields)
    assert code == 0, err
    progress, result = events[:-1], events[-1]
    assert {e["type"] for e in progress} == {"progress"}
    steps = [e["step"] for e in progress]
    assert steps == sorted(set(steps))  # strictly increasing
    assert {e["total"] for e in progress} == {3 * 251}  # entrant runs x bars
    assert steps[-1] == 3 * 251
    run_ids = {e["run_id"] for e in progress}
    assert run_ids == {result["run_id"]}
    finished = [e["entrant"] for e in progress if e["entrant"] is not None]
    assert sorted(finished) == ["buy_and_hold", "rsi", "sma-fast"]
    if not fields:  # every entrant on the vectorised path, one event each
        assert len(progress) == 3
        assert all("on the vectorised path" in e["message"] for e in progress)
    elif workers == "0":  # the lockstep replay reports blocks of bars within the entrants
        blocks = [e for e in progress if e["entrant"] is None]
        assert len(blocks) == 250 // 6  # blocks of ceil(251 / 50) bars, the last bar apart
        assert (blocks[0]["cycle"], blocks[0]["as_of"]) == (6, "2017-01-10")  # 6th session
        assert blocks[0]["step"] == 3 * 6
    assert result["type"] == "result"
    rows = result["leaderboard"]["rows"]
    assert {row["entrant"] for row in rows} == {"buy_and_hold", "rsi", "sma-fast"}
    assert err == ""


def test_a_failed_arena_ends_with_an_error_event_and_exit_2(tmp_path: Path) -> None:
    code, events, err = events_of(tmp_path, start="2030-01-01", end="2030-12-31")
    assert code == 2
    assert events[-1]["type"] == "error"
    assert "no SPX bars between 2030-01-01 and 2030-12-31" in events[-1]["error"]
    assert events[-1]["details"]["kind"] == "ConfigError"
    assert events[-1]["details"]["run_id"].startswith("arena-")
    assert err.startswith("error: ")  # and the person at the terminal reads it too


def test_a_bad_option_with_events_is_an_error_event_too(tmp_path: Path) -> None:
    code, events, err = events_of(tmp_path, "--start", "yesterday")
    assert code == 2
    assert [e["type"] for e in events] == ["error"]
    assert events[0]["error"] == "--start takes a date as YYYY-MM-DD, got 'yesterday'"
    assert err == "error: --start takes a date as YYYY-MM-DD, got 'yesterday'\n"


def test_events_and_json_cannot_share_standard_output(tmp_path: Path) -> None:
    code, events, err = events_of(tmp_path, "--json")
    assert code == 2
    assert events[-1]["type"] == "error"
    assert "--events and --json both write to standard output" in err
