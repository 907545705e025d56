"""The search and the adoption rule, on a scripted evaluator (scores by formula) and on real
replays: elitism keeps the best, a seed fixes the run, a child is adopted only when it beats
its parent out of sample, and an interrupted run resumes to the same result."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestration.evolution.adoption import pbo_warning
from orchestration.evolution.benchmark import BenchmarkScore
from orchestration.evolution.config import EvolveConfig, QuantGenome, Search
from orchestration.evolution.engine import Evolution, EvolutionResult, GenerationSummary, Quiet
from orchestration.evolution.ga import next_generation, ranking
from orchestration.evolution.genes import Genome
from orchestration.evolution.run import evolve
from orchestration.evolution.space import QuantSpace
from orchestration.evolution.store import EvolutionStore
from orchestration.evolution.walkforward import Fold, Window
from tests.orchestration.evolution.configs import ScriptedEvaluator, genome_value, quant_config
from trading.clock import ReplayClock
from trading.data import Catalog

CLOCK = ReplayClock(datetime(2026, 1, 1, tzinfo=UTC))


def _window(label: str, first: int) -> Window:
    day = datetime(2001, 1, 1, tzinfo=UTC).date()
    return Window(label, first, first + 63, day, day)


FOLDS = [
    Fold(0, _window("f0-train", 0), _window("f0-validation", 70)),
    Fold(1, _window("f1-train", 0), _window("f1-validation", 140)),
]


def scripted_run(
    tmp_path: Path,
    train: Callable[[Genome], float],
    validation: Callable[[Genome], float],
    config: EvolveConfig | None = None,
    benchmark: Callable[[Window], float] = lambda window: -1000.0,
) -> tuple[EvolutionResult, ScriptedEvaluator]:
    """The benchmark scores far below any genome unless a test says otherwise."""
    config = config or scripted_config()
    tmp_path.mkdir(parents=True, exist_ok=True)
    assert isinstance(config.genome, QuantGenome)
    evaluator = ScriptedEvaluator(train, validation)
    evolution = Evolution(
        run_id="evo-test",
        config=config,
        space=QuantSpace(config.genome),
        folds=FOLDS,
        evaluator=evaluator,
        store=EvolutionStore(f"sqlite:///{tmp_path / 'evo.db'}"),
        clock=CLOCK,
        describe=lambda g: g.to_json(),
        benchmark=lambda window: BenchmarkScore("scripted", benchmark(window), 0.0),
    )
    return evolution.run(), evaluator


def scripted_config(**change: Any) -> EvolveConfig:
    """The parent, SMA(2, 3), lies outside the searched space (fast from 3): whatever the
    search finds has a longer slow average."""
    parent = {"kind": "sma_cross", "params": {"fast": 2, "slow": 3}}
    return quant_config(**{"genome": {"parent": parent}, **change})


def slow(genome: Genome) -> float:
    """Sharpe rises with the slow average: the search should climb it."""
    return genome_value(genome, "slow") + genome_value(genome, "lookback")


def test_elitism_keeps_the_best_genome_of_every_generation(tmp_path: Path) -> None:
    result, _ = scripted_run(tmp_path, slow, slow, scripted_config(search={"generations": 5}))
    fold_zero = [s for s in result.generations if s.fold == 0]
    best = [s.best_score for s in fold_zero]
    assert best == sorted(best)  # never lost
    for before, after in itertools.pairwise(fold_zero):
        assert before.best in after.population


def test_next_generation_is_a_function_of_population_scores_and_seed() -> None:
    config = quant_config(search={"population": 8, "elitism": 2})
    assert isinstance(config.genome, QuantGenome)
    space = QuantSpace(config.genome)
    rng = np.random.default_rng(5)
    population = [space.random(rng) for _ in range(8)]
    scores = [float(i % 3) for i in range(8)]
    search = Search.model_validate(config.search.model_dump())

    def breed(seed: int) -> list[Genome]:
        return next_generation(space, population, scores, search, np.random.default_rng(seed))

    assert breed(1) == breed(1)
    assert breed(1) != breed(2)
    elites = [population[i] for i in ranking(scores)[:2]]
    assert breed(1)[:2] == elites


def test_a_child_is_adopted_only_when_it_beats_its_parent_out_of_sample(
    tmp_path: Path,
) -> None:
    # In sample the search prefers a long slow average; out of sample the parent, the
    # shortest, always wins.
    result, _ = scripted_run(tmp_path, slow, lambda g: -slow(g))
    assert [f["adopted"] for f in result.folds] == [False, False]
    assert result.adopted is None
    fold = result.folds[0]
    assert fold["in_sample"]["child"] > fold["in_sample"]["parent"]
    assert fold["out_of_sample"]["child"] < fold["out_of_sample"]["parent"]


def test_an_adopted_child_becomes_the_parent_the_next_fold_must_beat(tmp_path: Path) -> None:
    result, _ = scripted_run(tmp_path / "a", slow, slow)
    first, second = result.folds
    assert first["adopted"] is True
    assert second["parent"] == first["child"]
    assert result.adopted is not None
    assert result.adopted.to_json() == (second["child"] if second["adopted"] else first["child"])


def test_a_child_that_beats_its_parent_but_not_the_benchmark_is_not_adopted(
    tmp_path: Path,
) -> None:
    # Out of sample the child beats its parent (the longer slow average wins) but the
    # benchmark scores 1000: nothing is good enough, and the result says so.
    result, _ = scripted_run(tmp_path, slow, slow, benchmark=lambda window: 1000.0)
    assert [f["adopted"] for f in result.folds] == [False, False]
    assert result.adopted is None
    last = result.folds[-1]
    assert last["out_of_sample"]["child"] > last["out_of_sample"]["parent"]
    assert last["benchmark"]["score"] == 1000.0
    child = last["out_of_sample"]["child"]
    assert result.verdict("sharpe") == (
        f"nothing adopted: the best child's validation Sharpe {child:.2f} is below the "
        "benchmark's 1000.00"
    )


def test_a_min_validation_floor_stands_instead_of_the_benchmark(tmp_path: Path) -> None:
    floored = scripted_config(min_validation=0.0)
    result, _ = scripted_run(tmp_path / "a", slow, slow, floored, lambda window: 1000.0)
    assert result.folds[0]["adopted"] is True
    assert result.folds[0]["hurdle"] == {"score": 0.0, "source": "min_validation"}
    assert result.adopted is not None
    high = scripted_config(min_validation=1e6)
    result, _ = scripted_run(tmp_path / "b", slow, slow, high)
    assert result.adopted is None
    assert "below the min_validation floor 1000000.00" in result.verdict("sharpe")


def test_an_incumbent_below_the_last_benchmark_is_not_adopted(tmp_path: Path) -> None:
    # Fold 1 adopts its child over a low benchmark; on fold 2's window the benchmark is out of
    # reach, so the genome the run ends with loses to it on the most recent data.
    result, _ = scripted_run(
        tmp_path, slow, slow, benchmark=lambda w: -1000.0 if w.label.startswith("f0") else 1000.0
    )
    first, second = result.folds
    assert (first["adopted"], second["adopted"]) == (True, False)
    assert second["incumbent_clears"] is False
    assert result.incumbent != result.parent
    assert result.adopted is None
    assert result.verdict("sharpe").startswith(
        "nothing adopted: the fold 1 child's Sharpe on the last validation window"
    )


def test_a_pbo_above_one_half_warns_of_likely_overfitting() -> None:
    assert pbo_warning(0.5714285714285714) == "PBO 0.57: likely overfit"
    assert pbo_warning(0.5) is None
    assert pbo_warning(None) is None


def test_a_tie_out_of_sample_keeps_the_parent(tmp_path: Path) -> None:
    result, _ = scripted_run(tmp_path, slow, lambda g: 1.0)
    assert [f["adopted"] for f in result.folds] == [False, False]


def test_each_distinct_genome_is_evaluated_once_per_window(tmp_path: Path) -> None:
    _, evaluator = scripted_run(tmp_path, slow, slow, scripted_config(search={"generations": 4}))
    seen = [(w.label, g.key) for g, w in evaluator.calls]
    assert len(seen) == len(set(seen))


def test_the_training_search_never_evaluates_on_a_validation_window(tmp_path: Path) -> None:
    _, evaluator = scripted_run(tmp_path, slow, slow)
    validation = [(g, w) for g, w in evaluator.calls if w.label.endswith("validation")]
    # Only the adoption step looks there: child and parent, once per fold at most.
    assert len(validation) <= 2 * len(FOLDS)


def test_the_same_seed_gives_the_same_generations_and_scores(tmp_path: Path) -> None:
    def run(seed: int, where: str) -> list[tuple[Any, ...]]:
        result, _ = scripted_run(tmp_path / where, slow, slow, scripted_config(seed=seed))
        return [(s.population, s.scores) for s in result.generations]

    assert run(4, "a") == run(4, "b")
    assert run(4, "a") != run(5, "c")


class _StopAfter(Quiet):
    def __init__(self, generations: int) -> None:
        self.left = generations

    def generation(self, summary: GenerationSummary) -> None:
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt


def _real(tmp_path: Path, **change: Any) -> dict[str, Any]:
    config = quant_config(search={"generations": 3})
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = EvolutionStore(f"sqlite:///{tmp_path / 'evo.db'}")
    outcome = evolve(
        config,
        store=store,
        db_url=f"sqlite:///{tmp_path / 'evo.db'}",
        home=tmp_path / "home",
        clock=CLOCK,
        catalog=CATALOG,
        save=False,
        **change,
    )
    result = outcome.result
    return {
        "generations": [(s.population, s.scores) for s in result.generations],
        "folds": result.folds,
        "adopted": result.adopted,
    }


CATALOG = Catalog.default()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _real(tmp_path_factory.mktemp("whole"), backend="serial")


@pytest.mark.parametrize("stop_after", [2, 4])
def test_an_interrupted_run_resumes_to_the_same_result(
    tmp_path: Path, stop_after: int, uninterrupted: dict[str, Any]
) -> None:
    store = EvolutionStore(f"sqlite:///{tmp_path / 'evo.db'}")
    with pytest.raises(KeyboardInterrupt):
        _real(tmp_path, watcher=_StopAfter(stop_after))
    [run_id] = store.engine.connect().exec_driver_sql("select id from evolution_runs").scalars()
    assert store.run(run_id).status == "interrupted"
    assert len(store.generations(run_id)) == stop_after
    resumed = _real(tmp_path, resume=run_id)
    assert resumed == uninterrupted
    assert store.run(run_id).status == "finished"


def test_the_process_pool_gives_the_serial_results(
    tmp_path: Path, uninterrupted: dict[str, Any]
) -> None:
    assert _real(tmp_path, backend="process", workers=2) == uninterrupted


def test_ray_gives_the_serial_results(tmp_path: Path, uninterrupted: dict[str, Any]) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        assert _real(tmp_path, backend="ray", workers=1) == uninterrupted
    finally:
        ray.shutdown()
