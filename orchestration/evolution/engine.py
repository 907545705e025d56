"""The evolution run: a genetic search per walk-forward fold, and adoption out of sample.

For each fold, the population evolves for `generations` generations scored on the fold's
training window only. Its best genome (the child) then meets the incumbent (at first the
config's parent) on the fold's validation window, which the search never saw; the child is
adopted, and becomes the incumbent the next fold must beat, only if it scores strictly higher
there than the incumbent and than the hurdle: the benchmark on the same window, or the
config's `min_validation` (`orchestration.evolution.adoption`). The run's result is adopted
only if its final incumbent clears the last window's hurdle as well. The next fold's search
starts from this fold's last population.

Every random draw of generation g of fold f comes from a generator seeded with (seed, f, g),
so a run is a function of its config, and a resumed run, which reloads the generations it
already has, continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from orchestration.evolution.adoption import decide, hurdle, pbo_warning, verdict
from orchestration.evolution.backends import Evaluator
from orchestration.evolution.benchmark import BenchmarkScore
from orchestration.evolution.config import EvolveConfig, Metric
from orchestration.evolution.evaluate import Evaluation
from orchestration.evolution.ga import initial_population, next_generation, ranking
from orchestration.evolution.genes import Genome
from orchestration.evolution.pbo import probability_of_overfitting
from orchestration.evolution.space import GenomeSpace
from orchestration.evolution.store import EvolutionStore
from orchestration.evolution.walkforward import Fold, Window
from trading.clock import Clock

_INIT, _BREED = 0, 1  # the streams of the seed: the first population, then each breeding


@dataclass(frozen=True, slots=True)
class GenerationSummary:
    fold: int
    generation: int
    population: tuple[Genome, ...]
    scores: tuple[float, ...]

    @property
    def best(self) -> Genome:
        return self.population[ranking(self.scores)[0]]

    @property
    def best_score(self) -> float:
        return max(self.scores)

    @property
    def mean_score(self) -> float:
        return float(np.mean(self.scores))


@dataclass(slots=True)
class EvolutionResult:
    run_id: str
    parent: Genome
    incumbent: Genome
    generations: list[GenerationSummary] = field(default_factory=list)
    folds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def adopted(self) -> Genome | None:
        """The genome that won its way past the parent and still clears the hurdle on the last
        validation window; None when the parent stands or nothing is good enough."""
        if self.incumbent == self.parent:
            return None
        # A fold stored before the hurdle existed has no verdict on it: it stands as decided.
        if self.folds and not self.folds[-1].get("incumbent_clears", True):
            return None
        return self.incumbent

    def verdict(self, metric: Metric) -> str:
        return verdict(self.folds, self.adopted is not None, metric)

    def warnings(self) -> list[str]:
        """A likely overfit search, per fold and over the run (PBO above one half)."""
        said = [f"fold {f['fold'] + 1}: {w}" for f in self.folds for w in f.get("warnings", [])]
        overall = pbo_warning(self.pbo)
        if overall is not None and len(self.folds) > 1:
            said.append(f"{overall} (the folds' mean)")
        return said

    @property
    def pbo(self) -> float | None:
        values = [f["pbo"]["pbo"] for f in self.folds if f["pbo"]["pbo"] is not None]
        return float(np.mean(values)) if values else None


class Watcher(Protocol):
    """What a caller sees as the run goes: a progress bar, printed lines, a test's hook."""

    def started(self, run_id: str, generations: int) -> None:
        """Before the first generation: the run's id and how many generations it has in all
        (folds times generations per fold), those a resume finds stored included."""

    def evaluating(self, label: str, total: int) -> None: ...

    def evaluated(self, count: int) -> None: ...

    def generation(self, summary: GenerationSummary) -> None: ...

    def fold(self, report: dict[str, Any]) -> None: ...


class Quiet:
    def started(self, run_id: str, generations: int) -> None:
        pass

    def evaluating(self, label: str, total: int) -> None:
        pass

    def evaluated(self, count: int) -> None:
        pass

    def generation(self, summary: GenerationSummary) -> None:
        pass

    def fold(self, report: dict[str, Any]) -> None:
        pass


