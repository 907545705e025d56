"""A killed entrant is marked wherever the arena shows it: the leaderboard row says when and how
far (`killed`), the table marks its name, and both charts put an x at the kill point."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import yaml
from matplotlib.figure import Figure
from typer.testing import CliRunner

from orchestration.arena.charts import drawdown_figure, equity_figure, kill_times, mean_curves
from orchestration.arena.config import ArenaConfig
from orchestration.arena.leaderboard import Leaderboard, build_leaderboard
from orchestration.arena.results import ArenaResult, EntrantRun, kill_point
from orchestration.cli.arena import arena_app
from trading.metrics import compute_metrics

runner = CliRunner()

CRASH = {
    "name": "crash",
    "symbols": ["SPX"],
    "start": "2008-01-01",
    "end": "2008-12-31",
    "limits": {"max_drawdown": 0.2},
    "entrants": [{"quant": "buy_and_hold"}, {"quant": "sma_cross"}],
}


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))


def crash_file(tmp_path: Path) -> Path:
    path = tmp_path / "crash.yaml"
    path.write_text(yaml.safe_dump(CRASH), encoding="utf-8")
    return path


def test_a_killed_entrant_row_says_when_and_how_far_and_the_table_marks_it(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'arena.db'}"
    result = runner.invoke(arena_app, ["--config", str(crash_file(tmp_path)), "--db", db, "--json"])
    assert result.exit_code == 0, result.stderr
    rows = {r["entrant"]: r for r in json.loads(result.stdout)["leaderboard"]["rows"]}
    # SPX fell 20.13% from the start by the session of 2008-09-17 (its close stamp is
    # 2008-09-18T00:00Z, which the gate's own text names).
    assert rows["buy_and_hold"]["killed"] == "2008-09-17: drawdown 20.1% past 20.0%"
    assert rows["sma_cross"]["killed"] is None
    shown = runner.invoke(arena_app, ["show", json.loads(result.stdout)["run_id"], "--db", db])
    table = shown.stdout
    assert "buy_and_hold (x)" in table
    assert "sma_cross (x)" not in table
    assert (
        "buy_and_hold (x): killed 2008-09-17: drawdown 20.1% past 20.0%; the kill switch sold "
        "everything and held cash for the rest of the run" in " ".join(table.split())
    )


def run_with(values: list[str], kill: str) -> EntrantRun:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    equity = [(start + timedelta(days=i), Decimal(v)) for i, v in enumerate(values)]
    series = pd.Series([float(v) for v in values], index=pd.DatetimeIndex([t for t, _ in equity]))
    metrics = compute_metrics(series)
    return EntrantRun("x", "quant", 0, None, equity, [], metrics, 0, equity[-1][1], kill)


def test_the_kill_point_is_the_first_equity_point_past_the_limit_from_the_running_peak() -> None:
    run = run_with(["100", "120", "100", "95", "90", "200"], "kill switch: ...")
    point = kill_point(run, Decimal("0.2"))
    assert point is not None
    assert point.time.date().isoformat() == "2020-01-04"
    assert point.drawdown == Decimal(25) / Decimal(120)  # from the peak 120, not the start
    assert point.label() == "2020-01-04: drawdown 20.8% past 20.0%"
    assert kill_point(run_with(["100", "50"], ""), Decimal("0.2")) is None  # not tripped


def crash_arena() -> tuple[Leaderboard, ArenaConfig, list[EntrantRun]]:
    config = ArenaConfig.model_validate(
        {
            "start": "2020-01-01",
            "end": "2020-01-06",
            "limits": {"max_drawdown": "0.2"},
            "bootstrap": {"samples": 100},
            "entrants": [{"quant": "buy_and_hold"}, {"quant": "rsi"}],
        }
    )
    killed = run_with(["100", "120", "100", "95", "95", "95"], "kill switch: ...")
    killed.entrant = "buy_and_hold"
    calm = run_with(["100", "101", "102", "101", "103", "104"], "")
    calm.entrant = "rsi"
    runs = [killed, calm]
    result = ArenaResult("arena-t", config, runs, [], {}, {"buy_and_hold": [None], "rsi": [None]},
                         "0" * 64)  # fmt: skip
    return build_leaderboard(result), config, runs


def kill_markers(figure: Figure) -> list[tuple[Any, Any]]:
    return [
        (line.get_xdata()[0], line.get_ydata()[0])  # type: ignore[index]
        for axes in figure.axes
        for line in axes.get_lines()
        if line.get_marker() == "x"
    ]


def test_the_equity_and_drawdown_charts_put_an_x_at_the_kill_point_with_a_legend_entry() -> None:
    board, config, runs = crash_arena()
    curves = mean_curves(runs)
    kills = kill_times(runs, config)
    assert kills == {"buy_and_hold": [datetime(2020, 1, 4, tzinfo=UTC)]}
    equity = equity_figure(curves, board, kills)
    drawdown = drawdown_figure(curves, board, kills)
    for figure, level in ((equity, 0.95), (drawdown, -100 * 25 / 120)):
        markers = kill_markers(figure)
        assert markers, "no x marker"
        for x, y in markers:
            assert pd.Timestamp(x) == pd.Timestamp("2020-01-04", tz="UTC")
            assert y == pytest.approx(level)
        legends = [t.get_text() for f in (figure,) for a in f.axes if a.get_legend()
                   for t in a.get_legend().get_texts()]  # fmt: skip
        legends += [t.get_text() for legend in figure.legends for t in legend.get_texts()]
        assert any(text.startswith("kill switch") for text in legends)
        plt.close(figure)
