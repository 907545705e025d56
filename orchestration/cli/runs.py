"""`tradepit runs list|show|delete|vacuum`: every run in the run database, whatever made it
(backtest, trade, arena, evolve), listed, shown, deleted with all its rows, and the database
vacuumed to give the freed space back (see `orchestration.runs`)."""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from orchestration.cli.common import (
    JsonFlag,
    RunDatabase,
    clean_errors,
    command_group,
    print_table,
    stdout,
)
from orchestration.cli.options import option_groups
from orchestration.runs import KINDS, RunCatalog, RunEntry

runs_app = command_group("Runs of every kind in the run database: list, show, delete, vacuum.")

RunId = Annotated[str, typer.Argument(help="The run's id, as `tradepit runs list` shows it.")]
KindOption = Annotated[
    str | None,
    typer.Option("--kind", help=f"Only runs of this kind: {', '.join(KINDS)}.", show_default=False),
]


@dataclass(frozen=True, slots=True)
class RunChoice:
    """The run `runs show` and `runs delete` act on, an option group (`orchestration.cli.options`):
    its id, and (where two kinds of run share the id) its kind."""

    run_id: RunId
    kind: KindOption = None

    def find(self, catalog: RunCatalog) -> RunEntry:
        return catalog.get(self.run_id, self.kind)


def _catalog(where: RunDatabase) -> closing[RunCatalog]:
    return closing(RunCatalog(where.url()))


@clean_errors
@option_groups
def runs_list(kind: KindOption = None, *, where: RunDatabase, as_json: JsonFlag = False) -> None:
    """List the runs, oldest first: kind, status, when, who traded what, and the outcome.

    Example: `tradepit runs list --kind trade`
    """
    with _catalog(where) as catalog:
        entries = catalog.runs(kind)
    if as_json:
        print(json.dumps({"runs": [e.document() for e in entries]}, indent=2))
        return
    if not entries:
        stdout.print(f"no {kind + ' ' if kind else ''}runs in {catalog.url}", markup=False)
        return
    table = Table(title="Runs")
    for column in ("run", "kind", "status", "created", "agent / name", "symbols", "result"):
        table.add_column(column, no_wrap=column in {"run", "created"})
    for e in entries:
        table.add_row(
            Text(e.run_id),
            e.kind,
            e.status,
            e.created_at.strftime("%Y-%m-%d %H:%M"),
            Text(e.label),
            ",".join(e.symbols),
            Text(e.result),
        )
    print_table(stdout, table)


@clean_errors
@option_groups
def runs_show(
    run: RunChoice,
    *,
    where: RunDatabase,
    as_json: JsonFlag = False,
) -> None:
    """Show one run's summary: what it traded, its outcome, and its rows in every table.

    Example: `tradepit runs show tr-0123456789ab`
    """
    with _catalog(where) as catalog:
        entry = run.find(catalog)
    document = {**entry.document(), **entry.details}
    if as_json:
        print(json.dumps(document, indent=2))
        return
    _say(f"{entry.kind} run {entry.run_id}: {entry.status}", bold=True)
    finished = entry.finished_at.isoformat() if entry.finished_at else "not yet"
    _say(f"created {entry.created_at.isoformat()}, finished {finished}")
    start, end = entry.details.get("window", [None, None])
    window = f"{start or 'the first bar'} to {end or 'the last bar'}"
    _say(f"{entry.label or '(unnamed)'} on {','.join(entry.symbols) or '-'}, {window}")
    if entry.result:
        _say(entry.result)
    for key, value in entry.details.items():
        if key not in {"window", "rows"}:
            _lines(key, value)
    rows = entry.details.get("rows", {})
    _say("rows: " + (", ".join(f"{table} {count:,}" for table, count in rows.items()) or "none"))


@clean_errors
@option_groups
def runs_delete(
    run: RunChoice,
    *,
    where: RunDatabase,
    as_json: JsonFlag = False,
) -> None:
    """Delete a run and all its rows in every table (its LLM calls too; the shared response
    cache and the Kraken order journal stay). `tradepit runs vacuum` then gives the space back.

    Example: `tradepit runs delete tr-0123456789ab`
    """
    with _catalog(where) as catalog:
        entry = run.find(catalog)
        deleted = catalog.delete(entry.run_id, entry.kind)
    if as_json:
        print(json.dumps({"deleted": entry.run_id, "kind": entry.kind, "rows": deleted}))
        return
    rows = ", ".join(f"{table} {count:,}" for table, count in deleted.items())
    _say(f"deleted {entry.kind} run {entry.run_id} and its rows: {rows}")
    _say("give the space back with `tradepit runs vacuum`")


@clean_errors
@option_groups
def runs_vacuum(*, where: RunDatabase, as_json: JsonFlag = False) -> None:
    """Rebuild the run database so that deleted runs' space goes back to the disk; prints its
    size before and after.

    Example: `tradepit runs vacuum`
    """
    with _catalog(where) as catalog:
        before, after = catalog.vacuum()
    if as_json:
        print(json.dumps({"database": catalog.url, "bytes_before": before, "bytes_after": after}))
        return
    _say(f"vacuumed {catalog.url}: {before:,} bytes before, {after:,} after")


runs_app.command("list")(runs_list)
runs_app.command("show")(runs_show)
runs_app.command("delete")(runs_delete)
runs_app.command("vacuum")(runs_vacuum)


def _lines(key: str, value: Any, indent: str = "") -> None:
    """A detail as people read it: nested mappings indented, lists of rows one a line."""
    if value in (None, {}, [], ""):
        return
    if isinstance(value, dict):
        _say(f"{indent}{key}:")
        for inner, item in value.items():
            _lines(inner, item, indent + "  ")
    elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
        _say(f"{indent}{key}:")
        for item in value:
            _say(f"{indent}  " + ", ".join(f"{k} {_figure(v)}" for k, v in item.items()))
    else:
        _say(f"{indent}{key}: {_figure(value)}")


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value)


def _say(line: str, *, bold: bool = False) -> None:
    # Names and ids come from the database: no rich markup is read out of them.
    stdout.print(Text(line, style="bold" if bold else ""), soft_wrap=True)
