"""The arena's report: `equity.png`, `drawdowns.png` and one self-contained `report.html` (the
charts embedded as base64 PNG, the leaderboard, notes, and every entrant's trades).

Charts draw each entrant's mean equity over its runs (one run for deterministic entrants),
normalised to its starting cash, and the drawdown of that curve; an x marks where a run's kill
switch tripped.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Literal

import jinja2
import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.typing import ColorType

from orchestration.arena.config import ArenaConfig
from orchestration.arena.leaderboard import Leaderboard, cells, headers, notes
from orchestration.arena.results import EntrantRun, kill_point
from trading.metrics import drawdown_series

# A report lists at most this many fills per entrant; the database keeps them all.
MAX_TRADES = 500
KILL_LEGEND = "kill switch: sold everything, held cash from here"

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tradepit arena {{ board.name }} ({{ board.run_id }})</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
 table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
 th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
 th { background: #f3f3f3; }
 td:nth-child(2) { text-align: left; }
 img { max-width: 100%; }
 details { margin: 0.5em 0; }
 .note { color: #555; }
</style>
</head>
<body>
<h1>Arena {{ board.name }}</h1>
<p>Run <code>{{ board.run_id }}</code>: {{ board.symbols | join(", ") }}, {{ board.start }} to
{{ board.end }} ({{ board.bars }} bars). Every entrant traded the same point-in-time bars with
its own ledger and the same costs.</p>
<h2>Leaderboard</h2>
<table id="leaderboard">
<thead><tr>{% for h in headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
<ul class="note">{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
<h2>Equity</h2>
<img alt="equity curves" src="data:image/png;base64,{{ equity_png }}">
<h2>Drawdowns</h2>
<img alt="drawdowns" src="data:image/png;base64,{{ drawdown_png }}">
<h2>Trades</h2>
{% for entrant, fills, total in trades %}
<details><summary>{{ entrant }}: {{ total }} fills{% if total > fills | length %}
 (first {{ fills | length }} shown){% endif %}</summary>
<table><thead><tr><th>time</th><th>symbol</th><th>side</th><th>quantity</th><th>price</th>
<th>fee</th></tr></thead><tbody>
{% for f in fills %}<tr><td>{{ f.time }}</td><td>{{ f.symbol }}</td><td>{{ f.side }}</td>
<td>{{ f.quantity }}</td><td>{{ f.price }}</td><td>{{ f.fee }}</td></tr>
{% endfor %}</tbody></table></details>
{% endfor %}
</body>
</html>
"""


def write_report(
    board: Leaderboard, config: ArenaConfig, runs: Sequence[EntrantRun], directory: Path
) -> list[Path]:
    """Write the PNG charts and the HTML report into `directory`; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    curves = mean_curves(runs)
    kills = kill_times(runs, config)
    equity_png = _png(equity_figure(curves, board, kills))
    drawdown_png = _png(drawdown_figure(curves, board, kills))
    equity_path, drawdown_path = directory / "equity.png", directory / "drawdowns.png"
    equity_path.write_bytes(equity_png)
    drawdown_path.write_bytes(drawdown_png)
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    first_runs = {r.entrant: r for r in reversed(runs)}  # each entrant's run 0
    html = environment.from_string(_TEMPLATE).render(
        board=board,
        headers=headers(board),
        rows=[cells(row) for row in board.rows],
        notes=notes(board),
        equity_png=base64.b64encode(equity_png).decode(),
        drawdown_png=base64.b64encode(drawdown_png).decode(),
        trades=[
            (
                row.entrant if row.runs == 1 else f"{row.entrant} (run 0 of {row.runs})",
                first_runs[row.entrant].fills[:MAX_TRADES],
                len(first_runs[row.entrant].fills),
            )
            for row in board.rows
        ],
    )
    html_path = directory / "report.html"
    html_path.write_text(html, encoding="utf-8")
    return [html_path, equity_path, drawdown_path]


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


def _ordered(curves: dict[str, pd.Series], board: Leaderboard) -> list[tuple[str, pd.Series]]:
    return [(row.entrant, curves[row.entrant]) for row in board.rows if row.entrant in curves]


def equity_figure(
    curves: dict[str, pd.Series], board: Leaderboard, kills: Mapping[str, Sequence[datetime]]
) -> Figure:
    figure, axes = plt.subplots(figsize=(10, 5.5))
    for name, curve in _ordered(curves, board):
        (line,) = axes.plot(curve.index, curve.to_numpy(), label=name, linewidth=1.2)
        _mark_kills(axes, curve, kills.get(name, ()), line.get_color())
    axes.set_title(f"Equity, x starting cash: {', '.join(board.symbols)}")
    axes.set_ylabel("equity / starting equity")
    axes.grid(alpha=0.3)
    _legend(axes, "upper left", killed=bool(kills))
    figure.tight_layout()
    return figure


def drawdown_figure(
    curves: dict[str, pd.Series], board: Leaderboard, kills: Mapping[str, Sequence[datetime]]
) -> Figure:
    figure, axes = plt.subplots(figsize=(10, 4.5))
    for name, curve in _ordered(curves, board):
        drawdown = drawdown_series(curve) * 100
        (line,) = axes.plot(drawdown.index, drawdown.to_numpy(), label=name, linewidth=1.0)
        _mark_kills(axes, drawdown, kills.get(name, ()), line.get_color())
    axes.set_title("Drawdown from the running peak")
    axes.set_ylabel("%")
    axes.grid(alpha=0.3)
    _legend(axes, "lower left", killed=bool(kills))
    figure.tight_layout()
    return figure


def _mark_kills(axes: Axes, series: pd.Series, times: Sequence[datetime], color: ColorType) -> None:
    """An x on `series` at each kill point: there the entrant sold everything, and its line is
    flat cash from then on."""
    if not times:
        return
    points = series.loc[pd.DatetimeIndex(list(times))]
    axes.plot(points.index, points.to_numpy(), linestyle="none", marker="x", markersize=9,
              markeredgewidth=2, color=color)  # fmt: skip


def _legend(axes: Axes, where: Literal["upper left", "lower left"], *, killed: bool) -> None:
    handles, labels = axes.get_legend_handles_labels()
    if killed:
        handles.append(Line2D([], [], linestyle="none", marker="x", color="black",
                              markersize=8, markeredgewidth=2))  # fmt: skip
        labels.append(KILL_LEGEND)
    axes.legend(handles, labels, loc=where, fontsize="small")


def _png(figure: Figure) -> bytes:
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
