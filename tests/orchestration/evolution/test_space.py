"""Genomes stay inside their bounds whatever the search does to them: drawn, mutated or
crossed, an integer stays an integer, a float stays on its grid and within its range, and the
genome always decodes to a valid agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.providers import load_providers
from agents.specs import AgentSpec
from orchestration.evolution.config import LlmGenome, QuantGenome, load_config, parse_config
from orchestration.evolution.genes import FloatGene, Genome, IntGene
from orchestration.evolution.llm_space import LlmSpace
from orchestration.evolution.space import KIND, QuantSpace, quant_candidate
from tests.orchestration.evolution.configs import quant_raw
from trading.errors import ConfigError
from trading.strategies import STRATEGIES

ROOT = Path(__file__).resolve().parents[3]
PROVIDERS = load_providers(ROOT / "providers.yaml")

ALL_KINDS = QuantGenome.model_validate(
    {
        "type": "quant",
        "kinds": sorted(STRATEGIES),
        "params": {"mean_reversion": {"entry_z": [0.5, 1.5], "exit_z": [0.2, 2.5]}},
        "risk": {"stop_loss": [0.01, 0.3], "max_drawdown": [0.05, 0.5]},
    }
)
LLM = LlmGenome.model_validate(
    {
        "type": "llm",
        "parent": {"name": "analyst", "role": "custom", "persona": "Be brief.", "model": "fast"},
        "search": {
            "temperature": [0.0, 1.5],
            "decide_every": [1, 20],
            "max_weight": [0.1, 1.0],
            "model": ["fast", "deep"],
            "persona": ["Be brief.", "Be bold.", "Be careful."],
            "tools": ["get_market_summary", "compute_indicator", "get_news_sentiment"],
        },
    }
)


def _in_bounds(space: QuantSpace, genome: Genome) -> None:
    kind = str(genome[KIND])
    for gene in space.genes[kind] + space.risk_genes:
        value = genome[gene.name]
        if isinstance(gene, IntGene):
            assert type(value) is int, (gene.name, value)
        if isinstance(gene, FloatGene):
            assert type(value) is float, (gene.name, value)
        assert gene.contains(value), (gene.name, value)
    quant_candidate(genome)  # validates as the strategy's own params, ordered pairs included
    assert space.contains(genome)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rate=st.floats(0.0, 1.0), scale=st.floats(0.01, 1.0))
def test_quant_mutation_and_crossover_stay_within_bounds(
    seed: int, rate: float, scale: float
) -> None:
    space = QuantSpace(ALL_KINDS)
    rng = np.random.default_rng(seed)
    a, b = space.random(rng), space.random(rng)
    for genome in (a, b, space.mutate(a, rng, rate, scale), space.crossover(a, b, rng)):
        _in_bounds(space, genome)
    child = a
    for _ in range(10):
        child = space.mutate(space.crossover(child, b, rng), rng, rate, scale)
        _in_bounds(space, child)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rate=st.floats(0.0, 1.0), scale=st.floats(0.01, 1.0))
def test_llm_mutation_and_crossover_stay_within_bounds(
    seed: int, rate: float, scale: float
) -> None:
    space = LlmSpace(LLM, PROVIDERS)
    rng = np.random.default_rng(seed)
    genome = space.random(rng)
    other = space.random(rng)
    for _ in range(8):
        genome = space.mutate(space.crossover(genome, other, rng), rng, rate, scale)
        assert space.contains(genome)
        spec = space.spec(genome)
        assert isinstance(spec.decide_every, int)
        assert 0.0 <= spec.temperature <= 1.5
        assert 0.1 <= spec.max_weight <= 1.0
        assert spec.model in ("fast", "deep")
        assert set(spec.tools) <= {"get_market_summary", "compute_indicator", "get_news_sentiment"}
        AgentSpec.model_validate(spec.model_dump())


def test_the_parent_spec_is_a_genome_of_its_own_space() -> None:
    space = LlmSpace(LLM, PROVIDERS)
    assert space.contains(space.parent)
    assert space.spec(space.parent).persona == "Be brief."


def out_of_order() -> Genome:
    """An SMA cross genome whose fast window (20) is longer than its slow one (12)."""
    return Genome.of(
        {
            KIND: "sma_cross",
            "fast": 20,
            "slow": 12,
            "weight": 1.0,
            "allow_short": False,
            "risk.stop_loss": 0.1,
        }
    )


def test_an_ordered_pair_is_repaired_not_refused() -> None:
    space = QuantSpace(QuantGenome.model_validate(quant_raw()["genome"]))
    swapped = space.crossover(
        out_of_order(),
        out_of_order(),
        np.random.default_rng(0),
    )
    assert (swapped["fast"], swapped["slow"]) == (12, 20)


@pytest.mark.parametrize(
    ("genome", "message"),
    [
        ({"kinds": ["sma_cross"], "params": {"sma_cross": {"fast": [1, 5]}}},
         "genome.params.sma_cross.fast: [1, 5] must lie within the parameter's bounds"),
        ({"kinds": ["sma_cross"], "params": {"sma_cross": {"fast": [2.5, 9]}}},
         "genome.params.sma_cross.fast: an integer parameter takes integers"),
        ({"kinds": ["sma_cross"], "params": {"sma_cross": {"speed": [2, 9]}}},
         "genome.params.sma_cross.speed: unknown parameter"),
        ({"kinds": ["sma_cross"], "params": {"sma_cross": {"fast": [100, 200],
                                                           "slow": [10, 50]}}},
         "genome.params.sma_cross: fast must be able to lie below slow"),
        ({"kinds": ["moon"]}, "genome.kinds: unknown kind 'moon'"),
        ({"kinds": ["rsi"], "risk": {"stop_loss": [0.1, 1.5]}},
         "genome.risk.stop_loss: [0.1, 1.5] must lie within"),
        ({"kinds": ["rsi"], "risk": {"leverage": [1, 2]}}, "genome.risk.leverage: unknown"),
    ],
)  # fmt: skip
def test_a_range_outside_the_models_bounds_names_the_field(
    genome: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        QuantSpace(QuantGenome.model_validate({"type": "quant", **genome}))
    assert message in str(error.value)


def test_llm_search_of_an_unknown_model_names_the_option() -> None:
    search = {"model": ["fast", "nowhere:model"]}
    config = LLM.model_copy(update={"search": search})
    with pytest.raises(ConfigError, match=r"genome\.search\.model\[1\]"):
        LlmSpace(config, PROVIDERS)


def test_a_bad_config_names_the_field() -> None:
    raw = quant_raw(search={"population": 1})
    with pytest.raises(ConfigError) as error:
        parse_config(raw, "evolve.yaml")
    assert str(error.value).startswith("evolve.yaml: search.population: ")
    assert "\n" not in str(error.value)


def test_files_a_config_names_are_found_beside_it(tmp_path: Path) -> None:
    raw = quant_raw(market={"data": ["bars.csv"]})
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "evolve.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert load_config(path).market.data == (tmp_path / "conf" / "bars.csv",)
