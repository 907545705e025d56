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

from pathlib import Path
from typing import Annotated

import typer

from orchestration.cli import costs as window_and_costs
from orchestration.cli.common import (
    DataFiles,
    Db,
    Home,
    JsonFlag,
    ProvidersFile,
    clean_errors,
    fail,
    tradepit_home,
)
from orchestration.cli.costs import CostFlags
from orchestration.cli.options import option_groups
from orchestration.cli.risk import StopFlags
from orchestration.cli.trade_budget import DEFAULT_BUDGET_HELP, budget_limits
from orchestration.cli.trade_options import KrakenFlags, MarketFlags, TradeOptions


@clean_errors
@option_groups
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
    start: window_and_costs.Start = None,
    end: window_and_costs.End = None,
    *,
    kraken: KrakenFlags,
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
    home: Home = None,
    data: DataFiles = None,
    cash: window_and_costs.Cash = None,
    costs: CostFlags,
    stops: StopFlags,
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
    options = TradeOptions(
        source=source,
        market=MarketFlags(team, symbols, start, end, tuple(data or ()), cash, costs, stops),
        kraken=kraken,
        run_id=run_id,
        resume=resume,
        replay=replay,
        output="events" if events else "json" if as_json else "people",
        limits=budget_limits(budget_usd, budget_tokens),
        db=db,
        home=home,
        home_dir=tradepit_home(home),
        providers=providers,
    )
    # What runs a trade (the LLM gateway, agno, the MCP SDK, the loop) is imported here, when
    # one runs: `trade --help` and a refused flag need none of it (~1 s of imports).
    from orchestration.cli.trade_run import trade_with

    trade_with(options)
