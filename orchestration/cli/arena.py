"""`tradepit arena`: a competition of quant and LLM entrants on the same history, with a
leaderboard, bootstrap statistics, an HTML report, and exact replays; `tradepit arena show`
reprints a stored run."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from orchestration.arena.config import (
    ArenaConfig,
    default_entrants,
    parse_config,
    read_config,
    universe_config,
)
from orchestration.arena.market import KrakenAccess, arena_catalog, kraken_window
from orchestration.arena.store import ArenaStore, StoredArena
from orchestration.cli.common import (
    DataFiles,
    Db,
    JsonFlag,
    ProvidersFile,
    RunDatabase,
    check_report_dir,
    clean_errors,
    command_group,
    fail,
    note,
    parse_date,
    stderr,
    stdout,
    tradepit_home,
)
from orchestration.cli.kraken import ThrottleFlag
from orchestration.events import (
    ArenaProgress,
    ArenaProgressEvent,
    DocumentEvent,
    JsonLinesEmitter,
    errors_as_events,
)
from orchestration.team.config import quorum_shortfall
from trading.clock import Clock, LiveClock
from trading.data import Catalog
from trading.data.universe import UNIVERSES

EXIT_NOT_REPRODUCED = 1

arena_app = command_group(
    "Competitions: quant and LLM entrants on the same bars, ranked with statistics.",
    invoke_without_command=True,
    no_args_is_help=False,  # `tradepit arena` alone runs the bundled competition
)


@dataclass(frozen=True, slots=True)
class ArenaPorts:
    """What the command takes from its caller instead of the system, as Click's context object
    (`CliRunner().invoke(arena_app, args, obj=ArenaPorts(clock))`): the clock decides which
    Kraken candles have closed and the default Kraken window."""

    clock: Clock


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
        typer.Option(
            help="Write report.html, equity.png and drawdowns.png into this folder.",
            callback=check_report_dir,
        ),
    ] = None,
    db: Db = None,
    replay: Annotated[
        str | None,
        typer.Option(
            help="Rerun a stored arena from its LLM cache (zero calls) and compare; with the "
            "providers the run stored, unless --providers is given."
        ),
    ] = None,
    start: Annotated[str | None, typer.Option(help="Override the first day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Override the last day, YYYY-MM-DD.")] = None,
    source: Annotated[
        str | None,
        typer.Option(
            help="Where the bars come from: bundled (the bundled data and --data files) or "
            "kraken (closed candles through Kraken's public API, cached in $TRADEPIT_HOME/cache; "
            "$TRADEPIT_KRAKEN_URL names another server)."
        ),
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(help="Comma-separated symbols of one source: SPX,IXIC or BTC/USD,ETH/USD."),
    ] = None,
    universe: Annotated[
        str | None,
        typer.Option(
            help="A bundled universe: sp20 (20 S&P 500 stocks, survivorship-biased). Without "
            "--config: its ready competition (cross-sectional baselines and the LLM entrants); "
            "with one: that config's entrants on the universe's symbols."
        ),
    ] = None,
    timeframe: Annotated[
        str | None,
        typer.Option(help="Kraken candle length: 1m, 5m, 15m, 30m, 1h, 4h or 1d (default 1d)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes for quant entrants (0: this one).", min=0)
    ] = None,
    data: DataFiles = None,
    providers: ProvidersFile = None,
    as_json: JsonFlag = False,
    throttle: ThrottleFlag = True,
    events: Annotated[
        str | None,
        typer.Option(
            metavar="jsonl",
            help="Print one JSON event per line: progress per block of bars and per finished "
            "entrant, then the result document (or the error).",
        ),
    ] = None,
) -> None:
    """Run every entrant on the same point-in-time bars with its own ledger and the same
    costs; print the leaderboard (Sharpe intervals by block bootstrap, LLM calls and cost,
    memorisation flags) and store the run. LLM entrants without a usable model are skipped,
    saying what would enable them.

    With --source kraken the entrants trade Kraken pairs (default BTC/USD,ETH/USD) on closed
    candles of --timeframe; without --start and --end the window is the days before today
    whose candles Kraken's OHLC endpoint still serves. `--events jsonl` prints the progress
    and then the result as JSON lines instead, for a program to read, as `trade` does."""
    if ctx.invoked_subcommand is not None:
        return
    if events not in (None, "jsonl"):
        fail(f"--events takes jsonl, got {events!r}")
    lines = JsonLinesEmitter(sys.stdout) if events else None
    run_id = new_run_id()
    with errors_as_events(lines, run_id):
        if lines is not None and as_json:
            fail("--events and --json both write to standard output; pick one")
        url = RunDatabase(db).url()
        ports = ctx.find_object(ArenaPorts)
        clock: Clock = ports.clock if ports is not None else LiveClock()
        files = list(data or [])
        if replay is not None:
            given = {"--config": config, "--start": start, "--end": end, "--source": source}
            given |= {"--symbols": symbols, "--timeframe": timeframe, "--universe": universe}
            if any(value is not None for value in given.values()):
                named = ", ".join(option for option, value in given.items() if value is not None)
                fail(f"--replay reruns a stored arena as it was; drop {named}")
            from orchestration.arena.competition import CompetitionPorts
            from orchestration.arena.competition import replay as replay_arena

            stored = _stored(url, replay)
            _quorum_notes(stored.config)
            llm = _providers(stored.config, providers, stored.providers)
            if not files and stored.data_files:  # the original's own files, unless told otherwise
                files = [Path(f) for f in stored.data_files]
            # A Kraken replay reads the candles from the cache; it fetches only what the cache lost.
            _, market = _market(stored.config, files, clock, throttle)
            competition = _with_progress(
                lines,
                not as_json,
                lambda progress: replay_arena(
                    replay,
                    CompetitionPorts(run_id, url, market, clock, llm, files),
                    progress=progress,
                ),
            )
        else:
            from orchestration.arena.competition import CompetitionPorts, compete

            if universe is not None and symbols is not None:
                fail("--universe and --symbols both name the symbols; give one")
            if universe is not None and universe not in UNIVERSES:
                fail(f"--universe takes one of {', '.join(UNIVERSES)}, got {universe!r}")
            if config is not None:
                raw = read_config(config)
            elif universe is not None:
                raw = universe_config(universe)
            else:
                raw = {"entrants": default_entrants()}
            if universe is not None and config is not None:
                symbols = ",".join(UNIVERSES[universe])
            if not isinstance(raw, Mapping):
                fail(f"{config}: an arena config is a mapping with entrants")
            options = {"start": start, "end": end, "workers": workers, "source": source}
            options |= {"symbols": symbols, "timeframe": timeframe}
            merged = _with_options(raw, options, clock)
            chosen = parse_config(merged, str(config) if config is not None else "options")
            _quorum_notes(chosen)
            chosen, market = _market(chosen, files, clock, throttle)
            llm = _providers(chosen, providers)
            chosen = _inline_saved_agents(chosen, llm)
            competition = _with_progress(
                lines,
                not as_json,
                lambda progress: compete(
                    chosen,
                    CompetitionPorts(run_id, url, market, clock, llm, files),
                    progress=progress,
                ),
            )
        stored = _stored(url, competition.result.run_id)
        written: list[Path] = []
        if report is not None:
            from orchestration.arena.report import write_report

            written = write_report(stored.leaderboard, stored.config, stored.runs, report)
    if lines is not None:
        lines(DocumentEvent(document(stored, written)))
    else:
        _print(stored, as_json, written)
    if competition.replay is not None and not competition.replay["equal"]:
        raise typer.Exit(EXIT_NOT_REPRODUCED)


@arena_app.command("show")
@clean_errors
def show(
    run_id: Annotated[str, typer.Argument(help="The arena run id, e.g. arena-1a2b3c4d5e6f.")],
    db: Db = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Also write the report into this folder.", callback=check_report_dir),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Reprint a stored arena run: its leaderboard, notes, and replay verdict if it was one."""
    stored = _stored(RunDatabase(db).url(), run_id)
    written: list[Path] = []
    if report is not None:
        from orchestration.arena.report import write_report

        written = write_report(stored.leaderboard, stored.config, stored.runs, report)
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
        stdout.print(f"report: {path}", markup=False, highlight=False, soft_wrap=True)
    market: str = stored.config.source
    if stored.config.source == "kraken":
        market = f"kraken {stored.config.timeframe} candles"
    stdout.print(
        f"run id: {stored.run_id} ({market}, data {stored.data_hash[:12]}, tradepit "
        f"{stored.code_version.get('package')} {str(stored.code_version.get('commit'))[:12]})",
        markup=False,
        highlight=False,
        soft_wrap=True,  # one line on a pipe or in a file, whatever its length
    )


