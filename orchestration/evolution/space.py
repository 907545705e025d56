"""Genome spaces: which genes a run searches, within which bounds, and how a genome becomes an
agent.

The bounds come from the models the genes tune (a `QuantParams` subclass, `RiskLimits`,
`AgentSpec`): a config may narrow a range or fix a value, never widen one. A space draws,
mutates and crosses genomes and then repairs them, so every genome it hands out decodes to a
valid agent (the fast moving average shorter than the slow, an exit z-score inside the entry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Literal, Protocol, get_args, get_origin

import annotated_types
import numpy as np
from pydantic import BaseModel, ValidationError

from orchestration.evolution.config import GeneSetting, QuantGenome, explain
from orchestration.evolution.genes import (
    ChoiceGene,
    FloatGene,
    Gene,
    GeneValue,
    Genome,
    IntGene,
    mutate_each,
    uniform_cross,
)
from trading.errors import ConfigError
from trading.risk import RiskLimits
from trading.strategies import QuantParams, all_kinds, params_model

KIND = "kind"
RISK = "risk."
# Parameter pairs a strategy needs strictly ordered (its validator refuses anything else).
ORDERED = {"sma_cross": ("fast", "slow"), "mean_reversion": ("exit_z", "entry_z"),
           "rsi": ("lower", "upper")}  # fmt: skip
RISK_GENES = ("max_position_weight", "max_gross_exposure", "daily_loss_limit", "max_drawdown",
              "stop_loss", "take_profit")  # fmt: skip


class GenomeSpace(Protocol):
    def random(self, rng: np.random.Generator) -> Genome: ...

    def mutate(
        self, genome: Genome, rng: np.random.Generator, rate: float, scale: float
    ) -> Genome: ...

    def crossover(self, a: Genome, b: Genome, rng: np.random.Generator) -> Genome: ...

    def contains(self, genome: Genome) -> bool: ...

    @property
    def parent(self) -> Genome: ...


@dataclass(frozen=True, slots=True)
class QuantCandidate:
    kind: str
    params: QuantParams
    risk: dict[str, float]

    def limits(self, base: RiskLimits) -> RiskLimits:
        values = {k: Decimal(repr(v)) for k, v in self.risk.items()}
        return RiskLimits.model_validate({**base.model_dump(), **values})


def quant_candidate(genome: Genome) -> QuantCandidate:
    """The strategy a quant genome stands for; a module function so pool workers need no
    space to decode what they are sent."""
    genes = genome.as_dict()
    kind = str(genes[KIND])
    params = {k: v for k, v in genes.items() if k != KIND and not k.startswith(RISK)}
    risk = {k.removeprefix(RISK): _float(v) for k, v in genes.items() if k.startswith(RISK)}
    return QuantCandidate(kind, params_model(kind).model_validate(params), risk)


def bounds(model: type[BaseModel], field: str) -> tuple[float, float, bool]:
    """(low, high, integer) of a bounded numeric field; an open bound (gt/lt) comes back as
    itself, for the caller to step inside."""
    info = model.model_fields[field]
    low = high = None
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low = float(item.ge)  # type: ignore[arg-type]  # annotated_types types it loosely
        elif isinstance(item, annotated_types.Gt):
            low = float(item.gt)  # type: ignore[arg-type]  # annotated_types types it loosely
        elif isinstance(item, annotated_types.Le):
            high = float(item.le)  # type: ignore[arg-type]  # annotated_types types it loosely
        elif isinstance(item, annotated_types.Lt):
            high = float(item.lt)  # type: ignore[arg-type]  # annotated_types types it loosely
    if low is None or high is None:
        raise ConfigError(f"{model.__name__}.{field} has no bounds to search within")
    return low, high, info.annotation is int


def _open(model: type[BaseModel], field: str) -> tuple[bool, bool]:
    info = model.model_fields[field]
    return (
        any(isinstance(m, annotated_types.Gt) for m in info.metadata),
        any(isinstance(m, annotated_types.Lt) for m in info.metadata),
    )


def numeric_gene(
    model: type[BaseModel], field: str, setting: GeneSetting, where: str, name: str | None = None
) -> Gene | None:
    """The gene for a numeric field, narrowed by `setting` ([low, high], or None for the
    model's whole range); None when the setting fixes a single value."""
    model_low, model_high, integer = bounds(model, field)
    low, high = model_low, model_high
    if setting is not None and not isinstance(setting, list):
        return None
    if setting is not None:
        if len(setting) != 2 or not all(_number(x) for x in setting):
            raise ConfigError(f"{where}: a range is [low, high], got {setting!r}")
        if integer and not all(isinstance(x, int) for x in setting):
            raise ConfigError(f"{where}: an integer parameter takes integers, got {setting!r}")
        lo, hi = float(setting[0]), float(setting[1])
        if not (low <= lo <= hi <= high):
            raise ConfigError(
                f"{where}: {setting!r} must lie within the parameter's bounds [{low}, {high}]"
            )
        low, high = lo, hi
    gt, lt = _open(model, field)
    # An open bound (gt/lt) the range reaches is stepped inside by one unit of the grid.
    inside_low, inside_high = gt and low == model_low, lt and high == model_high
    if integer:
        return IntGene(name or field, int(low) + inside_low, int(high) - inside_high)
    grid = Decimal(1).scaleb(-FloatGene("_", 0, 0).precision)
    lo_d = Decimal(repr(low)).quantize(grid, ROUND_CEILING) + grid * inside_low
    hi_d = Decimal(repr(high)).quantize(grid, ROUND_FLOOR) - grid * inside_high
    if lo_d > hi_d:
        raise ConfigError(f"{where}: {setting!r} holds no value on the {grid} grid")
    return FloatGene(name or field, float(lo_d), float(hi_d))


def _choice(
    name: str, allowed: tuple[Any, ...], setting: GeneSetting, where: str
) -> ChoiceGene | GeneValue:
    """A closed choice (an indicator's name): a list of options to search, or one fixed."""
    options = setting if isinstance(setting, list) else [] if setting is None else [setting]
    wrong = [o for o in options if o not in allowed]
    if wrong or (isinstance(setting, list) and not setting):
        raise ConfigError(f"{where}: options are {', '.join(map(str, allowed))}, got {setting!r}")
    if isinstance(setting, list):
        return ChoiceGene(name, tuple(dict.fromkeys(setting)))
    return setting


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def ranged(
    model: type[BaseModel], field: str, setting: list[Any], where: str, name: str | None = None
) -> Gene:
    gene = numeric_gene(model, field, setting, where, name)
    if gene is None:  # a list is a range: numeric_gene returns None only for a fixed value
        raise ConfigError(f"{where}: give a [low, high] range, got {setting!r}")
    return gene


def _span(gene: Gene) -> tuple[float, float]:
    if isinstance(gene, FloatGene | IntGene):
        return float(gene.low), float(gene.high)
    raise TypeError(f"gene {gene.name!r} is not numeric")


def _float(value: GeneValue) -> float:
    if isinstance(value, int | float):
        return float(value)
    raise TypeError(f"expected a number, got {value!r}")


class QuantSpace:
    """Strategy kind, its parameters and the risk limits, as genes."""

    def __init__(self, config: QuantGenome) -> None:
        self.config = config
        unknown = [k for k in config.kinds if k not in all_kinds()]
        if unknown:
            raise ConfigError(
                f"genome.kinds: unknown kind {unknown[0]!r}; available: "
                f"{', '.join(sorted(all_kinds()))}"
            )
        for kind in config.params:
            if kind not in config.kinds:
                raise ConfigError(f"genome.params.{kind}: kind {kind!r} is not in genome.kinds")
        self.kinds = config.kinds
        self.genes: dict[str, list[Gene]] = {}
        self.fixed: dict[str, dict[str, GeneValue]] = {}
        for kind in self.kinds:
            self.genes[kind], self.fixed[kind] = self._kind_genes(kind)
        self.risk_genes: list[Gene] = []
        for field, setting in config.risk.items():
            where = f"genome.risk.{field}"
            if field not in RISK_GENES:
                raise ConfigError(
                    f"{where}: unknown risk limit; searchable: {', '.join(RISK_GENES)}"
                )
            if not isinstance(setting, list):
                raise ConfigError(f"{where}: give a [low, high] range to search, got {setting!r}")
            self.risk_genes.append(ranged(RiskLimits, field, setting, where, RISK + field))
        self._parent = self._parent_genome()

    def _kind_genes(self, kind: str) -> tuple[list[Gene], dict[str, GeneValue]]:
        model = params_model(kind)
        settings = self.config.params.get(kind, {})
        for name in settings:
            if name not in model.model_fields:
                raise ConfigError(
                    f"genome.params.{kind}.{name}: unknown parameter; "
                    f"{kind} takes {', '.join(model.model_fields)}"
                )
        genes: list[Gene] = []
        fixed: dict[str, GeneValue] = {}
        for name, info in model.model_fields.items():
            where = f"genome.params.{kind}.{name}"
            setting = settings.get(name)
            if info.annotation is bool:
                # Shorting is a risk decision: off unless the config offers it.
                if isinstance(setting, list):
                    if not setting or not all(isinstance(x, bool) for x in setting):
                        raise ConfigError(f"{where}: options are true/false, got {setting!r}")
                    genes.append(ChoiceGene(name, tuple(dict.fromkeys(setting))))
                else:
                    fixed[name] = bool(info.default if setting is None else setting)
                continue
            if get_origin(info.annotation) is Literal:
                choice = _choice(name, get_args(info.annotation), setting, where)
                if isinstance(choice, ChoiceGene):
                    genes.append(choice)
                else:
                    fixed[name] = info.default if choice is None else choice
                continue
            gene = numeric_gene(model, name, setting, where)
            if gene is None:
                if not isinstance(setting, int | float) or isinstance(setting, bool):
                    raise ConfigError(f"{where}: give a number or [low, high], got {setting!r}")
                fixed[name] = setting
            else:
                genes.append(gene)
        if kind in ORDERED:
            a, b = ORDERED[kind]
            low_a = self._span_of(genes, fixed, a)[0]
            high_b = self._span_of(genes, fixed, b)[1]
            if not low_a < high_b:
                raise ConfigError(
                    f"genome.params.{kind}: {a} must be able to lie below {b}; "
                    f"the ranges leave no room"
                )
        _check_fixed(model, fixed, genes, f"genome.params.{kind}")
        return genes, fixed

    @staticmethod
    def _span_of(
        genes: Sequence[Gene], fixed: Mapping[str, GeneValue], name: str
    ) -> tuple[float, float]:
        """The range parameter `name` may take: its gene's, or its fixed value's alone."""
        for g in genes:
            if g.name == name:
                return _span(g)
        value = _float(fixed[name])
        return value, value

    def _parent_genome(self) -> Genome:
        parent = self.config.parent
        if parent is None:
            kind = self.kinds[0]
            params = params_model(kind)().model_dump()
            risk: dict[str, float] = {}
        else:
            kind, params, risk = parent.kind, parent.params, parent.risk
            if kind not in all_kinds():
                raise ConfigError(f"genome.parent.kind: unknown kind {kind!r}")
        try:
            full = params_model(kind).model_validate(params).model_dump()
            RiskLimits.model_validate({k: Decimal(repr(v)) for k, v in risk.items()})
        except ValidationError as error:
            raise ConfigError(f"genome.parent: {explain(error)}") from None
        return Genome.of({KIND: kind, **full, **{RISK + k: float(v) for k, v in risk.items()}})

    @property
    def parent(self) -> Genome:
        return self._parent

    def _all(self, kind: str) -> list[Gene]:
        return [*self.genes[kind], *self.risk_genes]

    def random(self, rng: np.random.Generator) -> Genome:
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        values = {g.name: g.random(rng) for g in self._all(kind)}
        return self._repair(kind, values)

    def mutate(self, genome: Genome, rng: np.random.Generator, rate: float, scale: float) -> Genome:
        kind = str(genome[KIND])
        values = genome.as_dict()
        if len(self.kinds) > 1 and rng.random() < rate:
            # A new kind shares no parameters with the old: draw them afresh, keep the risk.
            others = [k for k in self.kinds if k != kind]
            kind = others[int(rng.integers(len(others)))]
            fresh = {g.name: g.random(rng) for g in self.genes[kind]}
            risk = {g.name: values[g.name] for g in self.risk_genes}
            return self._repair(kind, {**fresh, **risk})
        return self._repair(kind, mutate_each(self._all(kind), values, rng, rate, scale))

    def crossover(self, a: Genome, b: Genome, rng: np.random.Generator) -> Genome:
        kind = str(a[KIND])
        if b[KIND] != kind:
            # Parameters of different strategies mean different things: only risk mixes.
            child = a.as_dict() | uniform_cross(self.risk_genes, a, b, rng)
            return self._repair(kind, child)
        return self._repair(kind, uniform_cross(self._all(kind), a, b, rng))

    def contains(self, genome: Genome) -> bool:
        values = genome.as_dict()
        kind = values.get(KIND)
        if not isinstance(kind, str) or kind not in self.kinds:
            return False
        genes = self._all(kind)
        expected = {KIND, *self.fixed[kind], *(g.name for g in genes)}
        if set(values) != expected:
            return False
        if any(values[k] != v for k, v in self.fixed[kind].items()):
            return False
        return all(g.contains(values[g.name]) for g in genes)

    def _repair(self, kind: str, values: Mapping[str, GeneValue]) -> Genome:
        genes = {g.name: g for g in self._all(kind)}
        out = {**self.fixed[kind], **{k: values[k] for k in genes}}
        if kind in ORDERED:
            a, b = ORDERED[kind]
            out[a], out[b] = _ordered(genes.get(a), genes.get(b), out[a], out[b])
        return Genome.of({KIND: kind, **out})


def _ordered(
    gene_a: Gene | None, gene_b: Gene | None, a: GeneValue, b: GeneValue
) -> tuple[GeneValue, GeneValue]:
    """a strictly below b, each within its own gene (a fixed value has none and stays)."""
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        raise TypeError(f"ordered parameters must be numbers, got {a!r} and {b!r}")
    x, y = float(a), float(b)
    if x < y:
        return a, b
    clip_a = _clipper(gene_a, x)
    clip_b = _clipper(gene_b, y)
    step = 1.0 if isinstance(gene_a or gene_b, IntGene) else FloatGene("_", 0, 1).step
    x, y = clip_a(y), clip_b(x)  # swap: the pair is usually just the wrong way round
    if not x < y:
        if clip_b(x + step) > x:
            y = clip_b(x + step)
        elif clip_a(y - step) < y:
            x = clip_a(y - step)
        else:
            x, y = clip_a(-np.inf), clip_b(np.inf)
    cast: Callable[[float], GeneValue] = (
        (lambda v: round(v)) if isinstance(a, int) else (lambda v: round(v, 4))
    )
    return cast(x), cast(y)


def _clipper(gene: Gene | None, fixed: float) -> Callable[[float], float]:
    if gene is None:
        return lambda _: fixed
    low, high = _span(gene)
    return lambda v: float(min(high, max(low, v)))


def _check_fixed(
    model: type[BaseModel], fixed: Mapping[str, GeneValue], genes: Sequence[Gene], where: str
) -> None:
    """Fixed values must be valid on their own; try them beside each gene's lowest value."""
    sample: dict[str, Any] = dict(fixed)
    for g in genes:
        sample[g.name] = g.options[0] if isinstance(g, ChoiceGene) else _span(g)[0]
    try:
        model.model_validate(sample)
    except ValidationError as error:
        fields = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
        if fields & set(fixed):
            raise ConfigError(f"{where}: {explain(error)}") from None
