"""Genes: one bounded, typed value each, and what a genetic search may do with it.

A gene draws a random value, mutates a value and never leaves its bounds: an integer gene stays
an integer, a float gene stays on its grid of `precision` decimals (so an evolved spec reads
`temperature: 0.7312`, not seventeen digits), a choice gene only takes one of its options.
Every draw comes from the numpy `Generator` it is handed, so a seed fixes a whole run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

GeneValue = bool | int | float | str | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class FloatGene:
    name: str
    low: float
    high: float
    precision: int = 4

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"gene {self.name!r}: low {self.low!r} is above high {self.high!r}")

    @property
    def step(self) -> float:
        return float(10.0**-self.precision)

    def snap(self, value: float) -> float:
        # Round onto the grid, then clip: rounding may step just past a bound.
        return float(min(self.high, max(self.low, round(value, self.precision))))

    def random(self, rng: np.random.Generator) -> float:
        return self.snap(float(rng.uniform(self.low, self.high)))

    def mutate(self, value: GeneValue, rng: np.random.Generator, scale: float) -> float:
        if not isinstance(value, int | float):
            raise TypeError(f"gene {self.name!r} holds {value!r}, not a number")
        width = self.high - self.low
        return self.snap(float(value) + float(rng.normal(0.0, scale * width)))

    def contains(self, value: GeneValue) -> bool:
        return (
            isinstance(value, float)
            and self.low <= value <= self.high
            and round(value, self.precision) == value
        )


@dataclass(frozen=True, slots=True)
class IntGene:
    name: str
    low: int
    high: int

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"gene {self.name!r}: low {self.low!r} is above high {self.high!r}")

    def random(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))

    def mutate(self, value: GeneValue, rng: np.random.Generator, scale: float) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"gene {self.name!r} holds {value!r}, not an integer")
        if self.low == self.high:
            return self.low
        step = round(float(rng.normal(0.0, scale * (self.high - self.low))))
        if step == 0:  # a mutation that changes nothing wastes an evaluation
            step = 1 if rng.random() < 0.5 else -1
        return int(min(self.high, max(self.low, value + step)))

    def contains(self, value: GeneValue) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )


@dataclass(frozen=True, slots=True)
class ChoiceGene:
    """One of a few options: a strategy kind, a model reference, a persona, a flag."""

    name: str
    options: tuple[GeneValue, ...]

    def __post_init__(self) -> None:
        if not self.options:
            raise ValueError(f"gene {self.name!r} has no options")

    def random(self, rng: np.random.Generator) -> GeneValue:
        return self.options[int(rng.integers(len(self.options)))]

    def mutate(self, value: GeneValue, rng: np.random.Generator, scale: float) -> GeneValue:
        others = [o for o in self.options if o != value]
        if not others:
            return value
        return others[int(rng.integers(len(others)))]

    def contains(self, value: GeneValue) -> bool:
        return any(value == o and type(value) is type(o) for o in self.options)


@dataclass(frozen=True, slots=True)
class SubsetGene:
    """Which of some options are in: the tools an agent may call. Kept in the options' order,
    so one set has one spelling (and one cache key)."""

    name: str
    options: tuple[str, ...]

    def random(self, rng: np.random.Generator) -> tuple[str, ...]:
        keep = rng.random(len(self.options)) < 0.5
        return tuple(o for o, k in zip(self.options, keep, strict=True) if k)

    def mutate(self, value: GeneValue, rng: np.random.Generator, scale: float) -> tuple[str, ...]:
        if not isinstance(value, tuple):
            raise TypeError(f"gene {self.name!r} holds {value!r}, not a tuple")
        if not self.options:
            return ()
        flip = self.options[int(rng.integers(len(self.options)))]
        chosen = set(value) ^ {flip}
        return tuple(o for o in self.options if o in chosen)

    def cross(self, a: tuple[str, ...], b: tuple[str, ...], rng: np.random.Generator) -> Any:
        take_a = rng.random(len(self.options)) < 0.5
        return tuple(
            o
            for o, from_a in zip(self.options, take_a, strict=True)
            if (o in a if from_a else o in b)
        )

    def contains(self, value: GeneValue) -> bool:
        return (
            isinstance(value, tuple)
            and all(v in self.options for v in value)
            and list(value) == [o for o in self.options if o in value]
        )


Gene = FloatGene | IntGene | ChoiceGene | SubsetGene


@dataclass(frozen=True, slots=True)
class Genome:
    """Gene values by name, sorted: immutable, hashable, and keyed by its canonical JSON."""

    genes: tuple[tuple[str, GeneValue], ...]

    @classmethod
    def of(cls, genes: Mapping[str, GeneValue]) -> Genome:
        return cls(tuple(sorted((name, _plain(value)) for name, value in genes.items())))

    def as_dict(self) -> dict[str, GeneValue]:
        return dict(self.genes)

    def __getitem__(self, name: str) -> GeneValue:
        return self.as_dict()[name]

    def to_json(self) -> dict[str, Any]:
        return {name: list(v) if isinstance(v, tuple) else v for name, v in self.genes}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Genome:
        return cls.of({k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    @property
    def key(self) -> str:
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _plain(value: GeneValue) -> GeneValue:
    """numpy scalars become Python ones, so genomes compare, hash and serialise alike."""
    if isinstance(value, np.generic):
        plain: GeneValue = value.item()
        return plain
    if isinstance(value, list):
        return tuple(value)
    return value


def uniform_cross(
    genes: Sequence[Gene], a: Genome, b: Genome, rng: np.random.Generator
) -> dict[str, GeneValue]:
    """Each gene from one parent or the other with even odds (subsets element by element)."""
    left, right = a.as_dict(), b.as_dict()
    child: dict[str, GeneValue] = {}
    for gene in genes:
        x, y = left[gene.name], right[gene.name]
        if isinstance(gene, SubsetGene):
            if not isinstance(x, tuple) or not isinstance(y, tuple):
                raise TypeError(f"gene {gene.name!r} holds {x!r} and {y!r}, not tuples")
            child[gene.name] = gene.cross(x, y, rng)
        else:
            child[gene.name] = x if rng.random() < 0.5 else y
    return child


def mutate_each(
    genes: Sequence[Gene],
    values: Mapping[str, GeneValue],
    rng: np.random.Generator,
    rate: float,
    scale: float,
) -> dict[str, GeneValue]:
    """Each gene mutates with probability `rate`. One draw per gene whether or not it
    mutates, so one gene's fate does not shift the random stream of the next."""
    out = dict(values)
    for gene, draw in zip(genes, rng.random(len(genes)), strict=True):
        if draw < rate:
            out[gene.name] = gene.mutate(values[gene.name], rng, scale)
    return out
