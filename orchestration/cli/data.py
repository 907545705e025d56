"""`tradepit data` (what market data there is) and `tradepit backtest` (one agent replayed over
it through the full decision cycle)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from agents.quant import build_quant_agent
from orchestration.cli import costs as window_and_costs
from orchestration.cli.common import (
    DataFiles,
    Db,
    JsonFlag,
    catalog,
    clean_errors,
    command_group,
    database,
    fail,
    note,
    print_table,
    stderr,
    stdout,
)
from orchestration.cli.costs import CostFlags, parse_window, starting_cash
from orchestration.cli.options import by_flag, option_groups
from orchestration.cli.risk import ExposureFlags, StopFlags, risk_limits
from trading.clock import LiveClock
from trading.data import SymbolInfo
from trading.data.universe import CLOSE_ONLY_NOTE, SP20, SURVIVORSHIP_NOTE, dataset_notes
from trading.data.universe import SOURCE_NAME as UNIVERSE_SOURCE
from trading.metrics import benchmark_name
from trading.replay import ReplayBars, ReplayConfig
from trading.strategies import all_kinds
from trading.vectorised import UnsupportedError
from trading.vectorised_replay import PATH_CHOICES, Backtest, quant_backtest

data_app = command_group("Market data: bundled datasets and your own files.")


@data_app.command("list")
@clean_errors
def data_list(data: DataFiles = None, as_json: JsonFlag = False) -> None:
    """List every symbol with its source, first and last bar and row count."""
    infos = catalog(data).describe()
    if as_json:
        rows = [
            {
                "symbol": i.symbol,
                "source": i.source,
                "first": i.first.date().isoformat(),
                "last": i.last.date().isoformat(),
                "rows": i.rows,
                "timeframe": _timeframe(i.timeframe),
                "description": i.description,
            }
            for i in infos
        ]
        print(json.dumps({"symbols": rows, "notes": _source_notes(infos)}, indent=2))
        return
    table = Table(title="Market data")
    for column in ("symbol", "source", "first", "last", "rows", "timeframe"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for i in infos:
        table.add_row(
            i.symbol,
            i.source,
            i.first.date().isoformat(),
            i.last.date().isoformat(),
            str(i.rows),
            _timeframe(i.timeframe),
        )
    print_table(stdout, table)
    for line in _source_notes(infos):
        stdout.print(line, markup=False, highlight=False, soft_wrap=True)


def _source_notes(infos: list[SymbolInfo]) -> list[str]:
    """One line per bundled dataset: what it is and its caveats (survivorship bias)."""
    lines: dict[str, str] = {}
    for info in infos:
        if info.source == UNIVERSE_SOURCE:
            lines[info.source] = (
                f"{info.source}: {len(SP20)} S&P 500 stocks ({', '.join(SP20)}), daily "
                f"adjusted closes 1990-01-02 to 2022-12-28 (skfolio, BSD-3). "
                f"{SURVIVORSHIP_NOTE}. {CLOSE_ONLY_NOTE}."
            )
        elif info.description:
            lines[info.symbol] = f"{info.symbol}: {info.description}"
    return list(lines.values())


def _timeframe(span: timedelta) -> str:
    """1d, 4h, 15m, 30s: how traders write bar sizes."""
    seconds = int(span.total_seconds())
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _parse_params(raw: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in raw or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--param takes NAME=VALUE, got {item!r}")
        params[key.strip()] = value.strip()
    return params


@clean_errors
@option_groups
def backtest(
    agent: Annotated[
        str, typer.Option(help=f"Agent to run: {', '.join(sorted(all_kinds()))}.")
    ] = "sma_cross",
    symbol: Annotated[
        str, typer.Option(help="Symbol(s) to trade, comma-separated, e.g. SPX or SPX,IXIC.")
    ] = "SPX",
    start: window_and_costs.Start = None,
    end: window_and_costs.End = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Agent parameter NAME=VALUE (repeatable)."),
    ] = None,
    data: DataFiles = None,
    cash: window_and_costs.Cash = None,
    *,
    costs: CostFlags,
    exposure: ExposureFlags,
    stops: StopFlags,
    db: Db = None,
    path: Annotated[
        str,
        typer.Option(
            help="How to run it: auto (the vectorised path where it reproduces the replay "
            "exactly, else the replay), vectorised or replay. Both give the same result."
        ),
    ] = "auto",
    as_json: JsonFlag = False,
) -> None:
    """Replay one agent over history through the full decision cycle.

    Point-in-time data, agent decision, risk gate, paper fills at the next bar's open with fees
    and slippage, ledger and metrics, stored in the database. `--fee-bps 0 --slippage-bps 0`
    means no costs at all: fills at exactly the next open. The risk options are those of
    `tradepit trade`, so the command `tradepit evolve` saves replays the limits it tuned. The
    run goes through the vectorised path wherever that reproduces the replay exactly (the same
    fills, equity, metrics and stored rows), else through the replay, and says which ran and why.
    """
    if path not in PATH_CHOICES:
        fail(f"--path takes {', '.join(PATH_CHOICES)}, got {path!r}")
    symbols = tuple(s.strip().upper() for s in symbol.split(",") if s.strip())
    if not symbols:
        fail("--symbol needs at least one symbol")
    window = parse_window(start, end)
    cost_model = costs.cost_model()
    limits = risk_limits(by_flag(exposure) | by_flag(stops))
    config = ReplayConfig(
        symbols=symbols,
        start=window.start,
        end=window.end,
        cash=starting_cash(cash),
        costs=cost_model,
        limits=limits,
    )
    trading_agent = build_quant_agent(agent, _parse_params(param))
    market = catalog(data)
    # Unknown symbols and empty windows fail here, before a run is recorded.
    for cut in ReplayBars(market, config).uncovered():
        note(cut)
    notes = dataset_notes(market.load(s) for s in config.symbols)
    store = database(db)
    run_id = f"bt-{uuid.uuid4().hex[:12]}"
    try:
        run = _with_progress(
            not as_json,
            lambda progress: quant_backtest(
                trading_agent,
                trading_agent.kind,
                trading_agent.params,
                market,
                config,
                run_id=run_id,
                path=path,
                store=store,
                created_at=LiveClock().now(),
                progress=progress,
            ),
        )
    except UnsupportedError as error:
        fail(f"--path vectorised: {error}")
    finally:
        store.close()
    if as_json:
        params = trading_agent.params.model_dump()
        print(json.dumps(backtest_json(run, params, notes), indent=1))
    else:
        _print_backtest(run, notes)


def _with_progress(show: bool, run: Callable[[Callable[[int, int], None] | None], Any]) -> Backtest:
    # Not on a pipe or a file: a finished bar there leaves a blank line behind.
    if not show or not stderr.is_terminal:
        return asyncio.run(run(None))  # type: ignore[no-any-return]
    # Imported here: a piped or --json backtest draws no bar (rich.progress is ~20 ms).
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("bars"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task("replay", total=None)

        def advance(done: int, total: int) -> None:
            if done % 50 == 0 or done == total:
                bar.update(task, completed=done, total=total)

        return asyncio.run(run(advance))  # type: ignore[no-any-return]


def backtest_json(
    run: Backtest, params: dict[str, Any], notes: Sequence[str] = ()
) -> dict[str, Any]:
    """The `--json` document. Money and quantities are exact decimal strings; metrics are
    numbers. `path` says which path ran, `path_reason` why the replay ran under `--path auto`
    (null otherwise); `data_notes` what the data's caveats are (a survivorship-biased universe)."""
    result = run.result
    return {
        "run_id": result.run_id,
        "path": run.path,
        "path_reason": run.reason,
        "agent": result.agent,
        "params": params,
        "symbols": list(result.config.symbols),
        "start": result.equity[0][0].date().isoformat(),
        "end": result.equity[-1][0].date().isoformat(),
        "initial_cash": str(result.config.cash),
        "final_equity": str(result.final_equity),
        "kill_switch": result.kill_switch or None,
        "data_notes": list(notes),
        "benchmark": benchmark_name(result.config.symbols),
        "metrics": result.metrics.model_dump(mode="json"),
        "trades": [f.trade_json() for f in result.fills],
        "equity": [{"time": t.isoformat(), "equity": str(v)} for t, _, v in result.equity],
    }


