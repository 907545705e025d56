"""Trading on live Kraken data: a cycle source that waits for time to pass, and the entry points
behind `tradepit trade --source kraken`.

`LiveSource` (in `orchestration.live.source`) gives a cycle every `every_s` seconds, or on each
new closed bar of a timeframe, waiting on an injected clock and sleep. A cycle's bars are the
newest candle of each symbol that has closed by the clock and that Kraken has committed: a
forming candle never enters a snapshot. A resume asks for the committed cycles again; they
come at their stored times with their stored candles, read back from the candle cache (or
from Kraken), and the rebuild checks them as it checks replayed data.

Modes, the safest asked for winning (`kraken_mode`):

- `paper` (the default): fills on Kraken's live order book (`BookPaperExecutor`) with Kraken's
  fees; nothing is sent and no key is needed.
- `validate`: every order goes to Kraken with `validate=true` (checked, never placed); keys
  needed, since that is a private endpoint.
- `live`: real orders, only with `live=True` *and* KRAKEN_API_KEY/KRAKEN_API_SECRET.

With keys (validate, live) the run reconciles before its first cycle and stops with
`ReconcileError`, naming every difference, before it trades: at start, no other run's order
may still be working, Kraken's open orders must match the journal, and a live run's cash must
be there; on resume, the same, and (live) Kraken's balances of the run's assets must equal
those at the start plus every fill of the run. Order ids are the loop's idempotency keys (run,
cycle, symbol); the executor derives Kraken's client order id from them and journals it before
AddOrder leaves. Each cycle polls the working orders so fills land in the ledger; an order
left `unknown` by a lost reply is found by query, never sent again; a fill a crashed cycle
polled but never stored is booked on resume from the journal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal, cast

from orchestration.events import EventSink
from orchestration.live.source import LiveSource, PastCycle, Sleep, past_cycles
from orchestration.loop import (
    LoopResult,
    StartUp,
    TradingLoop,
    stop_on_signals,
    stored_run,
)
from trading.clock import Clock, LiveClock
from trading.data import Catalog
from trading.decision import TradingAgent
from trading.domain import OrderEvent
from trading.errors import ConfigError
from trading.executor import CycleExecutor, EnginePorts, ExecutorFactory
from trading.kraken import (
    BookPaperExecutor,
    CandleCache,
    KrakenClient,
    KrakenCredentials,
    KrakenExecutor,
    KrakenMarketData,
    OrderJournal,
    Pair,
    base_url_from_env,
    kraken_catalog,
    kraken_costs,
    timeframe_seconds,
)
from trading.kraken.bookkeeping import preflight, reconcile_on_resume
from trading.replay import CycleEngine, ReplayConfig
from trading.risk import RiskLimits
from trading.storage import Store

__all__ = [
    "DEFAULT_LIMITS",
    "KrakenMode",
    "KrakenPorts",
    "KrakenRun",
    "KrakenRunSettings",
    "LiveSource",
    "PastCycle",
    "Sleep",
    "is_kraken_run",
    "kraken_mode",
    "past_cycles",
    "prepare_kraken_resume",
    "prepare_kraken_run",
    "resume_kraken_loop",
    "run_kraken_loop",
]

KrakenMode = Literal["paper", "validate", "live"]
_log = logging.getLogger(__name__)

# Headroom for the move between the last close (what orders are sized on) and the book they
# fill on: a fully invested buy sized on the close would be refused whole for a few dollars.
DEFAULT_LIMITS: Final = RiskLimits(
    max_position_weight=Decimal("0.95"), max_gross_exposure=Decimal("0.95")
)


def kraken_mode(
    *, paper: bool = False, validate: bool = False, live: bool = False, has_keys: bool
) -> KrakenMode:
    """The mode the flags ask for: paper unless validate or live is asked, and paper or
    validate wins over live. Validate and live need keys, and say so rather than fall back."""
    if paper or not (validate or live):
        if paper and (validate or live):
            _log.warning("paper trading was asked for too: trading on paper, sending nothing")
        return "paper"
    mode: KrakenMode = "validate" if validate else "live"
    if not has_keys:
        raise ConfigError(
            f"{'live trading' if mode == 'live' else 'validate-only orders'} on Kraken require "
            "KRAKEN_API_KEY and KRAKEN_API_SECRET in the environment; without keys, trade on "
            "paper (fills on Kraken's live book)"
        )
    return mode


# ---- the run's Kraken settings ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KrakenRunSettings:
    """What a Kraken run keeps in its stored meta, so a resume trades as the start did."""

    symbols: tuple[str, ...]
    timeframe: str
    every_s: float | None
    max_cycles: int | None
    mode: KrakenMode
    history_start: datetime
    # Live: what Kraken held of the run's assets when it started, for the resume's reconcile.
    start_balances: dict[str, Decimal] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "symbols": list(self.symbols),
            "timeframe": self.timeframe,
            "every_s": self.every_s,
            "max_cycles": self.max_cycles,
            "mode": self.mode,
            "history_start": self.history_start.isoformat(),
            "start_balances": {a: str(v) for a, v in sorted(self.start_balances.items())},
        }

    @classmethod
    def from_meta(cls, run_id: str, meta: Mapping[str, Any]) -> KrakenRunSettings:
        described = meta.get("kraken")
        if not isinstance(described, Mapping):
            raise ConfigError(f"run {run_id!r} did not trade on Kraken; resume it without it")
        try:
            mode = str(described["mode"])
            if mode not in ("paper", "validate", "live"):
                raise ValueError(f"mode {mode!r}")
            return cls(
                symbols=tuple(described["symbols"]),
                timeframe=str(described["timeframe"]),
                every_s=described["every_s"],
                max_cycles=described["max_cycles"],
                mode=cast(KrakenMode, mode),
                history_start=datetime.fromisoformat(described["history_start"]),
                start_balances={
                    a: Decimal(v) for a, v in described.get("start_balances", {}).items()
                },
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            raise ConfigError(
                f"run {run_id!r}: its stored Kraken settings are unreadable: {error!r}"
            ) from error


# ---- entry points ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KrakenPorts:
    """How a Kraken run reaches the world; every field has a production default."""

    client: KrakenClient
    clock: Clock
    sleep: Sleep
    cache: CandleCache
    journal: OrderJournal

    @classmethod
    def build(
        cls,
        store: Store,
        *,
        client: KrakenClient | None = None,
        base_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        cache: CandleCache | None = None,
        journal: OrderJournal | None = None,
    ) -> KrakenPorts:
        if client is None:
            client = KrakenClient(
                base_url=base_url or base_url_from_env(environ),
                credentials=KrakenCredentials.from_env(environ),
            )
        if journal is None:
            # Beside the run's tables, in the same (live) database; the journal has no secret.
            journal = OrderJournal(store.engine.url.render_as_string(hide_password=False))
        return cls(
            client=client,
            clock=clock or LiveClock(),
            sleep=sleep or asyncio.sleep,
            cache=cache or CandleCache.in_memory(),
            journal=journal,
        )


Begin = Callable[[TradingLoop], Coroutine[Any, Any, LoopResult]]


@dataclass(frozen=True, slots=True)
class KrakenRun:
    """A Kraken run made ready, for a caller that builds its own agent and loop (the CLI):
    build the agent on `catalog` (its tools then see the Kraken pairs), then
    `await begin(TradingLoop(agent, catalog, store, events=..., clock=...))` starts or
    resumes the run. Start-up checks that need no loop (keys, pairs, a new run's reconcile)
    have already run."""

    run_id: str
    mode: KrakenMode
    catalog: Catalog
    begin: Begin


def prepare_kraken_run(
    *,
    run_id: str,
    store: Store,
    symbols: Sequence[str],
    timeframe: str = "1m",
    every_s: float | None = None,
    max_cycles: int | None = None,
    paper: bool = False,
    validate: bool = False,
    live: bool = False,
    cash: Decimal = Decimal(10_000),
    limits: RiskLimits | None = None,
    history_bars: int = 200,
    meta: Mapping[str, Any] | None = None,
    **ports: Any,
) -> KrakenRun:
    """A new run `run_id` on `symbols` (Kraken pairs, "BTC/USD"), cycling until `max_cycles`
    (None: until stopped): every `every_s` seconds, or on each new closed `timeframe` bar when
    `every_s` is None. The agent sees `history_bars` closed bars of `timeframe` back from the
    start. `cash` is the run's capital in the first pair's quote currency (a live run needs
    that much at Kraken). `ports` are `KrakenPorts.build`'s keywords (client, or base_url and
    environ; clock, sleep, cache, journal)."""
    if store.run(run_id) is not None:
        raise ConfigError(f"run {run_id!r} already exists; resume it or pick a new id")
    kraken = KrakenPorts.build(store, **ports)
    client, clock = kraken.client, kraken.clock
    mode = kraken_mode(paper=paper, validate=validate, live=live, has_keys=client.has_credentials)
    if history_bars < 1:
        raise ConfigError(f"history_bars must be at least 1, got {history_bars!r}")
    pairs = [client.pair(s) for s in symbols]
    if not pairs:
        raise ConfigError("a Kraken run needs at least one symbol (--symbols BTC/USD)")
    step = timedelta(seconds=timeframe_seconds(timeframe))
    settings = KrakenRunSettings(
        symbols=tuple(p.symbol for p in pairs),
        timeframe=timeframe,
        every_s=every_s,
        max_cycles=max_cycles,
        mode=mode,
        history_start=clock.now() - history_bars * step,
    )
    if mode != "paper":
        settings = _preflight(kraken, settings, pairs, run_id, cash)
    config = ReplayConfig(
        symbols=settings.symbols,
        cash=cash,
        costs=kraken_costs(pairs[0]),
        limits=limits or DEFAULT_LIMITS,
    )
    catalog, source, executor = _assemble(kraken, settings, pairs, ())

    def begin(loop: TradingLoop) -> Coroutine[Any, Any, LoopResult]:
        return loop.start(
            config,
            run_id=run_id,
            instruments={p.symbol: p.instrument() for p in pairs},
            meta={**(meta or {}), "kraken": settings.describe()},
            source=source,
            executor=executor,
        )

    return KrakenRun(run_id, mode, catalog, begin)


def prepare_kraken_resume(*, run_id: str, store: Store, **ports: Any) -> KrakenRun:
    """Continue a Kraken run with its stored settings: the committed cycles are rebuilt from
    the database (their fills, not the book's), Kraken is reconciled, then it trades on."""
    settings = KrakenRunSettings.from_meta(run_id, stored_run(store, run_id).meta)
    kraken = KrakenPorts.build(store, **ports)
    if settings.mode != "paper" and not kraken.client.has_credentials:
        raise ConfigError(
            f"run {run_id!r} trades on Kraken in {settings.mode} mode, which needs "
            "KRAKEN_API_KEY and KRAKEN_API_SECRET in the environment"
        )
    pairs = [kraken.client.pair(s) for s in settings.symbols]
    past = past_cycles(store, run_id)
    catalog, source, executor = _assemble(kraken, settings, pairs, past)
    start_up = (
        None if settings.mode == "paper" else _reconcile_on_resume(kraken, settings, pairs, store)
    )

    def begin(loop: TradingLoop) -> Coroutine[Any, Any, LoopResult]:
        return loop.resume(run_id, source=source, executor=executor, start_up=start_up)

    return KrakenRun(run_id, settings.mode, catalog, begin)


async def run_kraken_loop(
    agent: TradingAgent,
    *,
    run_id: str,
    store: Store,
    symbols: Sequence[str],
    timeframe: str = "1m",
    every_s: float | None = None,
    max_cycles: int | None = None,
    paper: bool = False,
    validate: bool = False,
    live: bool = False,
    cash: Decimal = Decimal(10_000),
    limits: RiskLimits | None = None,
    history_bars: int = 200,
    events: EventSink | None = None,
    meta: Mapping[str, Any] | None = None,
    handle_signals: bool = False,
    clock: Clock | None = None,
    **ports: Any,
) -> LoopResult:
    """`prepare_kraken_run`, then `agent` trades it on a `TradingLoop` to the end.
    `handle_signals`: SIGINT/SIGTERM stop the loop after its cycle (main thread only)."""
    run = prepare_kraken_run(
        run_id=run_id,
        store=store,
        symbols=symbols,
        timeframe=timeframe,
        every_s=every_s,
        max_cycles=max_cycles,
        paper=paper,
        validate=validate,
        live=live,
        cash=cash,
        limits=limits,
        history_bars=history_bars,
        meta=meta,
        clock=clock,
        **ports,
    )
    loop = TradingLoop(agent, run.catalog, store, events=events, clock=clock or LiveClock())
    with _signals(loop, handle_signals):
        return await run.begin(loop)


async def resume_kraken_loop(
    agent: TradingAgent,
    *,
    run_id: str,
    store: Store,
    events: EventSink | None = None,
    handle_signals: bool = False,
    clock: Clock | None = None,
    **ports: Any,
) -> LoopResult:
    """`prepare_kraken_resume`, then `agent` trades on to the end."""
    run = prepare_kraken_resume(run_id=run_id, store=store, clock=clock, **ports)
    loop = TradingLoop(agent, run.catalog, store, events=events, clock=clock or LiveClock())
    with _signals(loop, handle_signals):
        return await run.begin(loop)


def is_kraken_run(store: Store, run_id: str) -> bool:
    """Whether `run_id` traded on Kraken, so `prepare_kraken_resume` (not `TradingLoop.resume`
    over replayed bars) continues it."""
    record = store.run(run_id)
    return record is not None and isinstance(record.config.get("meta", {}).get("kraken"), dict)


def _assemble(
    kraken: KrakenPorts,
    settings: KrakenRunSettings,
    pairs: Sequence[Pair],
    past: Sequence[PastCycle],
) -> tuple[Catalog, LiveSource, ExecutorFactory]:
    market_data = KrakenMarketData(kraken.client, kraken.clock, kraken.cache)
    catalog = kraken_catalog(
        market_data, settings.symbols, timeframe=settings.timeframe, start=settings.history_start
    )
    source = LiveSource(
        market_data,
        catalog,
        settings.symbols,
        timeframe=settings.timeframe,
        sleep=kraken.sleep,
        every_s=settings.every_s,
        max_cycles=settings.max_cycles,
        past=past,
    )
    instruments = {p.symbol: p.instrument() for p in pairs}

    def executor(ports: EnginePorts) -> CycleExecutor:
        # The engine's clock stands at the cycle's time: fills are stamped in its window.
        if settings.mode == "paper":
            return BookPaperExecutor(
                ports.ledger,
                market_data,
                ports.clock,
                ports.costs,
                instruments.__getitem__,
                gate=ports.gate,
            )
        return KrakenExecutor(
            kraken.client,
            kraken.journal,
            ports.clock,
            live=settings.mode == "live",
            ledger=ports.ledger,
        )

    return catalog, source, executor


def _preflight(
    kraken: KrakenPorts,
    settings: KrakenRunSettings,
    pairs: Sequence[Pair],
    run_id: str,
    cash: Decimal,
) -> KrakenRunSettings:
    """Before a new run (`bookkeeping.preflight`). Returns the settings with the starting
    balances, live."""
    live = settings.mode == "live"
    executor = KrakenExecutor(kraken.client, kraken.journal, kraken.clock, live=live)
    balances = preflight(executor, pairs, run_id, settings.symbols, cash, live=live)
    if not live:
        return settings
    return replace(settings, start_balances=balances)


def _reconcile_on_resume(
    kraken: KrakenPorts, settings: KrakenRunSettings, pairs: Sequence[Pair], store: Store
) -> StartUp:
    def start_up(engine: CycleEngine) -> list[OrderEvent]:
        executor = engine.executor
        if not isinstance(executor, KrakenExecutor):
            raise ConfigError(f"a {settings.mode} Kraken run needs its KrakenExecutor")
        # Fills found now belong to the next cycle: stamp them after the last committed one.
        engine.clock.advance_to(max(engine.clock.now(), kraken.clock.now()))
        live = settings.mode == "live"
        return reconcile_on_resume(
            executor,
            store,
            engine.run_id,
            settings.symbols,
            pairs,
            start_balances=settings.start_balances if live else None,
        )

    return start_up


def _signals(loop: TradingLoop, enabled: bool) -> AbstractContextManager[None]:
    return stop_on_signals(loop) if enabled else nullcontext()
