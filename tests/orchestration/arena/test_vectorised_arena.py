"""Quant entrants through the vectorised path where it is exact: the same runs as the replay's,
here and in the process pool, and the entrants it refuses still run (through the replay)."""

from __future__ import annotations

from typing import Any

import pytest

import orchestration.arena.runner as runner
from orchestration.arena.config import ArenaConfig
from orchestration.arena.results import ArenaResult
from orchestration.arena.runner import Arena
from trading.clock import LiveClock
from trading.data import Catalog

ENTRANTS = [
    {"quant": "buy_and_hold"},
    {"quant": "sma_cross", "name": "sma-fast", "params": {"fast": 5, "slow": 20}},
    {"quant": "momentum", "params": {"lookback": 10, "allow_short": True}},
    {"quant": "rsi"},
]


def config(**fields: Any) -> ArenaConfig:
    return ArenaConfig.model_validate(
        {
            "name": "fast",
            "symbols": ["SPX", "IXIC"],
            "start": "2016-01-01",
            "end": "2017-12-31",
            "costs": {"taker_fee_bps": 2, "half_spread_bps": 1},
            "entrants": ENTRANTS,
            **fields,
        }
    )


async def arena(settings: ArenaConfig, *, vectorised: bool = True) -> ArenaResult:
    return await Arena(
        settings, run_id="a", catalog=Catalog.default(), clock=LiveClock(), vectorised=vectorised
    ).run()


@pytest.fixture
def vectorised_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The entrants that took the vectorised path in this process."""
    names: list[str] = []
    real = runner.vectorised_replay

    async def counted(agent: Any, *args: Any, **kwargs: Any) -> Any:
        names.append(agent.name)
        return await real(agent, *args, **kwargs)

    monkeypatch.setattr(runner, "vectorised_replay", counted)
    return names


async def test_quant_entrants_take_the_vectorised_path_with_the_replays_runs(
    vectorised_runs: list[str],
) -> None:
    replayed = await arena(config(), vectorised=False)
    assert vectorised_runs == []
    fast = await arena(config())
    assert sorted(vectorised_runs) == sorted(r.entrant for r in replayed.runs)
    assert fast.runs == replayed.runs
    assert all(r.fills for r in fast.runs)


async def test_entrants_it_refuses_run_through_the_replay_here_and_in_the_pool(
    vectorised_runs: list[str],
) -> None:
    stopped = {"limits": {"max_drawdown": "0.5"}}  # judged every bar: the replay runs
    here = await arena(config(**stopped), vectorised=False)
    assert (await arena(config(**stopped))).runs == here.runs
    pooled = await arena(config(**stopped, workers=2))
    assert vectorised_runs == []
    assert pooled.runs == here.runs
