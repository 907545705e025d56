"""`tradepit trade --source kraken`: a team trades live Kraken pairs through the durable loop
(`orchestration.live.kraken`), on paper at Kraken's book by default, with validate-only orders
(`--validate`) or with real ones (`--live`, and both keys in the environment).

The mode is settled before any database is opened, because it picks the database: paper runs
go to `$TRADEPIT_HOME/paper.db`, validate and live runs to `live.db`, so paper and live never
share one. A resume finds the run in whichever of the home's databases holds it and trades on
with the settings it stored; a live run resumes only with `--live` given again.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Final

from agents.gateway import LlmGateway
from agents.llm_calls import LlmCallStore
from orchestration.cli.common import fail, note, stderr
from orchestration.cli.costs import starting_cash
from orchestration.cli.options import by_flag
from orchestration.cli.risk import risk_limits
from orchestration.cli.trade_budget import run_budget
from orchestration.cli.trade_options import KrakenFlags, TradeOptions
from orchestration.cli.trade_setup import (
    Prepared,
    Skipped,
    gateway_and_team,
    resolve_providers,
    resolve_team,
    run_meta,
    stored_setup,
)
from orchestration.live.kraken import (
    DEFAULT_LIMITS,
    KrakenMode,
    KrakenRun,
    KrakenRunSettings,
    is_kraken_run,
    kraken_mode,
    prepare_kraken_resume,
    prepare_kraken_run,
)
from orchestration.loop import stored_run
from orchestration.team.runtime import Team
from trading.kraken import (
    CandleCache,
    KrakenClient,
    KrakenCredentials,
    base_url_from_env,
)
from trading.storage import Store, default_database_url

DEFAULT_SYMBOL: Final = "BTC/USD"
DEFAULT_CASH: Final = "10000"
DEFAULT_HISTORY_BARS: Final = 200


def choose_mode(flags: KrakenFlags) -> KrakenMode:
    """The mode the flags ask for; keys are only looked at, never shown. Paper wins."""
    wanted = [name for name, on in (("--validate", flags.validate), ("--live", flags.live)) if on]
    if flags.paper and wanted:
        note(f"--paper wins over {' and '.join(wanted)}: trading on paper, sending no order")
        return "paper"
    has_keys = KrakenCredentials.from_env() is not None
    return kraken_mode(validate=flags.validate, live=flags.live, has_keys=has_keys)


def database_url(mode: KrakenMode | None, db: str | None, home: Path) -> str:
    """`--db`, else the home's database for the mode (None: a bundled run's replay.db)."""
    if db is not None:
        return db
    return default_database_url(home, "replay" if mode is None else _database_of(mode))


def _database_of(mode: KrakenMode) -> str:
    return "paper" if mode == "paper" else "live"


def locate_run(run_id: str, db: str | None, home: Path, source: str) -> str:
    """The database that holds `run_id`: `--db`, else the first of the home's databases that
    has it (replay, paper, live; only the Kraken ones with `--source kraken`), else the one a
    new run of the source would use, for its "no run" error."""
    if db is not None:
        return db
    modes: tuple[str, ...] = ("paper", "live")
    if source != "kraken":
        modes = ("replay", *modes)
    for mode in modes:
        # Look before opening: opening a Store creates its file, and a home would fill up
        # with empty databases just for asking.
        if not (home / f"{mode}.db").exists():
            continue
        url = default_database_url(home, mode)
        store = Store(url)
        try:
            if store.run(run_id) is not None:
                return url
        finally:
            store.close()
    return default_database_url(home, modes[0])


def new_kraken_run(options: TradeOptions, mode: KrakenMode, store: Store, url: str) -> Prepared:
    """A new Kraken run: the team resolved as for a bundled run, the run prepared on the
    Kraken catalog (pairs checked, and, with keys, reconciled), then the team built on it."""
    market, flags = options.market, options.kraken
    names = [s.strip() for s in (market.symbols or DEFAULT_SYMBOL).split(",") if s.strip()]
    if not names:
        fail("--symbols needs at least one Kraken pair, e.g. BTC/USD")
    # Every local check before Kraken is asked anything (pairs, and with keys a reconcile).
    cash = starting_cash(market.cash, DEFAULT_CASH)
    # Kraken's default limits (headroom for the move between close and book), flags on top.
    risk = risk_limits(by_flag(market.stops), DEFAULT_LIMITS)
    home = options.home_dir
    team_file, runnable, providers = resolve_team(market.team, options.providers, home)
    run_id = options.run_id or f"kr-{uuid.uuid4().hex[:12]}"
    if store.run(run_id) is not None:
        fail(f"run {run_id!r} already exists; resume it with --resume {run_id} or pick a new id")
    budget = run_budget(options.limits)
    if mode == "live":
        stderr.print(
            "warning: --live places REAL orders on Kraken with the account of "
            "$KRAKEN_API_KEY; Ctrl-C stops after the current cycle",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    run = prepare_kraken_run(
        run_id=run_id,
        store=store,
        symbols=names,
        timeframe=flags.timeframe or "1m",
        every_s=flags.every,
        max_cycles=flags.max_cycles,
        paper=mode == "paper",
        validate=mode == "validate",
        live=mode == "live",
        cash=cash,
        limits=risk,
        history_bars=flags.history_bars or DEFAULT_HISTORY_BARS,
        meta=run_meta(team_file, runnable, providers, [], budget),
        client=_client(flags),
        cache=CandleCache.in_directory(home / "cache"),
    )
    calls, gateway, built = gateway_and_team(
        runnable.config,
        run_id,
        url,
        lambda _: budget.budget(),
        catalog=run.catalog,
        providers=providers,
        lookup=runnable.agents.__getitem__,
        on_history=False,  # a live market: external MCP servers need no point-in-time proof
    )
    return _prepared(run, store, calls, gateway, built, flags, runnable.skipped, runnable.warnings)


def on_kraken(store: Store, options: TradeOptions) -> bool:
    """Whether the stored run a resume or replay names goes on on Kraken (a resume of a Kraken
    run); refuses a replay of one, and Kraken options for a run of the bundled data."""
    run_id, flags = options.stored(), options.kraken
    stored_run(store, run_id)  # an unknown run is that error first
    if is_kraken_run(store, run_id):
        if options.resume is None:
            fail(
                f"run {run_id!r} traded on Kraken, whose live book cannot be asked again; "
                "--replay re-runs runs of the bundled data"
            )
        return True
    asked = flags.given() + (["--source kraken"] if options.source == "kraken" else [])
    if asked:
        fail(f"run {run_id!r} did not trade on Kraken; go on without {', '.join(asked)}")
    return False


def resume_kraken_run(options: TradeOptions, store: Store, url: str) -> Prepared:
    """Go on with a stopped or crashed Kraken run, with its stored team, settings and budget."""
    run_id, flags, home = options.stored(), options.kraken, options.home_dir
    stored = stored_run(store, run_id)
    settings = KrakenRunSettings.from_meta(run_id, stored.meta)
    check_resume_mode(run_id, settings.mode, flags)
    setup = stored_setup(run_id, stored.meta)
    providers = resolve_providers(options.providers, setup.providers, setup.team)
    budget = run_budget(options.limits, setup.limits)
    run = prepare_kraken_resume(
        run_id=run_id,
        store=store,
        client=_client(flags),
        cache=CandleCache.in_directory(home / "cache"),
    )
    # The run's budget counts what its earlier processes paid.
    calls, gateway, built = gateway_and_team(
        setup.team,
        run_id,
        url,
        lambda log: budget.budget(log.calls(run_id)),
        catalog=run.catalog,
        providers=providers,
        lookup=setup.lookup,
        on_history=False,
        answers_from=run_id,  # a resumed run continues itself
    )
    return _prepared(run, store, calls, gateway, built, flags, setup.skipped, ())


def check_resume_mode(run_id: str, mode: KrakenMode, flags: KrakenFlags) -> None:
    """A run keeps its mode; a live one goes on placing real orders only when asked again."""
    asked = [
        name
        for name, on in (
            ("--paper", flags.paper),
            ("--validate", flags.validate),
            ("--live", flags.live),
        )
        if on and name != f"--{mode}"
    ]
    if asked:
        fail(
            f"run {run_id!r} trades on Kraken in {mode} mode as it was started; "
            f"{', '.join(asked)} cannot change it"
        )
    if mode == "live" and not flags.live:
        fail(f"run {run_id!r} places real orders on Kraken; resume it with --live")


def _client(flags: KrakenFlags) -> KrakenClient:
    # Built here rather than by the library so that --url and --no-throttle reach it.
    url = flags.url.rstrip("/") if flags.url else base_url_from_env()
    return KrakenClient(
        base_url=url, credentials=KrakenCredentials.from_env(), rate_limit=flags.throttle
    )


def _prepared(
    run: KrakenRun,
    store: Store,
    calls: LlmCallStore | None,
    gateway: LlmGateway | None,
    team: Team,
    flags: KrakenFlags,
    skipped: tuple[Skipped, ...],
    warnings: tuple[str, ...],
) -> Prepared:
    resume_flags = " --live" if run.mode == "live" else ""
    if flags.url:
        resume_flags += f" --url {flags.url}"
    if not flags.throttle:
        resume_flags += " --no-throttle"
    return Prepared(
        run.run_id,
        team,
        run.catalog,
        store,
        calls,
        gateway,
        run.begin,
        skipped=skipped,
        warnings=warnings,
        resume_flags=resume_flags,
    )
