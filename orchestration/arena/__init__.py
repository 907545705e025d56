"""The arena: competitions of quant and LLM entrants on identical point-in-time history.

config       the arena's YAML, as closed pydantic models, and the default competition
runner       the entrants in lockstep (or quant entrants in a process pool)
leaderboard  metrics, LLM costs, block-bootstrap Sharpe intervals, memorisation flags
report       the HTML report and PNG charts
store        arena runs in the run database, beside the LLM call cache
competition  run and store, or replay from the cache and compare
"""

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
