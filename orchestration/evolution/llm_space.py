"""The LLM genome space: fields of an `AgentSpec` as genes, around the parent spec the config
names. Numbers keep within the spec's own bounds (a config may narrow them); the model, the
persona (a custom role's prompt variant) and the role are options; the tools are a subset."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import ValidationError

from agents.manager import describe, validate_spec
from agents.providers import ProvidersConfig
from agents.specs import NOT_FOR_AGENTS, AgentSpec, Role
from orchestration.evolution.config import GeneSetting, LlmGenome
from orchestration.evolution.genes import (
    ChoiceGene,
    Gene,
    GeneValue,
    Genome,
    SubsetGene,
    mutate_each,
    uniform_cross,
)
from orchestration.evolution.space import ranged
from trading.errors import ConfigError

LLM_NUMBERS = ("temperature", "max_tokens", "max_weight", "min_confidence", "decide_every")


class LlmSpace:
    """Fields of an `AgentSpec` as genes, around the parent spec the config names."""

    def __init__(self, config: LlmGenome, providers: ProvidersConfig) -> None:
        self.base = validate_spec(config.parent, "genome.parent")
        self.genes: list[Gene] = []
        if "role" in config.search and "persona" in config.search:
            raise ConfigError("genome.search.role: search role or persona, not both")
        for field, setting in config.search.items():
            self.genes.append(self._gene(field, setting, providers))
        self._parent = Genome.of({g.name: self._of(self.base, g.name) for g in self.genes})

    def _gene(self, field: str, setting: GeneSetting, providers: ProvidersConfig) -> Gene:
        where = f"genome.search.{field}"
        if field in LLM_NUMBERS:
            if not isinstance(setting, list):
                raise ConfigError(f"{where}: give a [low, high] range, got {setting!r}")
            return ranged(AgentSpec, field, setting, where)
        if not isinstance(setting, list) or not setting:
            raise ConfigError(f"{where}: give a list of options, got {setting!r}")
        if field in ("model", "fallback_model"):
            for i, reference in enumerate(setting):
                try:
                    providers.resolve(str(reference))
                except ConfigError as error:
                    raise ConfigError(f"{where}[{i}]: {error}") from None
            return ChoiceGene(field, tuple(str(s) for s in setting))
        if field == "persona":
            if self.base.role is not Role.CUSTOM:
                raise ConfigError(f"{where}: personas need genome.parent.role: custom")
            return ChoiceGene(field, tuple(str(s) for s in setting))
        if field == "role":
            try:
                roles = tuple(Role(str(s)).value for s in setting)
            except ValueError as error:
                raise ConfigError(f"{where}: {error}") from None
            if Role.CUSTOM.value in roles:
                raise ConfigError(f"{where}: custom is searched through persona, not role")
            return ChoiceGene(field, roles)
        if field == "tools":
            barred = sorted(set(map(str, setting)) & NOT_FOR_AGENTS)
            if barred:
                raise ConfigError(f"{where}: {barred!r} are not for agents; remove them")
            spec = self.base.model_dump()
            try:
                AgentSpec.model_validate({**spec, "tools": tuple(setting)})
            except ValidationError as error:
                raise ConfigError(f"{where}: {describe(error)}") from None
            return SubsetGene(field, tuple(str(s) for s in setting))
        raise ConfigError(
            f"{where}: not searchable; search {', '.join(LLM_NUMBERS)}, model, fallback_model, "
            "persona, role or tools"
        )

    @staticmethod
    def _of(spec: AgentSpec, name: str) -> GeneValue:
        value: GeneValue = spec.model_dump(mode="json")[name]
        return tuple(value) if isinstance(value, list) else value

    @property
    def parent(self) -> Genome:
        return self._parent

    def spec(self, genome: Genome) -> AgentSpec:
        """The parent spec with the genome's values: the agent the genome stands for."""
        changes: dict[str, Any] = genome.as_dict()
        if "role" in changes:
            changes["persona"] = None
        return validate_spec({**self.base.model_dump(mode="json"), **changes}, "genome")

    def random(self, rng: np.random.Generator) -> Genome:
        return Genome.of({g.name: g.random(rng) for g in self.genes})

    def mutate(self, genome: Genome, rng: np.random.Generator, rate: float, scale: float) -> Genome:
        return Genome.of(mutate_each(self.genes, genome.as_dict(), rng, rate, scale))

    def crossover(self, a: Genome, b: Genome, rng: np.random.Generator) -> Genome:
        return Genome.of(uniform_cross(self.genes, a, b, rng))

    def contains(self, genome: Genome) -> bool:
        values = genome.as_dict()
        return set(values) == {g.name for g in self.genes} and all(
            g.contains(values[g.name]) for g in self.genes
        )
