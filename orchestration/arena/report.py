"""The arena's report: `equity.png`, `drawdowns.png` and one self-contained `report.html` (the
charts embedded as base64 PNG, the rules every entrant traded under (cash, costs, limits), the
entrants with their parameters, the leaderboard, notes, and every entrant's trades). The charts
are drawn by `orchestration.arena.charts`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import jinja2
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from pydantic import BaseModel

from orchestration.arena.charts import drawdown_figure, equity_figure, kill_times, mean_curves
from orchestration.arena.config import ArenaConfig, Entrant
from orchestration.arena.leaderboard import Leaderboard, cells, headers, notes
from orchestration.arena.results import EntrantRun, moment
from orchestration.team.config import Member
from trading.errors import ConfigError
from trading.strategies import validate_params

# A report lists at most this many fills per entrant; the database keeps them all.
MAX_TRADES = 500
CENT = Decimal("0.01")

_TEMPLATE = """{% macro text_table(id, headers, rows) -%}
<table id="{{ id }}" class="text">
<thead><tr>{% for h in headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
{%- endmacro %}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tradepit arena {{ board.name }} ({{ board.run_id }})</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
 table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
 th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
 th { background: #f3f3f3; }
 td:nth-child(2) { text-align: left; white-space: nowrap; }
 td.interval { white-space: nowrap; }
 table.text td { text-align: left; }
 img { max-width: 100%; }
 details { margin: 0.5em 0; }
 .note { color: #555; }
</style>
</head>
<body>
<h1>Arena {{ board.name }}</h1>
<p>Run <code>{{ board.run_id }}</code>: {{ board.symbols | join(", ") }}, {{ board.start }} to
{{ board.end }} ({{ board.bars }} bars). Every entrant traded the same point-in-time bars with
its own ledger and the same costs and limits.</p>
<h2>Costs and limits</h2>
{{ text_table("rules", ["rule", "value", "meaning"], rules) }}
<h2>Entrants</h2>
{{ text_table("entrants", ["entrant", "kind", "parameters"], entrants) }}
<h2>Leaderboard</h2>
<table id="leaderboard">
<thead><tr>{% for h in headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in rows %}<tr>{% for cell in row %}<td{% if loop.index0 in nowrap %} \
class="interval"{% endif %}>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
<ul class="note">{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
<h2>Equity</h2>
<img alt="equity curves, linear and log scale" src="data:image/png;base64,{{ equity_png }}">
<h2>Drawdowns</h2>
<img alt="drawdowns, one panel per entrant" src="data:image/png;base64,{{ drawdown_png }}">
<h2>Trades</h2>
{% for entrant, label, fills, total, fees in trades %}
<details><summary>{{ label }}: {{ total }} fills, fees {{ fees }}{% if total > fills | length %}
 (first {{ fills | length }} shown){% endif %}</summary>
<table id="trades-{{ entrant }}"><thead><tr><th>date</th><th>symbol</th><th>side</th>
<th>quantity</th><th>price</th><th>fee</th></tr></thead><tbody>
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
    columns = headers(board)
    html = environment.from_string(_TEMPLATE).render(
        board=board,
        rules=rules(config),
        entrants=[(e.entrant_name, _kind(e), parameters(e)) for e in config.entrants],
        headers=columns,
        nowrap={columns.index(f"{board.bootstrap.confidence:.0%} CI"), columns.index("vs bench")},
        rows=[cells(row) for row in board.rows],
        notes=notes(board),
        equity_png=base64.b64encode(equity_png).decode(),
        drawdown_png=base64.b64encode(drawdown_png).decode(),
        trades=_trades(board, runs),
    )
    html_path = directory / "report.html"
    html_path.write_text(html, encoding="utf-8")
    return [html_path, equity_path, drawdown_path]


def rules(config: ArenaConfig) -> list[tuple[str, str, str]]:
    """(name, value, meaning) of everything every entrant traded under: the starting cash, each
    cost and each risk limit (off where unset), with the meanings their models give."""
    found = [("starting cash", str(config.cash), "Starting cash of every entrant.")]
    found += _fields(config.costs)
    found += _fields(config.limits)
    found.append(
        ("rebalance_threshold", str(config.rebalance_threshold),
         "Least change of a target weight that trades.")
    )  # fmt: skip
    return found


def _fields(model: BaseModel) -> list[tuple[str, str, str]]:
    return [
        (name, "off" if (value := getattr(model, name)) is None else str(value),
         field.description or "")
        for name, field in type(model).model_fields.items()
    ]  # fmt: skip


def parameters(entrant: Entrant) -> str:
    """What an entrant ran with, defaults included: a strategy's parameters, an agent's model
    and settings, a team's mode and members."""
    if entrant.quant is not None:
        return _quant(entrant.quant, entrant.params)
    if entrant.agent is not None:
        spec = entrant.agent
        model = spec.model + (f" (fallback {spec.fallback_model})" if spec.fallback_model else "")
        return (
            f"role={spec.role}, model={model}, temperature={spec.temperature}, "
            f"decide_every={spec.decide_every}, max_weight={spec.max_weight}, "
            f"tools={', '.join(spec.tools) or 'none'}"
        )
    team = entrant.team
    if team is None:  # an Entrant is exactly one of quant, agent or team
        raise ConfigError(f"entrant {entrant.entrant_name!r} is none of quant, agent or team")
    members = "; ".join(_member(m) for m in team.members)
    judge = f"; judge {_member(team.judge)}" if team.judge is not None else ""
    return (
        f"mode={team.mode}, rounds={team.rounds}, decide_every={team.decide_every}; "
        f"members: {members}{judge}"
    )


def _quant(kind: str, given: dict[str, Any]) -> str:
    values = validate_params(kind, given).model_dump()
    return ", ".join(f"{name}={value}" for name, value in values.items())


def _member(member: Member) -> str:
    if member.spec is not None:
        spec = member.spec
        return f"{spec.name} ({spec.role}, {spec.model}, temperature {spec.temperature})"
    if member.quant is not None:
        settings = _quant(member.quant, member.params)
        return f"{member.name or member.quant} (quant {member.quant}: {settings})"
    return f"saved agent {member.agent}"


def _kind(entrant: Entrant) -> str:
    return f"quant {entrant.quant}" if entrant.quant is not None else entrant.kind


def _trades(board: Leaderboard, runs: Sequence[EntrantRun]) -> list[tuple[Any, ...]]:
    """Each entrant's run 0: its fills dated as a person reads them, fees in cents."""
    first_runs = {r.entrant: r for r in reversed(runs)}
    trades = []
    for row in board.rows:
        run = first_runs[row.entrant]
        label = row.entrant if row.runs == 1 else f"{row.entrant} (run 0 of {row.runs})"
        fills = [_fill(f, run.intraday) for f in run.fills[:MAX_TRADES]]
        fees = sum((Decimal(f["fee"]) for f in run.fills), Decimal(0))
        trades.append((row.entrant, label, fills, len(run.fills), _cents(fees)))
    return trades


def _fill(fill: dict[str, str], intraday: bool) -> dict[str, str]:
    when = moment(datetime.fromisoformat(fill["time"]), intraday)
    return {**fill, "time": when, "fee": _cents(Decimal(fill["fee"]))}


def _cents(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def _png(figure: Figure) -> bytes:
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