class Evolution:
    def __init__(
        self,
        *,
        run_id: str,
        config: EvolveConfig,
        space: GenomeSpace,
        folds: Sequence[Fold],
        evaluator: Evaluator,
        store: EvolutionStore,
        clock: Clock,
        describe: Any,
        benchmark: Callable[[Window], BenchmarkScore],
        watcher: Watcher | None = None,
    ) -> None:
        self.run_id = run_id
        self.config = config
        self.space = space
        self.folds = folds
        self.evaluator = evaluator
        self.store = store
        self.clock = clock
        self.describe = describe  # genome -> JSON-able description of the agent it stands for
        self.benchmark = benchmark  # the benchmark's score on a (validation) window
        self.watcher = watcher or Quiet()
        self.cache: dict[tuple[str, str], Evaluation] = {}

    def run(self) -> EvolutionResult:
        """Evolve, or continue from what the store already holds of this run."""
        run_id, search, seed = self.run_id, self.config.search, self.config.seed
        self.cache = self.store.evaluations(run_id)
        stored = self.store.generations(run_id)
        decided = self.store.folds(run_id)
        result = EvolutionResult(run_id, self.space.parent, self.space.parent)
        self.watcher.started(run_id, len(self.folds) * search.generations)
        population: list[Genome] = []
        scores: list[float] = []
        for fold in self.folds:
            for g in range(search.generations):
                if (fold.index, g) in stored:
                    population, scores = stored[fold.index, g]
                else:
                    if not population:
                        rng = np.random.default_rng([seed, _INIT, 0, 0])
                        population = initial_population(
                            self.space, search.population, rng, [self.space.parent]
                        )
                    elif g > 0:
                        rng = np.random.default_rng([seed, _BREED, fold.index, g - 1])
                        population = next_generation(self.space, population, scores, search, rng)
                    label = f"fold {fold.index + 1}/{len(self.folds)} generation {g + 1}"
                    new = self._score(population, fold.train, label)
                    scores = [self.cache[fold.train.label, p.key].score for p in population]
                    self.store.save_generation(
                        run_id, fold.index, g, population, scores, new, self.clock.now()
                    )
                summary = GenerationSummary(fold.index, g, tuple(population), tuple(scores))
                result.generations.append(summary)
                self.watcher.generation(summary)
            if fold.index in decided:
                report, result.incumbent = decided[fold.index]
            else:
                report, new = self._decide(fold, population, scores, result.incumbent)
                if report["adopted"]:
                    result.incumbent = population[ranking(scores)[0]]
                self.store.save_fold(run_id, fold.index, report, result.incumbent, new)
            result.folds.append(report)
            self.watcher.fold(report)
        return result

    def _decide(
        self, fold: Fold, population: list[Genome], scores: list[float], parent: Genome
    ) -> tuple[dict[str, Any], list[Evaluation]]:
        child = population[ranking(scores)[0]]
        # Before the parent is scored on the training window: it is no trial of the search.
        pbo = self._pbo(fold.train)
        label = f"fold {fold.index + 1}/{len(self.folds)} validation"
        new = self._score([child, parent], fold.train, label)
        new += self._score([child, parent], fold.validation, label)
        train, val = fold.train.label, fold.validation.label
        child_oos = self.cache[val, child.key].score
        parent_oos = self.cache[val, parent.key].score
        benchmark = self.benchmark(fold.validation)
        bar = hurdle(benchmark, self.config.min_validation)
        adopted, reason = decide(
            same=child == parent,
            child=child_oos,
            parent=parent_oos,
            bar=bar,
            metric=self.config.fitness,
        )
        kept = child_oos if adopted else parent_oos
        warning = pbo_warning(pbo["pbo"])
        report = {
            "fold": fold.index,
            "train": fold.train.to_json(),
            "validation": fold.validation.to_json(),
            "parent": self.describe(parent),
            "child": self.describe(child),
            "in_sample": {
                "parent": self.cache[train, parent.key].score,
                "child": self.cache[train, child.key].score,
            },
            "out_of_sample": {"parent": parent_oos, "child": child_oos},
            "benchmark": benchmark.to_json(),
            "hurdle": bar.to_json(),
            "adopted": adopted,
            "reason": reason,
            # Whether the genome the next fold must beat is good enough on this window.
            "incumbent_clears": kept > bar.score,
            "pbo": {**pbo, "likely_overfit": warning is not None},
            "warnings": [] if warning is None else [warning],
        }
        return report, new

    def _score(self, genomes: Sequence[Genome], window: Window, label: str) -> list[Evaluation]:
        """Evaluate the genomes not yet scored on the window (each distinct one once)."""
        missing = list(
            {g.key: g for g in genomes if (window.label, g.key) not in self.cache}.values()
        )
        self.watcher.evaluating(label, len(missing))
        if not missing:
            return []
        done = self.evaluator.evaluate([(g, window) for g in missing], self.watcher.evaluated)
        for evaluation in done:
            self.cache[window.label, evaluation.genome.key] = evaluation
        return done

    def _pbo(self, window: Window) -> dict[str, Any]:
        """CSCV over every distinct genome the fold's search scored on its training window."""
        trials = sorted((key, e) for (label, key), e in self.cache.items() if label == window.label)
        blocks = self.config.pbo_blocks
        base: dict[str, Any] = {"pbo": None, "trials": len(trials), "blocks": blocks}
        try:
            matrix = np.column_stack([e.returns for _, e in trials]) if trials else np.empty(0)
            found = probability_of_overfitting(matrix, blocks)
        except ValueError as error:
            return {**base, "note": str(error)}
        return {
            **base,
            "pbo": found.pbo,
            "splits": found.splits,
            "median_logit": found.median_logit,
        }
