"""The leaderboard's memorisation guard and its aggregation of repeated runs, on hand-made runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestration.arena.config import ArenaConfig, EntrantKind
from orchestration.arena.leaderboard import (
    Leaderboard,
    build_leaderboard,
    memorisation_flags,
    notes,
)
from orchestration.arena.report import write_report
from orchestration.arena.results import ArenaResult, EntrantRun, LlmUsage
from trading.metrics import compute_metrics


def config(start: str = "2018-01-01") -> ArenaConfig:
    return ArenaConfig.model_validate(
        {
            "start": start,
            "end": "2025-12-31",
            "bootstrap": {"samples": 200},
            "entrants": [
                {"quant": "buy_and_hold"},
                {"agent": {"name": "gpt", "role": "bull", "model": "fast", "temperature": 0.5}},
            ],
        }
    )


def test_a_window_before_the_cut_off_is_flagged_and_one_after_is_not() -> None:
    models = {"openai:gpt-4o-mini": "2023-10-01"}
    assert memorisation_flags(config("2018-01-01"), models) == [
        "possibly memorised: the window starts 2018-01-01, before openai:gpt-4o-mini's "
        "training cut-off 2023-10-01"
    ]
    assert memorisation_flags(config("2023-10-02"), models) == []


def test_a_model_without_a_published_cut_off_is_flagged_as_unknown() -> None:
    assert memorisation_flags(config(), {"deepseek:deepseek-chat": None}) == [
        "deepseek:deepseek-chat publishes no training cut-off: memorisation not ruled out"
    ]


def run(entrant: str, repeat: int, seed: int | None, growth: float, cost: str) -> EntrantRun:
    rng = np.random.default_rng(repeat + (seed or 0))
    start = datetime(2018, 1, 2, tzinfo=UTC)
    values = 100_000 * np.cumprod(1 + rng.normal(growth, 0.01, size=120))
    equity = [(start + timedelta(days=i), Decimal(f"{v:.2f}")) for i, v in enumerate(values)]
    series = pd.Series(
        [float(v) for _, v in equity], index=pd.DatetimeIndex([t for t, _ in equity])
    )
    kind: EntrantKind = "quant" if seed is None else "agent"
    return EntrantRun(
        entrant=entrant,
        kind=kind,
        repeat=repeat,
        seed=seed,
        equity=equity,
        fills=[],
        metrics=compute_metrics(series),
        round_trips=0,
        final_equity=equity[-1][1],
        kill_switch="",
        llm=LlmUsage(calls=10, tokens=1000, cost_usd=Decimal(cost), paid_usd=Decimal(cost)),
    )


def leaderboard_of(
    arena: ArenaConfig,
    runs: list[EntrantRun],
    models: dict[str, dict[str, str | None]],
    seeds: dict[str, list[int | None]],
) -> Leaderboard:
    """The leaderboard of an arena that ran `runs` with `seeds` and skipped no entrant."""
    return build_leaderboard(ArenaResult("arena-test", arena, runs, [], models, seeds, "0" * 64))


def test_repeated_runs_become_one_row_with_their_mean_and_spread() -> None:
    runs = [
        run("buy_and_hold", 0, None, 0.001, "0"),
        run("gpt", 0, 11, 0.002, "1.50"),
        run("gpt", 1, 12, 0.0, "2.50"),
    ]
    models: dict[str, dict[str, str | None]] = {"gpt": {"openai:gpt-4o-mini": "2023-10-01"}}
    seeds: dict[str, list[int | None]] = {"buy_and_hold": [None], "gpt": [11, 12]}
    board = leaderboard_of(config(), runs, models, seeds)
    gpt = board.row("gpt")
    assert gpt.runs == 2
    assert gpt.seeds == [11, 12]
    returns = [r.metrics.total_return for r in runs[1:]]
    assert gpt.total_return == pytest.approx(np.mean(returns))
    assert gpt.total_return_spread is not None
    assert gpt.total_return_spread.std == pytest.approx(np.std(returns, ddof=1))
    assert gpt.llm_cost_usd == Decimal(2)
    expected_net = np.mean(
        [float((r.final_equity - r.llm.cost_usd) / 100_000) - 1 for r in runs[1:]]
    )
    assert gpt.net_return == pytest.approx(expected_net)
    assert gpt.sharpe_vs_benchmark is not None
    assert gpt.memorisation[0].startswith("possibly memorised")
    hold = board.row("buy_and_hold")
    assert hold.total_return_spread is None
    assert hold.sharpe_vs_benchmark is None
    assert [r.rank for r in board.rows] == [1, 2]


CLOCK = {
    "name": "clock",
    "command": "mcp-server-time",
    "tools": ["get_current_time"],
    "point_in_time": True,
}


def test_an_entrant_with_external_mcp_servers_is_marked_in_rows_notes_json_and_html(
    tmp_path: Path,
) -> None:
    agent = {"name": "gpt", "role": "bull", "model": "fast", "mcp_servers": [CLOCK]}
    team = {"name": "desk", "mode": "vote", "members": [{"spec": {**agent, "name": "t1"}}]}
    arena = ArenaConfig.model_validate(
        {
            "start": "2018-01-01",
            "end": "2025-12-31",
            "bootstrap": {"samples": 200},
            "entrants": [{"quant": "buy_and_hold"}, {"agent": agent}, {"team": team}],
        }
    )
    runs = [
        run("buy_and_hold", 0, None, 0.001, "0"),
        run("gpt", 0, 11, 0.002, "0"),
        run("desk", 0, 12, 0.0, "0"),
    ]
    seeds: dict[str, list[int | None]] = {"buy_and_hold": [None], "gpt": [11], "desk": [12]}
    board = leaderboard_of(arena, runs, {}, seeds)
    mark = "external tools, point-in-time not proven (MCP servers: clock)"
    assert board.row("gpt").tools_caveat == mark
    assert board.row("desk").tools_caveat == mark
    assert board.row("buy_and_hold").tools_caveat is None
    assert f"gpt: {mark}" in notes(board)
    assert f"desk: {mark}" in notes(board)
    assert all("buy_and_hold:" not in line for line in notes(board))
    stored = Leaderboard.model_validate_json(board.model_dump_json())
    assert stored.row("gpt").tools_caveat == mark
    [html] = [p for p in write_report(board, arena, runs, tmp_path) if p.suffix == ".html"]
    assert f"gpt: {mark}" in html.read_text(encoding="utf-8")
