"""The `tradepit` command line (typer + rich): the root app in `root`, each command group in a
module of its own beside it, the option groups several commands share (`options`: a frozen
dataclass per group, spread into each command's Typer parameters), and the trade command's
helpers (setup, Kraken, report, live view).

`from orchestration.cli import app` and the console script `orchestration.cli:main` reach the
root app. It is imported on first use rather than here, so that the lower layers that borrow a
helper of the CLI's (the arena's leaderboard prints with `common.print_table`, evolution names
flags with `risk.flag_of`) do not load every command, and the commands the arena and evolution
themselves, in a circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestration.cli.root import app, main

__all__ = ["app", "main"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from orchestration.cli import root

        return getattr(root, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
