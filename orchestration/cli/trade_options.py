"""`tradepit trade`'s options as one typed record: what the market of a new run is made of
(`MarketFlags`), what only a Kraken run takes (`KrakenFlags`), and which of the five ways in
the command goes (`TradeOptions.way`), all settled before any database is opened."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Final, Literal

from orchestration.cli.common import fail
from orchestration.cli.costs import CostFlags
from orchestration.cli.options import by_flag, option
from orchestration.cli.risk import StopFlags
from orchestration.cli.trade_budget import BudgetLimits

SOURCES: Final = ("bundled", "kraken")

# How the run reports: a summary for people, one JSON document, or a JSON event per line.
Output = Literal["people", "json", "events"]


class Way(Enum):
    """The five ways into `tradepit trade`. Whether a resume goes on on Kraken is the stored
    run's to say, so `TradeOptions.way` answers RESUME and the run decides."""

    NEW = "new"  # a new run of the bundled (or --data) history
    NEW_KRAKEN = "new kraken"  # a new run on live Kraken pairs
    RESUME = "resume"  # a stored run of the bundled history goes on
    RESUME_KRAKEN = "resume kraken"  # a stored Kraken run goes on
    REPLAY = "replay"  # a stored bundled run re-run from its LLM cache


@dataclass(frozen=True, slots=True)
class KrakenFlags:
    """The `tradepit trade` options only a Kraken run takes, an option group
    (`orchestration.cli.options`), as given (None: not given)."""

    paper: bool = option(
        "Trade on paper (the default); wins over --validate/--live.", default=False
    )
    validate: bool = option(
        "Kraken: send orders with validate=true; none is placed.", default=False
    )
    live: bool = option(
        "Kraken: place REAL orders (needs KRAKEN_API_KEY, KRAKEN_API_SECRET).", default=False
    )
    every: float | None = option(
        "Kraken: a cycle every this many seconds; default each new closed bar."
    )
    timeframe: str | None = option("Kraken: bar size, 1m 5m 15m 30m 1h 4h 1d [default: 1m].")
    max_cycles: int | None = option(
        "Kraken: stop after N cycles (the last settles); default never.", min=2
    )
    history_bars: int | None = option(
        "Kraken: closed bars of history the team sees [default: 200].", min=1
    )
    url: str | None = option("Kraken API base URL; default $TRADEPIT_KRAKEN_URL, else Kraken.")
    throttle: bool = option(
        "Kraken: pace requests to its rate limit (off only for a local test server).",
        "--throttle/--no-throttle",
        default=True,
    )

    def given(self) -> list[str]:
        """The Kraken-only options given, by name (`--paper` is not one: it is the default; nor
        is `--no-throttle`, which only a local test server needs)."""
        return [
            flag
            for flag, value in by_flag(self).items()
            if flag not in ("--paper", "--throttle") and value is not None and value is not False
        ]

    def fixed_by_run(self) -> list[str]:
        """The options a resume cannot change: the run keeps the cadence it started with."""
        return [
            name
            for name in self.given()
            if name in ("--every", "--timeframe", "--max-cycles", "--history-bars")
        ]


@dataclass(frozen=True, slots=True)
class MarketFlags:
    """What a new run trades: the team, the symbols, the window, the cash, the costs and the
    risk limits, as given (None: not given; each way in applies its own defaults)."""

    team: Path | None = None
    symbols: str | None = None
    start: str | None = None
    end: str | None = None
    data: tuple[Path, ...] = ()
    cash: str | None = None
    costs: CostFlags = field(default_factory=CostFlags)
    # The risk options `tradepit trade` takes (`tradepit backtest` takes all of RiskLimits').
    stops: StopFlags = field(default_factory=StopFlags)

    def given(self) -> list[str]:
        """The market options given, by flag, in the order `--help` lists them."""
        named: dict[str, object] = {
            "--team": self.team,
            "--symbols": self.symbols,
            "--start": self.start,
            "--end": self.end,
            "--data": self.data,
            "--cash": self.cash,
        }
        return (
            [name for name, value in named.items() if value]
            + self.costs.given()
            + [name for name, value in by_flag(self.stops).items() if value]
        )


@dataclass(frozen=True, slots=True)
class TradeOptions:
    """Everything `tradepit trade` was given, checked for options that contradict each other."""

    source: str
    market: MarketFlags
    kraken: KrakenFlags
    run_id: str | None
    resume: str | None
    replay: str | None
    output: Output
    limits: BudgetLimits | None
    db: str | None
    home: Path | None  # as given: the resume hint repeats it
    home_dir: Path  # the home the run uses
    providers: Path | None

    @property
    def stored_id(self) -> str | None:
        """The stored run a resume or a replay starts from."""
        return self.resume or self.replay

    def stored(self) -> str:
        """The stored run of a resume or a replay (asking it of a new run is a bug)."""
        if self.stored_id is None:
            raise RuntimeError("only a resume or a replay starts from a stored run")
        return self.stored_id

    def way(self) -> Way:
        """Which way in these options take, after refusing the options that way cannot use."""
        stored_id = self.stored_id
        if stored_id is not None:
            given = self.market.given() + self.kraken.fixed_by_run()
            if given:
                fail(
                    f"run {stored_id!r} trades as it was started; {', '.join(given)} cannot "
                    "change it (start a new run instead)"
                )
            if self.resume and self.run_id:
                fail("--run-id names a new run; --resume continues RUN_ID itself")
            if self.replay and self.limits is not None:
                fail("a replay makes no LLM calls, so it takes no budget")
            return Way.RESUME if self.resume else Way.REPLAY
        check_source(self.source, self.kraken, self.market)
        return Way.NEW_KRAKEN if self.source == "kraken" else Way.NEW


# Options of a bundled run that mean nothing on Kraken: its own fees apply, and time is now.
NOT_ON_KRAKEN: Final = (
    "--start",
    "--end",
    "--data",
    "--fee-bps",
    "--slippage-bps",
    "--impact",
    "--commission-per-share",
    "--min-commission",
    "--borrow-rate",
    "--participation-cap",
)


def check_source(source: str, flags: KrakenFlags, market: MarketFlags) -> None:
    """Refuse options that do not belong to the chosen source, before anything is opened."""
    if source not in SOURCES:
        fail(f"--source takes {' or '.join(SOURCES)}, got {source!r}")
    if source == "bundled":
        given = flags.given()
        if given:
            fail(f"{', '.join(given)}: only with --source kraken")
        return
    wrong = [name for name in market.given() if name in NOT_ON_KRAKEN]
    if wrong:
        fail(
            f"{', '.join(wrong)}: not for --source kraken, which trades from now on at "
            "Kraken's own fees"
        )
    if flags.every is not None and not flags.every > 0:
        fail(f"--every takes a positive number of seconds, got {flags.every!r}")