def _stored(url: str, run_id: str) -> StoredArena:
    store = ArenaStore(url)
    try:
        return store.get(run_id)
    finally:
        store.close()


def _with_options(raw: Mapping[str, Any], options: dict[str, Any], clock: Clock) -> dict[str, Any]:
    """The config file (or the default competition) with the options given on top; a Kraken
    arena without a window gets the newest days Kraken's OHLC serves, by `clock`."""
    merged = dict(raw)
    for field in ("source", "timeframe", "workers"):
        if options[field] is not None:
            merged[field] = options[field]
    if options["symbols"] is not None:
        merged["symbols"] = [s.strip() for s in options["symbols"].split(",") if s.strip()]
    for field in ("start", "end"):
        if (day := parse_date(f"--{field}", options[field])) is not None:
            merged[field] = day.isoformat()
    if merged.get("source") == "kraken" and not (merged.get("start") and merged.get("end")):
        today = clock.now().astimezone(UTC).date()
        first, last = kraken_window(str(merged.get("timeframe") or "1d"), today)
        given = merged.get("end")
        end_day = _day(given) if given else last
        if end_day is None:
            return merged  # an unreadable end: the config's own check reports it
        merged["end"] = end_day.isoformat()
        if not merged.get("start"):
            merged["start"] = (end_day - (last - first)).isoformat()
    return merged


