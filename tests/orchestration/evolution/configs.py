"""Small evolution configs and a scripted evaluator for fast tests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from orchestration.evolution.backends import Progress, Task
from orchestration.evolution.config import EvolveConfig, parse_config
from orchestration.evolution.evaluate import Evaluation
from orchestration.evolution.genes import Genome


def quant_raw(**change: Any) -> dict[str, Any]:
    """Two folds over 2004-2005 SPX, four genomes, two generations, no per-bar risk limit (so
    the vectorised path scores them): a second or two on the serial backend."""
    raw: dict[str, Any] = {
        "name": "evolved-sma",
        "seed": 11,
        "market": {"symbols": ["SPX"], "start": "2004-01-01", "end": "2005-12-31"},
        "walk_forward": {
            "folds": 2,
            "train_bars": 150,
            "validation_bars": 60,
            "embargo_bars": 5,
        },
        "search": {"population": 4, "generations": 2, "tournament": 2, "elitism": 1},
        "parallel": {"backend": "serial"},
        "pbo_blocks": 4,
        "genome": {
            "type": "quant",
            "kinds": ["sma_cross", "momentum"],
            "params": {
                "sma_cross": {"fast": [3, 20], "slow": [10, 60]},
                "momentum": {"lookback": [5, 60]},
            },
        },
    }
    for key, value in change.items():
        raw[key] = value if not isinstance(value, dict) else {**raw.get(key, {}), **value}
    return raw


def quant_config(**change: Any) -> EvolveConfig:
    return parse_config(quant_raw(**change), "test")


class ScriptedEvaluator:
    """Scores by a formula of the genome, so tests can state which genome must win where.
    `train` and `validation` map a genome to its score on those windows."""

    def __init__(self, train: Any, validation: Any, bars: int = 64) -> None:
        self.train = train
        self.validation = validation
        self.bars = bars
        self.calls: list[Task] = []

    def evaluate(self, tasks: Sequence[Task], progress: Progress | None = None) -> list[Evaluation]:
        self.calls.extend(tasks)
        out = []
        for genome, window in tasks:
            score_of = self.validation if window.label.endswith("validation") else self.train
            score = float(score_of(genome))
            seed = int(hashlib.sha256(genome.key.encode()).hexdigest()[:8], 16)
            noise = np.random.default_rng(seed).normal(0.0, 0.01, self.bars)
            out.append(
                Evaluation(
                    genome=genome,
                    window=window.label,
                    score=score,
                    metrics={"sharpe": score},
                    returns=noise,
                    final_equity=Decimal(100_000),
                    llm_cost_usd=Decimal(0),
                    llm_calls=0,
                    engine="scripted",
                )
            )
            if progress is not None:
                progress(1)
        return out

    def close(self) -> None:
        pass


def genome_value(genome: Genome, name: str) -> float:
    value = genome.as_dict().get(name, 0)
    assert isinstance(value, int | float)
    return float(value)
