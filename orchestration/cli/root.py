"""The root app of the `tradepit` command line, with each command group in its own module.

Every command prints for people by default and one JSON document with `--json`. A bad input is
one clear line on stderr and exit code 2; anything else unexpected is a traceback and exit 1.

    common        consoles, the error contract, option types, shared parsers and locations
    data          `data list` and `backtest`
    arena         `arena` and `arena show` (competitions)
    trade         `trade`'s flags (the trading loop, with resume, replay and LLM budgets);
                  trade_run what it runs, imported only once its flags are settled
    debate        `debate show`
    runs          `runs list|show|delete|vacuum` (runs of every kind)
    evolve        `evolve` (genetic search, adopted only out of sample)
    mcp           `mcp`
    providers     `providers list|check`
    agents        `agents list|show|create|update|remove`
    kraken        `kraken check|ticker`

The commands are imported only when run (`lazy_commands`): a quant `tradepit backtest`,
`tradepit --help` and `tradepit trade --help` load neither agno, the MCP SDK nor an HTTP
client. This module therefore imports no command module; a new command goes into `COMMANDS`
with its summary.
"""

from __future__ import annotations

from typing import Any, Final

import typer

from orchestration.cli.lazy_commands import LazyCommand, lazy_group

__all__ = ["COMMANDS", "app", "main"]

# Commands first, then groups: the order `tradepit --help` lists them in. Each summary is the
# first paragraph of the command's own help (tests/orchestration/cli/test_lazy_commands.py
# holds them equal).
COMMANDS: Final = {
    "backtest": LazyCommand(
        "orchestration.cli.data",
        "backtest",
        "Replay one agent over history through the full decision cycle.",
    ),
    "trade": LazyCommand(
        "orchestration.cli.trade",
        "trade",
        "Let a team trade cycle by cycle, durably: history on paper, or Kraken live.",
    ),
    "evolve": LazyCommand(
        "orchestration.cli.evolve",
        "evolve_command",
        "Evolve an agent: a genetic search per walk-forward fold on the training windows; the "
        "best child is adopted only if, on the validation window, it beats its parent and the "
        "benchmark (buy and hold of the symbols in equal parts), or the config's "
        "min_validation.",
    ),
    "mcp": LazyCommand(
        "orchestration.cli.mcp",
        "mcp",
        "Serve tradepit's financial tools to MCP clients (Claude Desktop, IDEs, agents).",
    ),
    "arena": LazyCommand(
        "orchestration.cli.arena",
        "arena_app",
        "Competitions: quant and LLM entrants on the same bars, ranked with statistics.",
    ),
    "data": LazyCommand(
        "orchestration.cli.data",
        "data_app",
        "Market data: bundled datasets and your own files.",
    ),
    "providers": LazyCommand(
        "orchestration.cli.providers",
        "providers_app",
        "LLM providers from providers.yaml: which are usable here, and a live check.",
    ),
    "agents": LazyCommand(
        "orchestration.cli.agents",
        "agents_app",
        "Saved LLM agents: create, list, show, update and remove them by name.",
    ),
    "kraken": LazyCommand(
        "orchestration.cli.kraken",
        "kraken_app",
        "Kraken: check your API keys (placing nothing) and read live quotes.",
    ),
    "debate": LazyCommand(
        "orchestration.cli.debate",
        "debate_app",
        "Team debates: the stored transcript behind each decision of a run.",
    ),
    "runs": LazyCommand(
        "orchestration.cli.runs",
        "runs_app",
        "Runs of every kind in the run database: list, show, delete, vacuum.",
    ),
}

# What each command is built with, as if it were registered on the app itself.
SETTINGS: Final[dict[str, Any]] = {
    "add_completion": False,
    "pretty_exceptions_enable": False,
    # Plain click help and errors: rich's panels cut option names and paths with an ellipsis
    # at 80 columns and when piped.
    "rich_markup_mode": None,
}

app = typer.Typer(
    name="tradepit",
    help="LLM and quant agents trade real history and live markets, with correct money.",
    no_args_is_help=True,
    cls=lazy_group(COMMANDS, **SETTINGS),
    **SETTINGS,
)


@app.callback()
def _root() -> None:
    # Typer builds a group only for an app with a callback or registered commands; the
    # commands here are all lazy, so this empty callback is what makes `app` a group.
    pass


def main() -> None:
    """Console entry point."""
    app()
