"""`tradepit trade`: a team trades through the durable trading loop, cycle by cycle, on the
paper executor, with every cycle committed before the next; and the run-level LLM wiring: one
gateway per run with its budget, its call log and its response cache in the run's database.
`--source kraken` runs (live Kraken pairs) are set up in `orchestration.cli.trade_kraken`.

Three ways in: a new run (`--team`, `--symbols`, `--start`, `--end`, costs and limits), a
resume of a stopped or crashed run (`--resume RUN_ID`: same team, same data, same LLM cache,
so calls already answered are not paid again), and a replay (`--replay RUN_ID`: the stored
run's team under a new run id, answered only from the cache, with zero LLM calls, then
compared with the original).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from agents.door import close_model_clients
from agents.gateway import LlmGateway, ReplayMiss
from agents.llm_calls import Budget, BudgetExceeded
from orchestration.cli.common import (
    DataFiles,
    Db,
    JsonFlag,
    ProvidersFile,
    catalog,
    clean_errors,
    fail,
    model_from_flags,
    note,
    parse_date,
    parse_decimal,
    stdout,
    tradepit_home,
)
from orchestration.cli.live_view import LiveView, LlmSpend
from orchestration.cli.risk import MaxDrawdown, StopLoss, TakeProfit, risk_limits
from orchestration.cli.trade_kraken import (
    RISK_OPTIONS,
    KrakenFlags,
    check_source,
    choose_mode,
    database_url,
    locate_run,
    new_kraken_run,
    on_kraken,
    resume_kraken_run,
)
from orchestration.cli.trade_report import Output, replay_check, report
from orchestration.cli.trade_setup import (
    DEFAULT_BUDGET_HELP,
    BudgetLimits,
    Prepared,
    gateway_and_team,
    quorum_warnings,
    resolve_providers,
    resolve_team,
    run_budget,
    run_meta,
    stored_setup,
)
from orchestration.events import JsonLinesEmitter, LoopEvent, ProgressEvent
from orchestration.live.kraken import KrakenMode
from orchestration.loop import LoopResult, TradingLoop, stop_on_signals, stored_run
from trading.clock import LiveClock
from trading.costs import CostModel
from trading.replay import ReplayBars, ReplayConfig
from trading.storage import Store

# Exit codes beside 0 (finished, or stopped on request), 1 (a bug) and 2 (bad input).
EXIT_BUDGET = 3  # the LLM budget is spent: the run is stopped and resumable
EXIT_REPLAY_DIFFERS = 4  # a replay met an unknown question or ended with another ledger


@clean_errors
def trade(
    team: Annotated[
        Path | None,
        typer.Option(help="Team YAML file; default the bundled example team.", show_default=False),
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            metavar="bundled|kraken",
            help="Where bars come from: the bundled history, or Kraken live.",
        ),
    ] = "bundled",
    symbols: Annotated[
        str | None,
        typer.Option(
            help="Symbols, comma-separated: SPX,IXIC (default SPX), or Kraken pairs "
            "BTC/USD,ETH/USD (default BTC/USD)."
        ),
    ] = None,
    start: Annotated[str | None, typer.Option(help="First bar, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last bar, YYYY-MM-DD (inclusive).")] = None,
    paper: Annotated[
        bool,
        typer.Option("--paper", help="Trade on paper (the default); wins over --validate/--live."),
    ] = False,
    validate: Annotated[
        bool,
        typer.Option("--validate", help="Kraken: send orders with validate=true; none is placed."),
    ] = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="Kraken: place REAL orders (needs KRAKEN_API_KEY, KRAKEN_API_SECRET)."
        ),
    ] = False,
    every: Annotated[
        float | None,
        typer.Option(help="Kraken: a cycle every this many seconds; default each new closed bar."),
    ] = None,
    timeframe: Annotated[
        str | None, typer.Option(help="Kraken: bar size, 1m 5m 15m 30m 1h 4h 1d [default: 1m].")
    ] = None,
    max_cycles: Annotated[
        int | None,
        typer.Option(min=2, help="Kraken: stop after N cycles (the last settles); default never."),
    ] = None,
    history_bars: Annotated[
        int | None,
        typer.Option(min=1, help="Kraken: closed bars of history the team sees [default: 200]."),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="Kraken API base URL; default $TRADEPIT_KRAKEN_URL, else Kraken."),
    ] = None,
    throttle: Annotated[
        bool,
        typer.Option(
            "--throttle/--no-throttle",
            help="Kraken: pace requests to its rate limit (off only for a local test server).",
        ),
    ] = True,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Name the new run; default a fresh id.")
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(metavar="RUN_ID", help="Continue a stopped or crashed run as it started."),
    ] = None,
    replay: Annotated[
        str | None,
        typer.Option(
            metavar="RUN_ID", help="Re-run a stored run from its LLM cache: zero LLM calls."
        ),
    ] = None,
    events: Annotated[
        str | None,
        typer.Option(metavar="jsonl", help="Print one JSON event per line (progress, result)."),
    ] = None,
    budget_usd: Annotated[
        str | None,
        typer.Option(
            help=f"Stop the run when its LLM calls cost this many dollars {DEFAULT_BUDGET_HELP}."
        ),
    ] = None,
    budget_tokens: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=f"Stop the run when its LLM calls used this many tokens {DEFAULT_BUDGET_HELP}.",
        ),
    ] = None,
    db: Db = None,
    providers: ProvidersFile = None,
    home: Annotated[
        Path | None,
        typer.Option(help="The tradepit home; default $TRADEPIT_HOME, else ~/.tradepit."),
    ] = None,
    data: DataFiles = None,
    cash: Annotated[
        str | None, typer.Option(help="Starting cash [default: 100000; on Kraken 10000].")
    ] = None,
    fee_bps: Annotated[str | None, typer.Option(help="Exchange fee in bps [default: 1].")] = None,
    slippage_bps: Annotated[
        str | None, typer.Option(help="Half-spread of market orders in bps [default: 1].")
    ] = None,
    impact: Annotated[
        str | None, typer.Option(help="Square-root market impact coefficient k [default: 0].")
    ] = None,
    commission_per_share: Annotated[
        str | None, typer.Option(help="Commission per unit [default: 0].")
    ] = None,
    min_commission: Annotated[
        str | None, typer.Option(help="Least commission per order [default: 0].")
    ] = None,
    borrow_rate: Annotated[
        str | None, typer.Option(help="Annual borrow rate on shorts, 0.03 = 3% [default: 0].")
    ] = None,
    participation_cap: Annotated[
        str | None,
        typer.Option(help="Most of the average daily volume one order takes [default: 0.1]."),
    ] = None,
    max_drawdown: MaxDrawdown = None,
    stop_loss: StopLoss = None,
    take_profit: TakeProfit = None,
    as_json: JsonFlag = False,
) -> None:
    """Let a team trade cycle by cycle, durably: history on paper, or Kraken live.

    Each cycle (one bar) is committed with the team's transcript before the next; `--start`
    and `--end` pick the window of the bundled data (or `--data` files). With `--source
    kraken` the team trades Kraken pairs from now on, a cycle every `--every` seconds or on
    each new closed `--timeframe` bar: on paper at Kraken's book (default), `--validate`
    (orders checked by Kraken, none placed) or `--live` (real orders; needs KRAKEN_API_KEY
    and KRAKEN_API_SECRET). LLM members with no usable model here are skipped, saying which
    key or server would enable them. `--resume RUN_ID` continues a stopped run; `--replay
    RUN_ID` re-runs one from its LLM cache with zero calls and says whether the final ledger
    equals the original's.

    Exit codes: 0 finished, or stopped by Ctrl-C / SIGTERM after the current cycle
    (resumable); 2 bad input; 3 the LLM budget is spent (stopped, resumable with a larger
    budget); 4 a replay differs from its original.
    """
    if events not in (None, "jsonl"):
        fail(f"--events takes jsonl, got {events!r}")
    if events and as_json:
        fail("--events and --json both write to standard output; pick one")
    if resume and replay:
        fail("--resume continues a run and --replay re-runs one; pick one")
    limits = _limits(budget_usd, budget_tokens)
    home_dir = tradepit_home(home)
    flags = KrakenFlags(
        paper, validate, live, every, timeframe, max_cycles, history_bars, url, throttle
    )
    market_options = {
        "--team": team,
        "--symbols": symbols,
        "--start": start,
        "--end": end,
        "--data": data,
        "--cash": cash,
        "--fee-bps": fee_bps,
        "--slippage-bps": slippage_bps,
        "--impact": impact,
        "--commission-per-share": commission_per_share,
        "--min-commission": min_commission,
        "--borrow-rate": borrow_rate,
        "--participation-cap": participation_cap,
        "--max-drawdown": max_drawdown,
        "--stop-loss": stop_loss,
        "--take-profit": take_profit,
    }
    stored_id = resume or replay
    mode: KrakenMode | None = None
    if stored_id is not None:
        given = [name for name, value in market_options.items() if value]
        given += flags.fixed_by_run()
        if given:
            fail(
                f"run {stored_id!r} trades as it was started; {', '.join(given)} cannot change "
                "it (start a new run instead)"
            )
        if resume and run_id:
            fail("--run-id names a new run; --resume continues RUN_ID itself")
        if replay and limits is not None:
            fail("a replay makes no LLM calls, so it takes no budget")
        database = locate_run(stored_id, db, home_dir, source)
    else:
        check_source(source, flags, market_options)
        if source == "kraken":  # the mode picks the database, so it comes first
            mode = choose_mode(flags)
        database = database_url(mode, db, home_dir)
    store = Store(database)
    prepared: Prepared | None = None
    try:
        if mode is not None:
            prepared = new_kraken_run(
                flags, mode, store, database, home_dir, market_options, run_id, providers, limits
            )
        elif stored_id is not None and on_kraken(store, stored_id, source, flags, resume):
            prepared = resume_kraken_run(
                flags, store, database, home_dir, stored_id, providers, limits
            )
        elif resume is not None:
            prepared = _resume(store, database, resume, providers, limits)
        elif replay is not None:
            prepared = _replay(store, database, replay, run_id, providers)
        else:
            config = _config(market_options)
            prepared = _new(
                store, database, config, team, run_id, providers, home_dir, data or [], limits
            )
        output: Output = "events" if events else "json" if as_json else "people"
        hint = _resume_hint(prepared.run_id, db, home) + prepared.resume_flags
        _drive(prepared, output, hint=hint)
    finally:
        if prepared is not None and prepared.calls is not None:
            prepared.calls.close()
        store.close()


# ---- the three ways in -----------------------------------------------------------------------


def _new(
    store: Store,
    url: str,
    config: ReplayConfig,
    team_path: Path | None,
    run_id: str | None,
    providers_file: Path | None,
    home: Path,
    data: list[Path],
    limits: BudgetLimits | None,
) -> Prepared:
    market = catalog(data)
    # An unknown symbol or an empty window fails here, before any run.
    for cut in ReplayBars(market, config).uncovered():
        note(cut)
    team_file, runnable, providers = resolve_team(team_path, providers_file, home)
    run_id = run_id or f"tr-{uuid.uuid4().hex[:12]}"
    if store.run(run_id) is not None:
        fail(f"run {run_id!r} already exists; resume it with --resume {run_id} or pick a new id")
    limits = run_budget(limits)
    calls, gateway, built = gateway_and_team(
        runnable.config,
        run_id,
        url,
        lambda _: limits.budget(),
        catalog=market,
        providers=providers,
        lookup=runnable.agents.__getitem__,
    )
    meta = run_meta(team_file, runnable, providers, data, limits)
    return Prepared(
        run_id,
        built,
        market,
        store,
        calls,
        gateway,
        lambda loop: loop.start(config, run_id=run_id, meta=meta),
        skipped=runnable.skipped,
        warnings=runnable.warnings,
    )


def _resume(
    store: Store,
    url: str,
    run_id: str,
    providers_file: Path | None,
    limits: BudgetLimits | None,
) -> Prepared:
    stored = stored_run(store, run_id)
    setup = stored_setup(run_id, stored.meta)
    providers = resolve_providers(providers_file, setup.providers, setup.team)
    limits = run_budget(limits, setup.limits)
    # The run's budget counts what its earlier processes paid; a replay stays one.
    market = catalog(setup.data)
    calls, gateway, built = gateway_and_team(
        setup.team,
        run_id,
        url,
        lambda log: limits.budget(log.calls(run_id)),
        catalog=market,
        providers=providers,
        lookup=setup.lookup,
        replay="replay_of" in stored.meta,
        # A resumed run continues itself: its own answers (a resumed replay: its original's).
        answers_from=stored.meta.get("replay_of", run_id),
    )
    return Prepared(
        run_id,
        built,
        market,
        store,
        calls,
        gateway,
        lambda loop: loop.resume(run_id),
        skipped=setup.skipped,
        warnings=quorum_warnings(setup.team, setup.skipped),
    )


def _replay(
    store: Store, url: str, original: str, run_id: str | None, providers_file: Path | None
) -> Prepared:
    stored = stored_run(store, original)
    setup = stored_setup(original, stored.meta)
    providers = resolve_providers(providers_file, setup.providers, setup.team)
    run_id = run_id or f"rp-{uuid.uuid4().hex[:12]}"
    if store.run(run_id) is not None:
        fail(f"run {run_id!r} already exists; pick a new id for the replay")
    committed = len(store.cycles(original, full=False))
    if committed == 0:
        fail(f"run {original!r} committed no cycle; there is nothing to replay")
    # The original's recording, in the same database, answers the replay.
    market = catalog(setup.data)
    calls, gateway, built = gateway_and_team(
        setup.team,
        run_id,
        url,
        lambda _: Budget(),
        catalog=market,
        providers=providers,
        lookup=setup.lookup,
        replay=True,
        answers_from=original,
    )
    meta = {**stored.meta, "replay_of": original}
    return Prepared(
        run_id,
        built,
        market,
        store,
        calls,
        gateway,
        lambda loop: loop.start(
            stored.config, run_id=run_id, instruments=stored.instruments, meta=meta
        ),
        skipped=setup.skipped,
        warnings=quorum_warnings(setup.team, setup.skipped),
        replay_of=original,
        replay_cycles=committed,
    )


# ---- driving a run and saying how it went ------------------------------------------------------


def _drive(prepared: Prepared, output: Output, *, hint: str) -> None:
    p = prepared
    for skipped in p.skipped:
        note(f"skipped LLM member {skipped.member!r}: {skipped.reason}")
    for warning in p.warnings:
        note(warning)
    sinks: list[Callable[[LoopEvent], None]] = []
    view: LiveView | None = None
    if output == "events":
        sinks.append(JsonLinesEmitter(sys.stdout))
    elif output == "people" and sys.stdout.isatty():
        view = LiveView(
            stdout,
            title=f"{p.team.name}: run {p.run_id}",
            transcript=p.team.transcript,
            spend=lambda: _spend(p.gateway),
        )
        sinks.append(view)
    # The wall clock stamps the run's creation and end; the cycles keep the replay's times.
    loop = TradingLoop(
        p.team, p.market, p.store, events=lambda e: _fan_out(sinks, e), clock=LiveClock()
    )
    if p.replay_cycles is not None:
        sinks.append(_stop_after(loop, p.replay_cycles))
    try:
        with _signals(loop), view or nullcontext():
            result = asyncio.run(_run(p, loop))
    except BudgetExceeded as spent:
        p.store.set_status(p.run_id, "stopped")
        committed = len(p.store.cycles(p.run_id, full=False))
        report(p, None, output)
        note(
            f"stopped: {spent}. The cycle under way was not committed ({committed} cycles are "
            "stored; the LLM answers it received are cached and will not be paid again). "
            f"Resume with a larger budget: {hint} --budget-usd/--budget-tokens <more>"
        )
        raise typer.Exit(EXIT_BUDGET) from None
    except ReplayMiss as miss:
        note(f"the replay differs from run {p.replay_of!r}: {miss}")
        raise typer.Exit(EXIT_REPLAY_DIFFERS) from None
    differences = replay_check(p)
    report(p, result, output, differences)
    if result.status == "stopped" and p.replay_of is None:
        note(f"stopped after cycle {result.cycles - 1} ({loop.stop_requested}); resume: {hint}")
    if differences:
        raise typer.Exit(EXIT_REPLAY_DIFFERS)


async def _run(p: Prepared, loop: TradingLoop) -> LoopResult:
    try:
        return await p.begin(loop)
    finally:
        if p.gateway is not None:
            await close_model_clients()


# ---- small parts ------------------------------------------------------------------------------


def _limits(usd: str | None, tokens: int | None) -> BudgetLimits | None:
    if usd is None and tokens is None:
        return None
    dollars = None if usd is None else parse_decimal("--budget-usd", usd, Decimal("0.000001"))
    return BudgetLimits(dollars, tokens)


def _config(options: Mapping[str, object]) -> ReplayConfig:
    """The run's market, costs and limits, with the defaults of `tradepit backtest`."""

    def text(option: str) -> str | None:
        value = options[option]
        return value if isinstance(value, str) else None

    def number(option: str, default: str, least: str = "0") -> Decimal:
        return parse_decimal(option, text(option) or default, Decimal(least))

    names = tuple(s.strip().upper() for s in (text("--symbols") or "SPX").split(",") if s.strip())
    if not names:
        fail("--symbols needs at least one symbol")
    first, last = parse_date("--start", text("--start")), parse_date("--end", text("--end"))
    if first and last and first > last:
        fail(f"--start {first} is after --end {last}")
    fee = number("--fee-bps", "1")
    costs = model_from_flags(
        CostModel,
        {
            "taker_fee_bps": ("--fee-bps", fee),
            "maker_fee_bps": ("--fee-bps", fee),
            "half_spread_bps": ("--slippage-bps", number("--slippage-bps", "1")),
            "impact_coefficient": ("--impact", number("--impact", "0")),
            "commission_per_share": (
                "--commission-per-share",
                number("--commission-per-share", "0"),
            ),
            "min_commission": ("--min-commission", number("--min-commission", "0")),
            "borrow_rate": ("--borrow-rate", number("--borrow-rate", "0")),
            "participation_cap": (
                "--participation-cap",
                number("--participation-cap", "0.1", "0.0001"),
            ),
        },
    )
    limits = risk_limits({option: text(option) for option in RISK_OPTIONS})
    return ReplayConfig(
        symbols=names,
        start=first,
        end=last,
        cash=number("--cash", "100000", "0.01"),
        costs=costs,
        limits=limits,
    )


def _fan_out(sinks: list[Callable[[LoopEvent], None]], event: LoopEvent) -> None:
    for sink in sinks:
        sink(event)


def _stop_after(loop: TradingLoop, cycles: int) -> Callable[[LoopEvent], None]:
    def sink(event: LoopEvent) -> None:
        if isinstance(event, ProgressEvent) and event.cycle + 1 >= cycles:
            loop.stop(f"replayed the {cycles} cycles the original committed")

    return sink


def _signals(loop: TradingLoop) -> AbstractContextManager[None]:
    # Signal handlers can only be installed from the main thread.
    if threading.current_thread() is threading.main_thread():
        return stop_on_signals(loop)
    return nullcontext()


def _spend(gateway: LlmGateway | None) -> LlmSpend:
    if gateway is None:
        return LlmSpend()
    cached = sum(1 for c in gateway.calls if c.cached)
    return LlmSpend(len(gateway.calls), cached, gateway.budget.tokens, gateway.budget.usd)


def _resume_hint(run_id: str, db: str | None, home: Path | None) -> str:
    where = f" --db {db}" if db else f" --home {home}" if home else ""
    return f"tradepit trade --resume {run_id}{where}"
