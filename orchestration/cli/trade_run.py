"""What `tradepit trade` runs once its options are settled (`orchestration.cli.trade`): the
database and the way in (a new run, a resume, a replay, a Kraken run), then the durable loop
driven to its end with its live view or events, and the report; its exit codes."""

from __future__ import annotations

import asyncio
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Final

import typer

from agents.door import close_model_clients
from agents.gateway import LlmGateway, ReplayMiss
from agents.llm_calls import Budget, BudgetExceeded
from orchestration.cli.common import (
    catalog,
    fail,
    note,
    stdout,
)
from orchestration.cli.costs import parse_window, starting_cash
from orchestration.cli.live_view import LiveView, LlmSpend
from orchestration.cli.options import by_flag
from orchestration.cli.risk import risk_limits
from orchestration.cli.trade_budget import run_budget
from orchestration.cli.trade_kraken import (
    choose_mode,
    database_url,
    locate_run,
    new_kraken_run,
    on_kraken,
    resume_kraken_run,
)
from orchestration.cli.trade_options import MarketFlags, Output, TradeOptions, Way
from orchestration.cli.trade_report import replay_check, report
from orchestration.cli.trade_setup import (
    Prepared,
    gateway_and_team,
    quorum_warnings,
    resolve_providers,
    resolve_team,
    run_meta,
    stored_setup,
)
from orchestration.events import JsonLinesEmitter, LoopEvent, ProgressEvent
from orchestration.live.kraken import KrakenMode
from orchestration.loop import LoopResult, TradingLoop, stop_on_signals, stored_run
from trading.clock import LiveClock
from trading.data.universe import dataset_notes
from trading.replay import ReplayBars, ReplayConfig
from trading.storage import Store

# Exit codes beside 0 (finished, or stopped on request), 1 (a bug) and 2 (bad input).
EXIT_BUDGET = 3  # the LLM budget is spent: the run is stopped and resumable
EXIT_REPLAY_DIFFERS = 4  # a replay met an unknown question or ended with another ledger


def trade_with(options: TradeOptions) -> None:
    """Run `tradepit trade` the way its options ask, start to report."""
    way = options.way()
    mode: KrakenMode | None = None
    if options.stored_id is not None:
        database = locate_run(options.stored_id, options.db, options.home_dir, options.source)
    else:
        if way is Way.NEW_KRAKEN:  # the mode picks the database, so it comes first
            mode = choose_mode(options.kraken)
        database = database_url(mode, options.db, options.home_dir)
    store = Store(database)
    prepared: Prepared | None = None
    try:
        if mode is not None:
            prepared = new_kraken_run(options, mode, store, database)
        else:
            if way is not Way.NEW and on_kraken(store, options):
                way = Way.RESUME_KRAKEN
            prepared = WAYS_IN[way](options, store, database)
        hint = _resume_hint(prepared.run_id, options.db, options.home) + prepared.resume_flags
        _drive(prepared, options.output, hint=hint)
    finally:
        if prepared is not None and prepared.calls is not None:
            prepared.calls.close()
        store.close()


# ---- the ways in -----------------------------------------------------------------------------


def _new(options: TradeOptions, store: Store, url: str) -> Prepared:
    config = _config(options.market)
    data = list(options.market.data)
    market = catalog(data)
    # An unknown symbol or an empty window fails here, before any run.
    for cut in ReplayBars(market, config).uncovered():
        note(cut)
    # Kept with the run, so every report of it says so (`trade_report`).
    data_notes = dataset_notes(market.load(s) for s in config.symbols)
    for caveat in data_notes:
        note(caveat)
    team_file, runnable, providers = resolve_team(
        options.market.team, options.providers, options.home_dir
    )
    run_id = options.run_id or f"tr-{uuid.uuid4().hex[:12]}"
    if store.run(run_id) is not None:
        fail(f"run {run_id!r} already exists; resume it with --resume {run_id} or pick a new id")
    limits = run_budget(options.limits)
    calls, gateway, built = gateway_and_team(
        runnable.config,
        run_id,
        url,
        lambda _: limits.budget(),
        catalog=market,
        providers=providers,
        lookup=runnable.agents.__getitem__,
        window=config,
    )
    meta = run_meta(team_file, runnable, providers, data, limits)
    if data_notes:
        meta["data_notes"] = data_notes
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


def _resume(options: TradeOptions, store: Store, url: str) -> Prepared:
    run_id = options.stored()
    stored = stored_run(store, run_id)
    setup = stored_setup(run_id, stored.meta)
    providers = resolve_providers(options.providers, setup.providers, setup.team)
    limits = run_budget(options.limits, setup.limits)
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
        window=stored.config,
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


def _replay(options: TradeOptions, store: Store, url: str) -> Prepared:
    original = options.stored()
    stored = stored_run(store, original)
    setup = stored_setup(original, stored.meta)
    providers = resolve_providers(options.providers, setup.providers, setup.team)
    run_id = options.run_id or f"rp-{uuid.uuid4().hex[:12]}"
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
        window=stored.config,
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


# A new Kraken run is not here: it needs the mode that picked its database.
WAYS_IN: Final[Mapping[Way, Callable[[TradeOptions, Store, str], Prepared]]] = {
    Way.NEW: _new,
    Way.RESUME: _resume,
    Way.RESUME_KRAKEN: resume_kraken_run,
    Way.REPLAY: _replay,
}


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
        await p.team.aclose()
        if p.gateway is not None:
            await close_model_clients()


# ---- small parts ------------------------------------------------------------------------------


def _config(market: MarketFlags) -> ReplayConfig:
    """The run's market, costs and limits, with the defaults of `tradepit backtest`."""
    names = tuple(s.strip().upper() for s in (market.symbols or "SPX").split(",") if s.strip())
    if not names:
        fail("--symbols needs at least one symbol")
    window = parse_window(market.start, market.end)
    costs, limits = market.costs.cost_model(), risk_limits(by_flag(market.stops))
    cash = starting_cash(market.cash)
    return ReplayConfig(
        symbols=names, start=window.start, end=window.end, cash=cash, costs=costs, limits=limits
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
