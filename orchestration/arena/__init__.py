"""The arena: competitions of quant and LLM entrants on identical point-in-time history.

config       the arena's YAML, as closed pydantic models, and the default competition
runner       the entrants in lockstep (or quant entrants in a process pool)
pool         the process pool: how its workers start, what each gets once
quant_worker a quant entrant's run in a worker
leaderboard  metrics, LLM costs, block-bootstrap Sharpe intervals, memorisation flags
report       the HTML report and PNG charts
store        arena runs in the run database, beside the LLM call cache
competition  run and store, or replay from the cache and compare

`from orchestration.arena import compete` (and the other names in `__all__`) imports them on
first use rather than here: a pool's worker imports `quant_worker` and what it needs, not the
competition with its store, leaderboard and LLM stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestration.arena.competition import Competition, CompetitionPorts, compete, replay
    from orchestration.arena.config import ArenaConfig, default_config, load_config

__all__ = [
    "ArenaConfig",
    "Competition",
    "CompetitionPorts",
    "compete",
    "default_config",
    "load_config",
    "replay",
]
_HOMES = {
    "Competition": "competition",
    "CompetitionPorts": "competition",
    "compete": "competition",
    "replay": "competition",
}


def __getattr__(name: str) -> object:
    if name in __all__:
        from importlib import import_module

        module = import_module(f"orchestration.arena.{_HOMES.get(name, 'config')}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
