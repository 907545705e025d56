"""What an evolution run reports: one JSON document (generations, folds with in-sample and
out-of-sample scores side by side, PBO, the adopted genome) and a PNG of fitness by
generation."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.mcp_sources import tools_caveat
from orchestration.evolution.config import EvolveConfig, LlmGenome, Metric
from orchestration.evolution.engine import EvolutionResult
from orchestration.evolution.genes import Genome

Describe = Callable[[Genome], dict[str, Any]]


def genome_tools_caveat(config: EvolveConfig) -> str | None:
    """Set when the LLM parent calls external MCP servers (every genome inherits them, since
    no gene changes a spec's servers): its scores cannot be proven point-in-time."""
    if not isinstance(config.genome, LlmGenome):
        return None
    servers = config.genome.parent.get("mcp_servers") or []
    return tools_caveat(str(s.get("name")) for s in servers if isinstance(s, dict))


def result_json(
    result: EvolutionResult,
    describe: Describe,
    fitness: Metric,
    saved: dict[str, Any] | None,
    tools_caveat: str | None = None,
) -> dict[str, Any]:
    adopted = result.adopted
    return {
        "run_id": result.run_id,
        "fitness": fitness,
        "tools_caveat": tools_caveat,
        "parent": describe(result.parent),
        "generations": [
            {
                "fold": s.fold,
                "generation": s.generation,
                "best_score": s.best_score,
                "mean_score": s.mean_score,
                "best": describe(s.best),
                "scores": list(s.scores),
            }
            for s in result.generations
        ],
        "folds": result.folds,
        "pbo": result.pbo,
        "verdict": result.verdict(fitness),
        "warnings": result.warnings(),
        "adopted": None if adopted is None else describe(adopted),
        "saved": saved,
    }


def plot_fitness(result: EvolutionResult, path: Path, fitness: str) -> Path:
    """Best and mean training fitness per generation, a line between folds, and each fold's
    child and parent out of sample."""
    import matplotlib

    # No display on servers and in tests; Agg draws straight to a file.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    steps = list(range(1, len(result.generations) + 1))
    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=100)
    try:
        axes.plot(steps, [_finite(s.best_score) for s in result.generations], label="best (train)")
        axes.plot(
            steps,
            [_finite(s.mean_score) for s in result.generations],
            label="mean (train)",
            linestyle="--",
        )
        ends = [i + 1 for i, s in enumerate(result.generations) if _last_of_fold(result, i)]
        for end, report in zip(ends, result.folds, strict=False):
            axes.axvline(end + 0.5, color="grey", linewidth=0.6)
            oos = report["out_of_sample"]
            marker = "*" if report["adopted"] else "o"
            axes.scatter([end], [oos["child"]], marker=marker, color="tab:green", zorder=3)
            axes.scatter([end], [oos["parent"]], marker="x", color="tab:red", zorder=3)
        axes.scatter([], [], marker="o", color="tab:green", label="child, validation (* adopted)")
        axes.scatter([], [], marker="x", color="tab:red", label="parent, validation")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("generation (all folds)")
        axes.set_ylabel(fitness)
        title = f"evolution {result.run_id}"
        if result.pbo is not None:
            title += f" (PBO {result.pbo:.2f})"
        axes.set_title(title)
        axes.legend(loc="best", fontsize="small")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    finally:
        plt.close(figure)
    return path


def _last_of_fold(result: EvolutionResult, i: int) -> bool:
    gens = result.generations
    return i + 1 == len(gens) or gens[i + 1].fold != gens[i].fold


def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.nan