def _day(value: Any) -> date | None:
    """A date from YAML (already a date) or ISO text; None for anything else, which the
    config's own check then reports."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _market(
    config: ArenaConfig, files: list[Path], clock: Clock, throttle: bool
) -> tuple[ArenaConfig, Catalog]:
    access = None
    if config.source == "kraken":
        from trading.kraken import base_url_from_env

        cache = tradepit_home() / "cache"
        access = KrakenAccess(base_url_from_env(), cache, clock, rate_limit=throttle)
    return arena_catalog(config, files, access)


def _quorum_notes(config: ArenaConfig) -> None:
    """A note for each team entrant that can never act: it would look like a flat strategy."""
    for entrant in config.entrants:
        shortfall = quorum_shortfall(entrant.team) if entrant.team is not None else None
        if shortfall is not None:
            note(f"entrant {entrant.entrant_name!r}: {shortfall}")


def _providers(config: ArenaConfig, path: Path | None, stored: Any = None) -> Any:
    """providers.yaml, read only when some entrant needs an LLM; a replay without --providers
    takes the providers its original stored."""
    if all(e.quant is not None for e in config.entrants):
        return None
    if path is None and stored is not None:
        return stored
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


def _with_progress(
    lines: ArenaProgress | None, show: bool, run: Callable[[ArenaProgress | None], Any]
) -> Any:
    """Run with progress to `lines` (the event stream), else on a bar on stderr if `show`."""
    if lines is not None:
        return asyncio.run(run(lines))
    if not show:
        return asyncio.run(run(None))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    # Redrawn at each event rather than by rich's refresh thread: with no other thread running,
    # the arena's pool forks its workers (`orchestration.arena.pool.start_method`).
    with Progress(*columns, console=stderr, transient=True, auto_refresh=False) as bar:
        task = bar.add_task("arena", total=None)

        def advance(event: ArenaProgressEvent) -> None:
            step, total = event.step, event.total
            bar.update(task, completed=step, total=total, description=event.message, refresh=True)

        return asyncio.run(run(advance))
