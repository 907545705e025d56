"""The `tradepit` command line (typer + rich).

Every command prints for people by default and one JSON document with `--json`. A bad input is
one clear line on stderr and exit code 2; anything else unexpected is a traceback and exit 1.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from agents.quant import STRATEGIES, build_quant_agent
from trading.clock import LiveClock
from trading.costs import CostModel
from trading.data import Catalog
from trading.errors import TradepitError
from trading.replay import ReplayConfig, ReplayResult, run_replay
from trading.risk import RiskLimits
from trading.storage import Store, default_database_url

if TYPE_CHECKING:
    from tools.registry import ToolSpec

EXIT_BAD_INPUT = 2
P = ParamSpec("P")

app = typer.Typer(
    name="tradepit",
    help="LLM and quant agents trade real history and live markets, with correct money.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
data_app = typer.Typer(
    help="Market data: bundled datasets and your own files.", no_args_is_help=True
)
app.add_typer(data_app, name="data")
providers_app = typer.Typer(
    help="LLM providers from providers.yaml: which are usable here, and a live check.",
    no_args_is_help=True,
)
app.add_typer(providers_app, name="providers")

stdout = Console()
stderr = Console(stderr=True)

DataFiles = Annotated[
    list[Path] | None,
    typer.Option("--data", help="An OHLCV CSV or Parquet file to add (repeatable)."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document instead.")]


def clean_errors(command: Callable[P, None]) -> Callable[P, None]:
    """Turn deliberate errors (bad symbol, bad parameter, bad file) into one line and exit 2."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except TradepitError as error:
            fail(str(error))
        except ValidationError as error:
            fail("; ".join(_validation_message(item) for item in error.errors()))

    return wrapper


def _validation_message(item: Any) -> str:
    where = ".".join(str(part) for part in item["loc"])
    return f"{where}={item.get('input')!r}: {item['msg']}"


def fail(message: str) -> NoReturn:
    stderr.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _catalog(files: list[Path] | None) -> Catalog:
    return Catalog.default(files or [])


@data_app.command("list")
@clean_errors
def data_list(data: DataFiles = None, as_json: JsonFlag = False) -> None:
    """List every symbol with its source, first and last bar and row count."""
    infos = _catalog(data).describe()
    if as_json:
        rows = [
            {
                "symbol": i.symbol,
                "source": i.source,
                "first": i.first.date().isoformat(),
                "last": i.last.date().isoformat(),
                "rows": i.rows,
                "timeframe": _timeframe(i.timeframe),
            }
            for i in infos
        ]
        print(json.dumps({"symbols": rows}, indent=2))
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
    stdout.print(table)


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


def _parse_date(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} takes a date as YYYY-MM-DD, got {value!r}")


def _decimal(option: str, value: str, minimum: Decimal = Decimal(0)) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        fail(f"{option} takes a number, got {value!r}")
    if not number.is_finite() or number < minimum:
        fail(f"{option} must be a finite number of at least {minimum}, got {value!r}")
    return number


def _database(db: str | None) -> Store:
    if db is None:
        home = Path(os.environ.get("TRADEPIT_HOME", Path.home() / ".tradepit"))
        db = default_database_url(home, "replay")
    return Store(db)


