"""The arena's HTML report and charts: the run's costs, limits and entrant parameters, intervals
that do not wrap, trade dates and fees in cents, equity on a log scale too, and drawdowns as one
small panel per entrant so that ten stay readable."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from orchestration.arena.charts import drawdown_figure, equity_figure, mean_curves
from orchestration.arena.config import ArenaConfig
from orchestration.arena.leaderboard import build_leaderboard
from orchestration.arena.results import ArenaResult, EntrantRun
from orchestration.cli.arena import arena_app
from trading.metrics import compute_metrics

runner = CliRunner()

ARENA = {
    "name": "report",
    "symbols": ["SPX", "IXIC"],
    "start": "2017-01-01",
    "end": "2017-12-31",
    "costs": {"taker_fee_bps": 7, "maker_fee_bps": 3, "half_spread_bps": 2},
    "limits": {"max_drawdown": 0.25, "max_position_weight": 0.6},
    "entrants": [
        {"quant": "buy_and_hold"},
        {"quant": "sma_cross", "name": "sma-fast", "params": {"fast": 5, "slow": 20}},
    ],
}


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))


@pytest.fixture
def html(tmp_path: Path) -> str:
    path = tmp_path / "arena.yaml"
    path.write_text(yaml.safe_dump(ARENA), encoding="utf-8")
    report = tmp_path / "report"
    result = runner.invoke(arena_app, ["--config", str(path), "--report", str(report), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["report"][0] == str(report / "report.html")
    return (report / "report.html").read_text(encoding="utf-8")


def cells(html: str, table_id: str) -> list[list[str]]:
    table = html[html.index(f'<table id="{table_id}"') :]
    table = table[: table.index("</table>")]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in table.split("<tr")[1:]]
    return [row for row in rows if row]  # the header row has no td


def test_the_report_shows_the_costs_limits_and_entrant_parameters(html: str) -> None:
    rules = {row[0]: row[1] for row in cells(html, "rules")}
    assert rules["starting cash"] == "100000"
    assert rules["taker_fee_bps"] == "7"
    assert rules["maker_fee_bps"] == "3"
    assert rules["half_spread_bps"] == "2"
    assert rules["max_drawdown"] == "0.25"
    assert rules["max_position_weight"] == "0.6"
    assert rules["daily_loss_limit"] == "off"
    entrants = {row[0]: row[1:] for row in cells(html, "entrants")}
    assert entrants["sma-fast"][0] == "quant sma_cross"
    assert "fast=5, slow=20" in entrants["sma-fast"][1]
    assert "weight=1.0" in entrants["sma-fast"][1]  # the defaults it ran with too


def test_interval_cells_do_not_wrap(html: str) -> None:
    assert re.search(r"td\.interval\s*\{[^}]*white-space:\s*nowrap", html)
    board = cells(html, "leaderboard")
    intervals = [c for row in board for c in row if "[" in c]
    assert len(intervals) == 2 + 1  # two Sharpe intervals, one versus the benchmark
    assert html.count('<td class="interval">') == 2 * len(board)
    for interval in intervals:
        assert f'<td class="interval">{interval}</td>' in html


def test_trades_show_dates_and_fees_in_cents(html: str) -> None:
    trades = cells(html, "trades-sma-fast")
    assert len(trades) > 4
    for time, _, _, _, _, fee in trades:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", time), time
        assert re.fullmatch(r"\d+\.\d{2}", fee), fee
    assert "T00:00:00" not in html


def synthetic(names: list[str]) -> tuple[ArenaResult, list[EntrantRun]]:
    start = datetime(2018, 1, 2, tzinfo=UTC)
    runs = []
    for i, name in enumerate(names):
        rng = np.random.default_rng(i)
        values = 100_000 * np.cumprod(1 + rng.normal(0.0005, 0.01, size=120))
        equity = [(start + timedelta(days=d), Decimal(f"{v:.2f}")) for d, v in enumerate(values)]
        series = pd.Series(values, index=pd.DatetimeIndex([t for t, _ in equity]))
        runs.append(EntrantRun(name, "quant", 0, None, equity, [], compute_metrics(series), 0,
                               equity[-1][1], ""))  # fmt: skip
    entrants = [{"quant": "buy_and_hold"}, *({"quant": "rsi", "name": n} for n in names[1:])]
    config = ArenaConfig.model_validate({"bootstrap": {"samples": 100}, "entrants": entrants})
    seeds: dict[str, list[int | None]] = {n: [None] for n in names}
    return ArenaResult("arena-t", config, runs, [], {}, seeds, "0" * 64), runs


def test_ten_entrants_get_ten_drawdown_panels_with_the_benchmark_in_each_other() -> None:
    names = ["buy_and_hold", *(f"rsi-{i}" for i in range(9))]
    result, runs = synthetic(names)
    board = build_leaderboard(result)
    figure = drawdown_figure(mean_curves(runs), board, {})
    assert len(figure.axes) == 10
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == [row.entrant for row in board.rows]  # ranked, as the leaderboard
    for axes in figure.axes:
        lines = len(axes.get_lines())
        assert lines == (1 if axes.get_title() == "buy_and_hold" else 2)  # own + benchmark
    plt.close(figure)


def test_equity_is_drawn_on_a_linear_and_on_a_log_scale() -> None:
    result, runs = synthetic(["buy_and_hold", "rsi-0"])
    figure = equity_figure(mean_curves(runs), build_leaderboard(result), {})
    assert [axes.get_yscale() for axes in figure.axes] == ["linear", "log"]
    plt.close(figure)
