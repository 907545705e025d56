"""`tradepit arena`: a competition of quant and LLM entrants on the same history, with a
leaderboard, bootstrap statistics, an HTML report, and exact replays; `tradepit arena show`
reprints a stored run."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from orchestration.arena.config import ArenaConfig, default_config, load_config, parse_config
from orchestration.arena.store import ArenaStore, StoredArena
from orchestration.cli_common import (
    DataFiles,
    JsonFlag,
    ProvidersFile,
    catalog,
    clean_errors,
    fail,
    parse_date,
    stderr,
    stdout,
    tradepit_home,
)
from trading.clock import LiveClock
from trading.storage import default_database_url

EXIT_NOT_REPRODUCED = 1

arena_app = typer.Typer(
    help="Competitions: quant and LLM entrants on the same bars, ranked with statistics.",
    invoke_without_command=True,
)

Db = Annotated[str | None, typer.Option(help="SQLAlchemy URL; default $TRADEPIT_HOME/replay.db.")]


@arena_app.callback(invoke_without_command=True)
@clean_errors
def arena(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(help="Arena YAML (see README, Arena); default: the bundled competition."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Write report.html, equity.png and drawdowns.png into this folder."),
    ] = None,
    db: Db = None,
    replay: Annotated[
        str | None,
        typer.Option(help="Rerun a stored arena from its LLM cache (zero calls) and compare."),
    ] = None,
    start: Annotated[str | None, typer.Option(help="Override the first day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Override the last day, YYYY-MM-DD.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes for quant entrants (0: this one).", min=0)
    ] = None,
    data: DataFiles = None,
    providers: ProvidersFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Run every entrant on the same point-in-time bars with its own ledger and the same
    costs; print the leaderboard (Sharpe intervals by block bootstrap, LLM calls and cost,
    memorisation flags) and store the run. LLM entrants without a usable model are skipped,
    saying what would enable them."""
    if ctx.invoked_subcommand is not None:
        return
    url = db or default_database_url(tradepit_home(), "replay")
    market = catalog(data)
    files = list(data or [])
    show_progress = not as_json
    if replay is not None:
        if config is not None or start is not None or end is not None:
            fail("--replay reruns a stored arena as it was; drop --config, --start and --end")
        from orchestration.arena.competition import replay as replay_arena

        stored = _stored(url, replay)
        llm = _providers(stored.config, providers)
        if not files and stored.data_files:  # the original's own files, unless told otherwise
            files = [Path(f) for f in stored.data_files]
            market = catalog(files)
        competition = _with_progress(
            show_progress,
            lambda progress: replay_arena(
                replay,
                run_id=new_run_id(),
                db_url=url,
                catalog=market,
                clock=LiveClock(),
                providers=llm,
                data_files=files,
                progress=progress,
            ),
        )
    else:
        from orchestration.arena.competition import compete

        chosen = load_config(config) if config is not None else default_config()
        chosen = _overridden(chosen, start, end, workers)
        llm = _providers(chosen, providers)
        chosen = _inline_saved_agents(chosen, llm)
        competition = _with_progress(
            show_progress,
            lambda progress: compete(
                chosen,
                run_id=new_run_id(),
                db_url=url,
                catalog=market,
                clock=LiveClock(),
                providers=llm,
                data_files=files,
                progress=progress,
            ),
        )
    stored = _stored(url, competition.result.run_id)
    written: list[Path] = []
    if report is not None:
        from orchestration.arena.report import write_report

        written = write_report(stored.leaderboard, stored.runs, report)
    _print(stored, as_json, written)
    if competition.replay is not None and not competition.replay["equal"]:
        raise typer.Exit(EXIT_NOT_REPRODUCED)