def _print_backtest(run: Backtest, notes: Sequence[str]) -> None:
    result = run.result
    m = result.metrics
    table = Table(title=f"{result.agent} on {', '.join(result.config.symbols)}")
    table.add_column("metric")
    table.add_column("value", justify="right")

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2%}"

    def num(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    rows = [
        ("period", f"{result.equity[0][0].date()} to {result.equity[-1][0].date()}"),
        ("initial cash", f"{result.config.cash:,.2f}"),
        ("final equity", f"{result.final_equity:,.2f}"),
        ("total return", pct(m.total_return)),
        (f"benchmark: {benchmark_name(result.config.symbols)}", pct(m.benchmark_total_return)),
        ("annualised return", pct(m.annualized_return)),
        ("annualised volatility", pct(m.annualized_volatility)),
        ("Sharpe", num(m.sharpe)),
        ("Sortino", num(m.sortino)),
        ("max drawdown", pct(m.max_drawdown)),
        ("Calmar", num(m.calmar)),
        ("win rate", pct(m.win_rate)),
        ("profit factor", num(m.profit_factor)),
        ("alpha (annualised)", pct(m.alpha)),
        ("beta", num(m.beta)),
        ("information ratio", num(m.information_ratio)),
        ("turnover (per year)", num(m.turnover)),
        ("fills", str(len(result.fills))),
        ("round trips", str(len(result.round_trips))),
        ("path", run.path),
    ]
    for name, value in rows:
        table.add_row(name, value)
    print_table(stdout, table)
    if run.reason is not None:  # a line of its own: the reason would widen the table
        stdout.print(f"path: {run.describe()}", markup=False, highlight=False)
    if result.kill_switch:
        stdout.print(f"[bold red]{result.kill_switch}[/]")
    for line in notes:
        stdout.print(f"data: {line}", markup=False, highlight=False, soft_wrap=True)
    stdout.print(f"run id: {result.run_id}")
