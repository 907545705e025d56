"""The evolution run's configuration (`evolve.yaml`): typed, frozen and closed.

A bad file is one `ConfigError` naming the file and the field (`search.population: Input
should be greater than or equal to 2 (got 1)`), which the CLI prints as one line with exit 2.
Gene ranges are checked against the bounds of the models they tune when the genome space is
built (`orchestration.evolution.space`), with the field named the same way.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, ValidationError, model_validator

from trading.closed import Closed
from trading.config_files import field_of, problem, read_yaml, validate_mapping

Backend = Literal["serial", "process", "ray"]
Metric = Literal["sharpe", "sortino", "calmar"]
# A gene's setting in the file: a [low, high] range to search, a list of options, or one
# fixed value.
GeneSetting = Annotated[
    bool | int | float | str | list[Any] | None,
    Field(description="[low, high] to search, a list of options, or one fixed value."),
]


class Market(Closed):
    symbols: tuple[str, ...] = Field(min_length=1, description="Symbols traded.")
    start: date = Field(description="First day of the data the folds are laid over.")
    end: date = Field(description="Last day (inclusive).")
    data: tuple[Path, ...] = Field((), description="OHLCV CSV or Parquet files to add.")
    cash: Decimal = Field(Decimal(100_000), gt=0)
    fee_bps: Decimal = Field(Decimal(1), ge=0, le=1000, description="Taker and maker fee.")
    slippage_bps: Decimal = Field(Decimal(1), ge=0, le=1000, description="Half-spread paid.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start >= self.end:
            raise ValueError(f"start {self.start} must be before end {self.end}")
        return self


class WalkForward(Closed):
    folds: int = Field(2, ge=1, le=50, description="Train/validation pairs, later ones later.")
    train_bars: int = Field(
        ge=20, description="Bars in the first (expanding) or every (rolling) training window."
    )
    validation_bars: int = Field(ge=10, description="Bars in each validation window.")
    embargo_bars: int = Field(
        5, ge=0, description="Bars left out between a training window and its validation."
    )
    mode: Literal["expanding", "rolling"] = Field(
        "expanding", description="Training windows grow from the start, or slide along."
    )


class Search(Closed):
    population: int = Field(12, ge=2, le=10_000)
    generations: int = Field(5, ge=1, le=10_000, description="Generations per fold.")
    tournament: int = Field(3, ge=1, description="Contestants per tournament selection.")
    crossover_rate: float = Field(0.9, ge=0.0, le=1.0)
    mutation_rate: float = Field(0.2, ge=0.0, le=1.0, description="Chance per gene.")
    mutation_scale: float = Field(
        0.1, gt=0.0, le=1.0, description="Gaussian step, as a share of a numeric gene's range."
    )
    elitism: int = Field(1, ge=0, description="Best genomes carried over unchanged.")

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.elitism >= self.population:
            raise ValueError(
                f"elitism ({self.elitism}) must be below population ({self.population})"
            )
        if self.tournament > self.population:
            raise ValueError(
                f"tournament ({self.tournament}) must not exceed population ({self.population})"
            )
        return self


class Parallel(Closed):
    backend: Backend = Field("process", description="serial, process (a local pool) or ray.")
    workers: int = Field(2, ge=1, le=512, description="Processes of the local pool.")


class QuantParent(Closed):
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    risk: dict[str, float] = Field(default_factory=dict)


class QuantGenome(Closed):
    type: Literal["quant"]
    kinds: tuple[str, ...] = Field(min_length=1, description="Strategy kinds searched.")
    params: dict[str, dict[str, GeneSetting]] = Field(
        default_factory=dict,
        description="Per kind, per parameter: a narrower [low, high], options, or a fixed value.",
    )
    risk: dict[str, GeneSetting] = Field(
        default_factory=dict,
        description="Risk limits searched (stop_loss, take_profit, max_drawdown, ...).",
    )
    parent: QuantParent | None = Field(
        None, description="The agent to beat; default: the first kind's default parameters."
    )


class LlmBudget(Closed):
    max_usd: Decimal | None = Field(None, gt=0)
    max_tokens: int | None = Field(None, gt=0)


class LlmGenome(Closed):
    type: Literal["llm"]
    parent: dict[str, Any] = Field(description="The agent spec to beat (name, role, model...).")
    search: dict[str, GeneSetting] = Field(
        min_length=1,
        description="Spec fields searched: numbers as [low, high], model/persona as options, "
        "tools as the candidates an agent may hold.",
    )
    budget: LlmBudget = Field(default_factory=LlmBudget)
    concurrency: int = Field(4, ge=1, le=256, description="Evaluations in flight at once.")
    providers: Path | None = Field(None, description="providers.yaml; default the usual one.")


class EvolveConfig(Closed):
    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="What the adopted genome is saved as.",
    )
    seed: int = Field(ge=0, description="Fixes every random draw of the run.")
    market: Market
    walk_forward: WalkForward
    fitness: Metric = "sharpe"
    min_validation: float | None = Field(
        None,
        allow_inf_nan=False,
        description="The fitness a child must beat on a validation window to be adopted, "
        "instead of the benchmark's (buy and hold of the symbols in equal parts) on the same "
        "window; it must beat its parent too.",
    )
    search: Search = Field(default_factory=Search)
    parallel: Parallel = Field(default_factory=Parallel)
    pbo_blocks: int = Field(8, ge=2, le=32, description="Even number of CSCV blocks.")
    genome: Annotated[QuantGenome | LlmGenome, Field(discriminator="type")]

    @model_validator(mode="after")
    def _even_blocks(self) -> Self:
        if self.pbo_blocks % 2:
            raise ValueError(f"pbo_blocks must be even, got {self.pbo_blocks}")
        return self

    def described(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_config(path: Path) -> EvolveConfig:
    config = parse_config(read_yaml(path, "the config"), str(path))
    # Files named in the config are found beside it, wherever the command runs from.
    base = path.parent
    market = config.market.model_copy(update={"data": tuple(base / p for p in config.market.data)})
    genome = config.genome
    if isinstance(genome, LlmGenome) and genome.providers is not None:
        genome = genome.model_copy(update={"providers": base / genome.providers})
    return config.model_copy(update={"market": market, "genome": genome})


def parse_config(raw: object, where: str) -> EvolveConfig:
    return validate_mapping(
        EvolveConfig,
        raw,
        where,
        not_mapping=lambda raw: f"an evolve config is a mapping, got {type(raw).__name__}",
        explain=explain,
    )


def explain(error: ValidationError) -> str:
    """The first problem as `field: message (got value)`: one line names one fix."""
    item = error.errors()[0]
    # Discriminated unions add the tag to the location ("genome.quant.kinds"); drop it.
    parts = [str(p) for p in item["loc"] if p not in ("quant", "llm")]
    field = field_of(parts) or "config"
    if item["type"] == "missing":
        return f"{field}: required"
    message = problem(item)
    if item["type"] == "extra_forbidden":
        return f"{field}: {message}"
    shown = repr(item.get("input"))
    return f"{field}: {message} (got {shown[:80]})" if len(shown) < 200 else f"{field}: {message}"
