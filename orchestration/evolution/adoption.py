"""The adoption rule and what it says: a fold's best child is adopted only if, on the fold's
validation window, it beats both its parent (the incumbent) and the hurdle: the benchmark's
score on the same window, or the config's `min_validation` floor where it sets one. A run's
result is adopted only if the incumbent it ends with clears the hurdle of the last validation
window too (the most recent data judges the final adoption); otherwise the result says plainly
that nothing was good enough, and why.

A probability of backtest overfitting above one half means the search's in-sample winner more
often than not ranks in the bottom half out of sample: the result warns of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from orchestration.evolution.benchmark import BenchmarkScore
from orchestration.evolution.config import Metric

OVERFIT_PBO = 0.5
METRIC_NAMES: dict[str, str] = {"sharpe": "Sharpe", "sortino": "Sortino", "calmar": "Calmar"}


@dataclass(frozen=True, slots=True)
class Hurdle:
    """The score a child must beat out of sample besides its parent."""

    score: float
    source: Literal["benchmark", "min_validation"]

    def named(self, shown: str) -> str:
        if self.source == "benchmark":
            return f"the benchmark's {shown}"
        return f"the min_validation floor {shown}"

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "source": self.source}


def hurdle(benchmark: BenchmarkScore, floor: float | None) -> Hurdle:
    if floor is not None:
        return Hurdle(floor, "min_validation")
    return Hurdle(benchmark.score, "benchmark")


def decide(
    *, same: bool, child: float, parent: float, bar: Hurdle, metric: Metric
) -> tuple[bool, str]:
    """(adopted, why) for one fold's child against its parent and the hurdle, out of sample."""
    name = METRIC_NAMES[metric]
    if same:
        return False, "the search's best is the parent itself"
    if child <= parent:
        mine, theirs = shown_apart(child, parent)
        return False, (
            f"the best child's validation {name} {mine} does not beat the parent's {theirs}"
        )
    if child <= bar.score:
        mine, theirs = shown_apart(child, bar.score)
        verb = "is below" if child < bar.score else "does not beat"
        return False, f"the best child's validation {name} {mine} {verb} {bar.named(theirs)}"
    mine, theirs = shown_apart(child, parent)
    _, hurdle_shown = shown_apart(child, bar.score)
    return True, (
        f"the best child's validation {name} {mine} beats the parent's {theirs} and "
        f"{bar.named(hurdle_shown)}"
    )


def pbo_warning(pbo: float | None) -> str | None:
    if pbo is None or pbo <= OVERFIT_PBO:
        return None
    return f"PBO {pbo:.2f}: likely overfit"


def verdict(folds: list[dict[str, Any]], adopted: bool, metric: Metric) -> str:
    """One line on the run's outcome: what was adopted, or why nothing was."""
    if not folds:
        return "nothing adopted: the run has no fold decided"
    last = folds[-1]
    adopting = [f for f in folds if f["adopted"]]
    if not adopting:
        return f"nothing adopted: {last['reason']}"
    name = METRIC_NAMES[metric]
    won = adopting[-1]["fold"] + 1
    side = "child" if last["adopted"] else "parent"
    score = last["out_of_sample"][side]
    bar = Hurdle(last["hurdle"]["score"], last["hurdle"]["source"])
    mine, theirs = shown_apart(score, bar.score)
    if adopted:
        if last["adopted"]:
            return f"adopted the fold {won} child: {last['reason']}"
        return (
            f"adopted the fold {won} child: on the last validation window its {name} {mine} "
            f"beats {bar.named(theirs)}"
        )
    verb = "is below" if score < bar.score else "does not beat"
    return (
        f"nothing adopted: the fold {won} child's {name} on the last validation window, "
        f"{mine}, {verb} {bar.named(theirs)}"
    )


def shown_apart(a: float, b: float) -> tuple[str, str]:
    """Both figures with two decimals, or as many more (up to six) as it takes to tell them
    apart: "0.5390 beats 0.5372", never "0.54 beats 0.54"."""
    for places in range(2, 7):
        first, second = f"{a:.{places}f}", f"{b:.{places}f}"
        if first != second:
            return first, second
    return f"{a:.6f}", f"{b:.6f}"
