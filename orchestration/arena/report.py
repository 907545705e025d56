"""The arena's report: `equity.png`, `drawdowns.png` and one self-contained `report.html` (the
charts embedded as base64 PNG, the leaderboard, notes, and every entrant's trades).

Charts draw each entrant's mean equity over its runs (one run for deterministic entrants),
normalised to its starting cash, and the drawdown of that curve.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from orchestration.arena.leaderboard import Leaderboard, cells, headers, notes
from orchestration.arena.results import EntrantRun
from trading.metrics import drawdown_series

# A report lists at most this many fills per entrant; the database keeps them all.
MAX_TRADES = 500

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


def write_report(board: Leaderboard, runs: Sequence[EntrantRun], directory: Path) -> list[Path]:
    """Write the PNG charts and the HTML report into `directory`; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    curves = mean_curves(runs)
    equity_png = _png(_equity_figure(curves, board))
    drawdown_png = _png(_drawdown_figure(curves, board))
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


def _ordered(curves: dict[str, pd.Series], board: Leaderboard) -> list[tuple[str, pd.Series]]:
    return [(row.entrant, curves[row.entrant]) for row in board.rows if row.entrant in curves]


def _equity_figure(curves: dict[str, pd.Series], board: Leaderboard) -> Figure:
    figure, axes = plt.subplots(figsize=(10, 5.5))
    for name, curve in _ordered(curves, board):
        axes.plot(curve.index, curve.to_numpy(), label=name, linewidth=1.2)
    axes.set_title(f"Equity, x starting cash: {', '.join(board.symbols)}")
    axes.set_ylabel("equity / starting equity")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    return figure


def _drawdown_figure(curves: dict[str, pd.Series], board: Leaderboard) -> Figure:
    figure, axes = plt.subplots(figsize=(10, 4.5))
    for name, curve in _ordered(curves, board):
        drawdown = drawdown_series(curve)
        axes.plot(drawdown.index, drawdown.to_numpy() * 100, label=name, linewidth=1.0)
    axes.set_title("Drawdown from the running peak")
    axes.set_ylabel("%")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize="small")
    figure.tight_layout()
    return figure


def _png(figure: Figure) -> bytes:
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
