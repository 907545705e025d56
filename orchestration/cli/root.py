"""The root app of the `tradepit` command line, with each command group in its own module.

Every command prints for people by default and one JSON document with `--json`. A bad input is
one clear line on stderr and exit code 2; anything else unexpected is a traceback and exit 1.

    common        consoles, the error contract, option types, shared parsers and locations
    data          `data list` and `backtest`
    arena         `arena` and `arena show` (competitions)
    trade         `trade` (the trading loop, with resume, replay and LLM budgets)
    debate        `debate show`
    runs          `runs list|show|delete|vacuum` (runs of every kind)
    evolve        `evolve` (genetic search, adopted only out of sample)
    mcp           `mcp`
    providers     `providers list|check`
    agents        `agents list|show|create|update|remove`
    kraken        `kraken check|ticker`
"""

from __future__ import annotations

import typer

from orchestration.cli.agents import agents_app
from orchestration.cli.arena import arena_app
from orchestration.cli.common import EXIT_BAD_INPUT, clean_errors, fail
from orchestration.cli.data import backtest, backtest_json, data_app
from orchestration.cli.debate import debate_app
from orchestration.cli.evolve import evolve_command
from orchestration.cli.kraken import kraken_app
from orchestration.cli.mcp import mcp
from orchestration.cli.providers import providers_app
from orchestration.cli.runs import runs_app
from orchestration.cli.trade import trade

__all__ = ["EXIT_BAD_INPUT", "app", "backtest_json", "clean_errors", "fail", "main"]

app = typer.Typer(
    name="tradepit",
    help="LLM and quant agents trade real history and live markets, with correct money.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help and errors: rich's panels cut option names and paths with an ellipsis
    # at 80 columns and when piped.
    rich_markup_mode=None,
)
# Commands first, then groups: the order `tradepit --help` lists them in.
app.command("backtest")(backtest)
app.command("trade")(trade)
app.command("evolve")(evolve_command)
app.command("mcp")(mcp)
app.add_typer(arena_app, name="arena")
app.add_typer(data_app, name="data")
app.add_typer(providers_app, name="providers")
app.add_typer(agents_app, name="agents")
app.add_typer(kraken_app, name="kraken")
app.add_typer(debate_app, name="debate")
app.add_typer(runs_app, name="runs")


def main() -> None:
    """Console entry point."""
    app()
