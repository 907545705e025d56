"""The arena's charts: each entrant's mean equity over its runs (one run for deterministic
entrants) as a multiple of its starting cash, and the drawdown of that curve; an x marks where a
run's kill switch tripped.

Equity is drawn twice, on a linear and on a log scale, always, rather than behind an option: on
the log panel equal percentage moves have equal heights, so over a long window the entrant that
tripled does not flatten everyone else, while the linear panel reads plainly over a short one;
and whoever reads the report is often not whoever ran it, so neither can be left to a flag.
Drawdowns are small multiples, one panel per entrant on a shared scale with the benchmark's in
grey behind: ten drawdown curves on one axes are a tangle nobody can follow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter
from matplotlib.typing import ColorType

from orchestration.arena.config import ArenaConfig
from orchestration.arena.leaderboard import Leaderboard
from orchestration.arena.results import EntrantRun, kill_point
from trading.metrics import drawdown_series

KILL_LEGEND = "kill switch: sold everything, held cash from here"
# Panels per row of the drawdown grid.
COLUMNS = 3
# The benchmark behind each drawdown panel: dashed, so that no entrant's colour is mistaken for it.
BENCHMARK_STYLE: dict[str, Any] = {"color": "black", "alpha": 0.5, "linestyle": "--",
                                   "linewidth": 0.8}  # fmt: skip


def mean_curves(runs: Sequence[EntrantRun]) -> dict[str, pd.Series]:
    """Each entrant's equity over its runs, averaged, as a multiple of its starting equity."""
    grouped: dict[str, list[pd.Series]] = {}
    for run in runs:
        index = pd.DatetimeIndex([t for t, _ in run.equity])
        values = pd.Series([float(v) for _, v in run.equity], index=index)
        grouped.setdefault(run.entrant, []).append(values / values.iloc[0])
    return {name: pd.concat(curves, axis=1).mean(axis=1) for name, curves in grouped.items()}


def kill_times(runs: Sequence[EntrantRun], config: ArenaConfig) -> dict[str, list[datetime]]:
    """Each killed entrant's kill points (one per run that tripped), by entrant."""
    kills: dict[str, list[datetime]] = {}
    for run in runs:
        point = kill_point(run, config.limits.max_drawdown)
        if point is not None:
            kills.setdefault(run.entrant, []).append(point.time)
    return kills


def equity_figure(
    curves: dict[str, pd.Series], board: Leaderboard, kills: Mapping[str, Sequence[datetime]]
) -> Figure:
    """Two panels over one time axis: equity on a linear scale, then on a log scale."""
    figure, (linear, log) = plt.subplots(2, 1, figsize=(12, 9), sharex=True)
    for axes in (linear, log):
        for name, curve in _ordered(curves, board):
            (line,) = axes.plot(curve.index, curve.to_numpy(), label=name, linewidth=1.2)
            _mark_kills(axes, curve, kills.get(name, ()), line.get_color())
        axes.grid(alpha=0.3, which="both")
    linear.set_title(f"Equity, x starting cash: {', '.join(board.symbols)}")
    linear.set_ylabel("equity / starting equity")
    log.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # 0.8, not 8 x 10^-1
    log.yaxis.set_major_formatter(plain)
    log.yaxis.set_minor_formatter(plain)
    log.set_title("The same on a log scale: equal heights are equal percentage moves")
    log.set_ylabel("equity / starting equity (log)")
    _legend(linear, killed=bool(kills))
    figure.tight_layout()
    return figure


def drawdown_figure(
    curves: dict[str, pd.Series], board: Leaderboard, kills: Mapping[str, Sequence[datetime]]
) -> Figure:
    """One panel per entrant in leaderboard order, on one shared scale, each with the
    benchmark's drawdown in grey behind its own."""
    ordered = _ordered(curves, board)
    columns = min(COLUMNS, len(ordered))
    rows = math.ceil(len(ordered) / columns)
    figure, grid = plt.subplots(
        rows, columns, figsize=(11, 1.2 + 2.3 * rows), sharex=True, sharey=True, squeeze=False
    )
    panels = list(grid.flat)
    bench = curves.get(board.benchmark) if board.benchmark else None
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, curve) in enumerate(ordered):
        axes = panels[index]
        if bench is not None and name != board.benchmark:
            behind = drawdown_series(bench) * 100
            axes.plot(behind.index, behind.to_numpy(), **BENCHMARK_STYLE)
        drawdown = drawdown_series(curve) * 100
        color = colors[index % len(colors)]
        axes.plot(drawdown.index, drawdown.to_numpy(), color=color, linewidth=1.1)
        axes.fill_between(drawdown.index, drawdown.to_numpy(), 0, color=color, alpha=0.15)
        _mark_kills(axes, drawdown, kills.get(name, ()), color)
        axes.set_title(name, fontsize="medium")
        axes.grid(alpha=0.3)
        # matplotlib.dates has no annotations.
        locator = mdates.AutoDateLocator(maxticks=5)  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        concise = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_formatter(concise)
    for axes in panels[len(ordered) :]:
        figure.delaxes(axes)
    for axes in panels[max(0, len(ordered) - columns) : len(ordered)]:
        axes.xaxis.set_tick_params(labelbottom=True)  # the lowest panel of each column
    for axes in panels[: len(ordered) : columns]:
        axes.set_ylabel("%")
    height = figure.get_figheight()
    figure.suptitle("Drawdown from the running peak, %", x=0.02, ha="left")
    handles: list[Line2D] = []
    labels: list[str] = []
    if bench is not None:
        handles.append(Line2D([], [], **BENCHMARK_STYLE))
        labels.append(f"benchmark ({board.benchmark})")
    if kills:
        handles.append(_kill_handle())
        labels.append(KILL_LEGEND)
    if handles:
        figure.legend(handles, labels, loc="upper right", ncols=len(handles), fontsize="small",
                      frameon=False)  # fmt: skip
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.45 / height))  # the title's and legend's line
    return figure


def _ordered(curves: dict[str, pd.Series], board: Leaderboard) -> list[tuple[str, pd.Series]]:
    return [(row.entrant, curves[row.entrant]) for row in board.rows if row.entrant in curves]


def _mark_kills(axes: Axes, series: pd.Series, times: Sequence[datetime], color: ColorType) -> None:
    """An x on `series` at each kill point: there the entrant sold everything, and its line is
    flat cash from then on."""
    if not times:
        return
    points = series.loc[pd.DatetimeIndex(list(times))]
    axes.plot(points.index, points.to_numpy(), linestyle="none", marker="x", markersize=9,
              markeredgewidth=2, color=color)  # fmt: skip


def _kill_handle() -> Line2D:
    return Line2D([], [], linestyle="none", marker="x", color="black", markersize=8,
                  markeredgewidth=2)  # fmt: skip


def _legend(axes: Axes, *, killed: bool) -> None:
    """Beside the panel, not on it: ten entrants' names would hide a tenth of the curves."""
    handles, labels = axes.get_legend_handles_labels()
    if killed:
        handles.append(_kill_handle())
        labels.append(KILL_LEGEND)
    axes.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