@app.command()
@clean_errors
def backtest(
    agent: Annotated[
        str, typer.Option(help=f"Agent to run: {', '.join(sorted(STRATEGIES))}.")
    ] = "sma_cross",
    symbol: Annotated[
        str, typer.Option(help="Symbol(s) to trade, comma-separated, e.g. SPX or SPX,IXIC.")
    ] = "SPX",
    start: Annotated[str | None, typer.Option(help="First bar, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last bar, YYYY-MM-DD (inclusive).")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Agent parameter NAME=VALUE (repeatable)."),
    ] = None,
    data: DataFiles = None,
    cash: Annotated[str, typer.Option(help="Starting cash.")] = "100000",
    fee_bps: Annotated[str, typer.Option(help="Exchange fee in bps of notional.")] = "1",
    slippage_bps: Annotated[
        str, typer.Option(help="Half-spread paid by market orders, in bps. 0 = the open exactly.")
    ] = "1",
    impact: Annotated[
        str, typer.Option(help="Square-root market impact coefficient k (0 = off).")
    ] = "0",
    commission_per_share: Annotated[str, typer.Option(help="Commission per unit.")] = "0",
    min_commission: Annotated[str, typer.Option(help="Least commission per order.")] = "0",
    borrow_rate: Annotated[
        str, typer.Option(help="Annual borrow rate on shorts, 0.03 = 3%.")
    ] = "0",
    participation_cap: Annotated[
        str, typer.Option(help="Most of the average daily volume one order takes per bar.")
    ] = "0.1",
    max_drawdown: Annotated[
        str | None, typer.Option(help="Kill switch: stop adding risk at this drawdown, e.g. 0.3.")
    ] = None,
    db: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL; default $TRADEPIT_HOME/replay.db.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Replay one agent over history through the full decision cycle.

    Point-in-time data, agent decision, risk gate, paper fills at the next bar's open with fees
    and slippage, ledger and metrics, stored in the database. `--fee-bps 0 --slippage-bps 0`
    means no costs at all: fills at exactly the next open.
    """
    symbols = tuple(s.strip().upper() for s in symbol.split(",") if s.strip())
    if not symbols:
        fail("--symbol needs at least one symbol")
    first, last = _parse_date("--start", start), _parse_date("--end", end)
    if first and last and first > last:
        fail(f"--start {first} is after --end {last}")
    costs = CostModel(
        taker_fee_bps=_decimal("--fee-bps", fee_bps),
        maker_fee_bps=_decimal("--fee-bps", fee_bps),
        half_spread_bps=_decimal("--slippage-bps", slippage_bps),
        impact_coefficient=_decimal("--impact", impact),
        commission_per_share=_decimal("--commission-per-share", commission_per_share),
        min_commission=_decimal("--min-commission", min_commission),
        borrow_rate=_decimal("--borrow-rate", borrow_rate),
        participation_cap=_decimal("--participation-cap", participation_cap, Decimal("0.0001")),
    )
    limits = RiskLimits(
        max_drawdown=_decimal("--max-drawdown", max_drawdown) if max_drawdown else None
    )
    config = ReplayConfig(
        symbols=symbols,
        start=first,
        end=last,
        cash=_decimal("--cash", cash, Decimal("0.01")),
        costs=costs,
        limits=limits,
    )
    trading_agent = build_quant_agent(agent, _parse_params(param))
    catalog = _catalog(data)
    for s in symbols:
        catalog.load(s)  # unknown symbols fail here, before a run is recorded
    store = _database(db)
    run_id = f"bt-{uuid.uuid4().hex[:12]}"
    try:
        result = _with_progress(
            not as_json,
            lambda progress: run_replay(
                trading_agent,
                catalog,
                config,
                run_id=run_id,
                store=store,
                created_at=LiveClock().now(),
                progress=progress,
            ),
        )
    finally:
        store.close()
    if as_json:
        print(json.dumps(backtest_json(result, trading_agent.params.model_dump()), indent=1))
    else:
        _print_backtest(result)


def _with_progress(
    show: bool, run: Callable[[Callable[[int, int], None] | None], Any]
) -> ReplayResult:
    if not show:
        return asyncio.run(run(None))  # type: ignore[no-any-return]
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


def backtest_json(result: ReplayResult, params: dict[str, Any]) -> dict[str, Any]:
    """The `--json` document. Money and quantities are exact decimal strings; metrics are
    numbers."""
    return {
        "run_id": result.run_id,
        "agent": result.agent,
        "params": params,
        "symbols": list(result.config.symbols),
        "start": result.equity[0][0].date().isoformat(),
        "end": result.equity[-1][0].date().isoformat(),
        "initial_cash": str(result.config.cash),
        "final_equity": str(result.final_equity),
        "kill_switch": result.kill_switch or None,
        "metrics": result.metrics.model_dump(mode="json"),
        "trades": [
            {
                "time": f.time.isoformat(),
                "symbol": f.symbol,
                "side": f.side.value,
                "quantity": str(f.quantity),
                "price": str(f.price),
                "fee": str(f.fee),
            }
            for f in result.fills
        ],
        "equity": [{"time": t.isoformat(), "equity": str(v)} for t, _, v in result.equity],
    }


def _print_backtest(result: ReplayResult) -> None:
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
        ("benchmark (buy and hold)", pct(m.benchmark_total_return)),
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
    ]
    for name, value in rows:
        table.add_row(name, value)
    stdout.print(table)
    if result.kill_switch:
        stdout.print(f"[bold red]{result.kill_switch}[/]")
    stdout.print(f"run id: {result.run_id}")


@app.command()
@clean_errors
def mcp(
    transport: Annotated[
        str, typer.Option(help="stdio (for desktop clients) or http (streamable HTTP).")
    ] = "stdio",
    host: Annotated[
        str, typer.Option(help="HTTP address to bind; anything but loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="HTTP port; 0 picks a free one (printed on stderr).", min=0)
    ] = 8765,
    allow_trading: Annotated[
        bool, typer.Option("--allow-trading", help="Also serve the order tools (paper only).")
    ] = False,
    auth_token: Annotated[
        str | None,
        typer.Option(
            help="Bearer token every HTTP request must carry. Prefer $TRADEPIT_MCP_TOKEN: "
            "other users of this machine can read command lines."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Start the clock at 00:00 UTC of this date (YYYY-MM-DD), so the last bar "
            "seen is the previous session's; default: the latest bar's close."
        ),
    ] = None,
    data: DataFiles = None,
    cash: Annotated[str, typer.Option(help="Starting cash of the paper account.")] = "100000",
    list_tools: Annotated[
        bool, typer.Option("--list-tools", help="Print the tools that would be served and exit.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Serve tradepit's financial tools to MCP clients (Claude Desktop, IDEs, agents).

    Market data is point-in-time: the session's clock stands at --as-of (default: the latest
    bar) and no tool sees past it. Order tools appear only with --allow-trading, and trade on
    paper. Over stdio, stdout carries only the protocol; logs go to stderr. Over HTTP the
    endpoint is http://HOST:PORT/mcp, loopback by default, with Host/Origin checks against
    DNS rebinding; binding elsewhere requires a bearer token.
    """
    from mcp_server.server import build_server, check_exposure, resolve_token, run_http, run_stdio
    from tools.context import ToolContext
    from tools.registry import tools_for

    if transport not in {"stdio", "http"}:
        fail(f"--transport takes stdio or http, got {transport!r}")
    if port > 65535:
        fail(f"--port takes 0 to 65535, got {port!r}")
    if list_tools:
        _print_tools(tools_for(allow_trading), as_json)
        return
    token = resolve_token(auth_token)
    if transport == "http":
        check_exposure(host, token)  # refuse before loading data or binding anything
    day = _parse_date("--as-of", as_of)
    moment = datetime.combine(day, datetime.min.time(), UTC) if day else None
    context = ToolContext.paper(
        _catalog(data), as_of=moment, cash=_decimal("--cash", cash, Decimal("0.01"))
    )
    server = build_server(context, allow_trading=allow_trading)
    if transport == "stdio":
        run_stdio(server)
    else:
        run_http(server, host, port, token)


def _print_tools(specs: list[ToolSpec], as_json: bool) -> None:
    if as_json:
        rows = [
            {
                "name": t.name,
                "title": t.title,
                "read_only": t.read_only,
                "destructive": not t.read_only,
                "description": t.summary,
            }
            for t in specs
        ]
        print(json.dumps({"tools": rows}, indent=2))
        return
    table = Table(title="MCP tools")
    table.add_column("name", no_wrap=True)  # a name is what a client calls: never cut it
    for column in ("title", "kind", "what it does"):
        table.add_column(column)
    for t in specs:
        kind = "read-only" if t.read_only else "destructive (paper)"
        table.add_row(t.name, t.title, kind, t.summary)
    stdout.print(table)


ProvidersFile = Annotated[
    Path | None,
    typer.Option("--providers", help="providers.yaml to use; default $TRADEPIT_PROVIDERS."),
]


@providers_app.command("list")
@clean_errors
def providers_list(providers: ProvidersFile = None, as_json: JsonFlag = False) -> None:
    """Each provider, its models with prices and cut-offs, and whether it is usable here."""
    from agents.providers import availability, load_providers

    config = load_providers(providers)
    statuses = {name: availability(provider) for name, provider in config.providers.items()}
    if as_json:
        rows = [
            {
                "provider": name,
                "protocol": provider.protocol,
                "base_url": provider.base_url,
                "api_key_env": provider.api_key_env,
                "usable": statuses[name].usable,
                "reason": statuses[name].reason,
                "models": {
                    model: {
                        "input_per_mtok": str(info.input_per_mtok),
                        "output_per_mtok": str(info.output_per_mtok),
                        "cutoff": info.cutoff.isoformat() if info.cutoff else None,
                    }
                    for model, info in provider.models.items()
                },
            }
            for name, provider in config.providers.items()
        ]
        print(json.dumps({"providers": rows, "aliases": config.aliases}, indent=2))
        return
    table = Table(title="LLM providers")
    for column in ("provider", "usable", "why", "models ($ in / out per Mtok)"):
        table.add_column(column)
    for name, provider in config.providers.items():
        models = ", ".join(
            f"{m} ({info.input_per_mtok}/{info.output_per_mtok})"
            for m, info in provider.models.items()
        )
        status = statuses[name]
        usable = "[green]yes[/]" if status.usable else "[red]no[/]"
        table.add_row(name, usable, status.reason, models)
    stdout.print(table)
    if config.aliases:
        stdout.print("aliases: " + ", ".join(f"{a} = {t}" for a, t in config.aliases.items()))


@providers_app.command("check")
@clean_errors
def providers_check(
    name: Annotated[
        str, typer.Argument(help="A provider (its first model), provider:model, or alias.")
    ],
    providers: ProvidersFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Make one tiny real call (a few tokens) to prove a provider's key, URL and model work."""
    from agents.providers import ProviderError, check_model, load_providers

    config = load_providers(providers)
    if ":" not in name and name not in config.aliases:
        provider = config.providers.get(name)
        if provider is None:
            fail(f"unknown provider {name!r}; known: {', '.join(sorted(config.providers))}")
        name = f"{name}:{next(iter(provider.models))}"
    ref = config.resolve(name)
    try:
        result = check_model(ref)
    except ProviderError as error:
        stderr.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        print(
            json.dumps(
                {
                    "model": result.reference,
                    "reply": result.reply,
                    "prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                    "cost_usd": str(result.cost_usd),
                    "latency_s": round(result.latency_s, 3),
                }
            )
        )
        return
    stdout.print(
        f"{result.reference}: answered {result.reply!r} in {result.latency_s:.2f}s, "
        f"{result.prompt_tokens}+{result.completion_tokens} tokens, ${result.cost_usd:.6f}"
    )


def main() -> None:
    """Console entry point."""
    app()
