"""The benchmark a child must beat on a validation window besides its parent: buy and hold of
the run's symbols in equal parts, never rebalanced, exactly as a replay of that window computes
it for its `benchmark_total_return` (`trading.replay.ReplayBars.benchmark`), scored by the
run's fitness metric over the same bars, so a child's validation Sharpe meets the benchmark's
Sharpe on the same window: like with like.

The benchmark pays no fees: it is the market the strategy trades, not a strategy.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from orchestration.evolution.config import Metric
from orchestration.evolution.evaluate import window_config
from orchestration.evolution.walkforward import Window
from trading.data import Catalog
from trading.domain import EquityPoint
from trading.metrics import benchmark_name, compute_metrics
from trading.replay import ReplayBars, ReplayConfig


@dataclass(frozen=True, slots=True)
class BenchmarkScore:
    """The benchmark over one window: its fitness score and its total return."""

    name: str
    score: float
    total_return: float

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "score": self.score, "total_return": self.total_return}


def benchmark_on(
    catalog: Catalog, base: ReplayConfig, window: Window, metric: Metric
) -> BenchmarkScore:
    """The benchmark over the window's bars, at the times a replay stamps its equity."""
    bars = ReplayBars(catalog, window_config(base, window))
    # A replay stamps each cycle's equity at its first bar's time; the benchmark reads only
    # those times, not the (here absent) cash and equity beside them.
    stamps = [
        EquityPoint(bars.tick(c).bars[0].time, Decimal(0), Decimal(0)) for c in range(bars.total)
    ]
    metrics = compute_metrics(bars.benchmark(stamps))
    return BenchmarkScore(
        name=benchmark_name(base.symbols),
        score=float(getattr(metrics, metric)),
        total_return=metrics.total_return,
    )
