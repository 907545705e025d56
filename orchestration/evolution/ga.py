"""The genetic operators over a population: tournament selection, crossover, mutation and
elitism. Every draw comes from the generator passed in; ties go to the earlier genome, so the
same population, scores and generator always give the same next generation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from orchestration.evolution.config import Search
from orchestration.evolution.genes import Genome
from orchestration.evolution.space import GenomeSpace


def ranking(scores: Sequence[float]) -> list[int]:
    """Positions from best score to worst; equal scores keep their order."""
    return [int(i) for i in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")]


def tournament(scores: Sequence[float], size: int, rng: np.random.Generator) -> int:
    """The best of `size` distinct genomes drawn at random."""
    contestants = sorted(int(i) for i in rng.choice(len(scores), size=size, replace=False))
    return max(contestants, key=lambda i: (scores[i], -i))


def initial_population(
    space: GenomeSpace, size: int, rng: np.random.Generator, seeds: Sequence[Genome] = ()
) -> list[Genome]:
    """The seed genomes that lie in the space (the parent, so the search starts from what it
    must beat), then random ones."""
    population = [g for g in seeds if space.contains(g)][:size]
    while len(population) < size:
        population.append(space.random(rng))
    return population


def next_generation(
    space: GenomeSpace,
    population: Sequence[Genome],
    scores: Sequence[float],
    search: Search,
    rng: np.random.Generator,
) -> list[Genome]:
    """The `elitism` best unchanged, then children of tournament winners, crossed with
    probability `crossover_rate` and mutated gene by gene."""
    order = ranking(scores)
    children = [population[i] for i in order[: search.elitism]]
    while len(children) < len(population):
        first = population[tournament(scores, search.tournament, rng)]
        second = population[tournament(scores, search.tournament, rng)]
        child = first
        if rng.random() < search.crossover_rate:
            child = space.crossover(first, second, rng)
        children.append(space.mutate(child, rng, search.mutation_rate, search.mutation_scale))
    return children
