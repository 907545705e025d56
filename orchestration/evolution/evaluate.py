"""Fitness: one genome replayed over one window, scored net of every cost.

Fees and slippage are paid inside the replay (the config's cost model); an LLM genome also
pays for its model calls: the dollars its calls cost are taken off its equity at the bar whose
decision made them. Calls answered from the cache are charged too, at what they cost when
first made, so a genome's score does not depend on what the cache happened to hold (the run's
`Budget`, which guards real spending, charges only calls that reach a provider).

Quant genomes run on the vectorised backtest where it reproduces the replay exactly
(`trading.vectorised.supports`), otherwise through the replay itself. Both are pure functions
of (genome, window, data), which is what makes every backend give the same results.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from agents.quant import QuantAgent
from orchestration.evolution.config import Metric
from orchestration.evolution.genes import Genome
from orchestration.evolution.space import quant_candidate
from orchestration.evolution.walkforward import Window
from trading.data import Catalog
from trading.metrics import compute_metrics
from trading.replay import ReplayConfig, run_replay
from trading.vectorised import UnsupportedError, supports, vectorised_backtest

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A genome's result over one window."""

    genome: Genome
    window: str
    score: float
    metrics: dict[str, Any]
    returns: Floats  # per bar, net of every cost: the CSCV input
    final_equity: Decimal
    llm_cost_usd: Decimal
    llm_calls: int
    engine: str  # "vectorised" or "replay"

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "final_equity": str(self.final_equity),
            "llm_cost_usd": str(self.llm_cost_usd),
            "llm_calls": self.llm_calls,
            "engine": self.engine,
            "metrics": self.metrics,
        }


def window_config(base: ReplayConfig, window: Window) -> ReplayConfig:
    return replace(base, start=window.start, end=window.end)


def scored(
    genome: Genome,
    window: str,
    equity: pd.Series,
    metric: Metric,
    *,
    final_equity: Decimal,
    llm_cost: Decimal = Decimal(0),
    llm_calls: int = 0,
    engine: str,
) -> Evaluation:
    metrics = compute_metrics(equity)
    values = equity.to_numpy(dtype=np.float64)
    before, after = values[:-1], values[1:]
    # A ruined account (equity at or below zero) has no return to speak of: 0, as the metrics
    # count it.
    safe = np.where(before > 0, before, 1.0)
    returns = np.where(before > 0, after / safe - 1.0, 0.0)
    return Evaluation(
        genome=genome,
        window=window,
        score=float(getattr(metrics, metric)),
        metrics=metrics.model_dump(mode="json"),
        returns=returns,
        final_equity=final_equity,
        llm_cost_usd=llm_cost,
        llm_calls=llm_calls,
        engine=engine,
    )


def evaluate_quant(
    genome: Genome, window: Window, catalog: Catalog, base: ReplayConfig, metric: Metric
) -> Evaluation:
    """A quant genome over one window."""
    candidate = quant_candidate(genome)
    config = replace(window_config(base, window), limits=candidate.limits(base.limits))
    if supports(config, candidate.params) is None:
        try:
            fast = vectorised_backtest(candidate.kind, candidate.params, catalog, config)
        except UnsupportedError:
            pass  # data it cannot align (symbols on different calendars): the replay can
        else:
            return scored(
                genome,
                window.label,
                fast.equity,
                metric,
                final_equity=fast.final_equity,
                engine="vectorised",
            )
    agent = QuantAgent(candidate.kind, candidate.params)
    result = asyncio.run(run_replay(agent, catalog, config, run_id=f"evo-{genome.key}"))
    return scored(
        genome,
        window.label,
        result.equity_series(),
        metric,
        final_equity=result.final_equity,
        engine="replay",
    )