@arena_app.command("show")
@clean_errors
def show(
    run_id: Annotated[str, typer.Argument(help="The arena run id, e.g. arena-1a2b3c4d5e6f.")],
    db: Db = None,
    report: Annotated[
        Path | None, typer.Option(help="Also write the report into this folder.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Reprint a stored arena run: its leaderboard, notes, and replay verdict if it was one."""
    stored = _stored(db or default_database_url(tradepit_home(), "replay"), run_id)
    written: list[Path] = []
    if report is not None:
        from orchestration.arena.report import write_report

        written = write_report(stored.leaderboard, stored.runs, report)
    _print(stored, as_json, written)


def new_run_id() -> str:
    """A fresh arena run id; only the command line draws one (the arena itself is seeded)."""
    return f"arena-{uuid.uuid4().hex[:12]}"


def document(stored: StoredArena, files: list[Path] | None = None) -> dict[str, Any]:
    """The `--json` document of a run, the same for `arena` and `arena show`."""
    return {
        "run_id": stored.run_id,
        "created_at": stored.created_at.isoformat(),
        "replay_of": stored.replay_of,
        "replay": stored.replay_report,
        "config": stored.config.model_dump(mode="json"),
        "seeds": stored.seeds,
        "models": stored.models,
        "data_hash": stored.data_hash,
        "data_files": stored.data_files,
        "code_version": stored.code_version,
        "leaderboard": stored.leaderboard.model_dump(mode="json"),
        "report": [str(f) for f in files or []],
    }


def _print(stored: StoredArena, as_json: bool, files: list[Path]) -> None:
    if as_json:
        print(json.dumps(document(stored, files), indent=1))
        return
    from orchestration.arena.leaderboard import print_leaderboard

    print_leaderboard(stored.leaderboard, stdout)
    if stored.replay_report is not None:
        verdict = stored.replay_report
        if verdict["equal"]:
            stdout.print(
                f"replay of {verdict['of']}: identical, {verdict['llm_calls_made']} LLM calls "
                f"made, {verdict['llm_answers_from_cache']} answers from the cache",
                markup=False,
            )
        else:
            stdout.print(f"replay of {verdict['of']}: DIFFERENT", style="bold red")
            for difference in verdict["differences"]:
                stdout.print(f"  {difference}", markup=False)
    for path in files:
        stdout.print(f"report: {path}", markup=False, highlight=False)
    stdout.print(
        f"run id: {stored.run_id} (data {stored.data_hash[:12]}, tradepit "
        f"{stored.code_version.get('package')} {str(stored.code_version.get('commit'))[:12]})",
        markup=False,
        highlight=False,
    )


def _stored(url: str, run_id: str) -> StoredArena:
    store = ArenaStore(url)
    try:
        return store.get(run_id)
    finally:
        store.close()


def _overridden(
    config: ArenaConfig, start: str | None, end: str | None, workers: int | None
) -> ArenaConfig:
    changes: dict[str, Any] = {}
    if (first := parse_date("--start", start)) is not None:
        changes["start"] = first.isoformat()
    if (last := parse_date("--end", end)) is not None:
        changes["end"] = last.isoformat()
    if workers is not None:
        changes["workers"] = workers
    if not changes:
        return config
    return parse_config({**config.model_dump(mode="json"), **changes}, "options")


def _providers(config: ArenaConfig, path: Path | None) -> Any:
    """providers.yaml, read only when some entrant needs an LLM."""
    if all(e.quant is not None for e in config.entrants):
        return None
    from agents.providers import load_providers

    return load_providers(path)


def _inline_saved_agents(config: ArenaConfig, providers: Any) -> ArenaConfig:
    saved = any(
        m.agent is not None for e in config.entrants if e.team for m in e.team.all_members()
    )
    if not saved:
        return config
    from agents.manager import AgentManager
    from orchestration.arena.runner import resolve_saved_agents

    with AgentManager.at_home(tradepit_home(), LiveClock(), providers) as manager:
        return resolve_saved_agents(config, manager.get)


def _with_progress(show: bool, run: Callable[[Callable[[str, int, int], None] | None], Any]) -> Any:
    if not show:
        return asyncio.run(run(None))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    labels = {"cycles": "arena: bars", "pool": "arena: quant entrants in workers"}
    with Progress(*columns, console=stderr, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def advance(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(labels.get(label, label), total=total)
            if done % 20 == 0 or done == total or label == "pool":
                bar.update(tasks[label], completed=done, total=total)

        return asyncio.run(run(advance))
