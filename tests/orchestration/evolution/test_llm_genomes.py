"""LLM genomes: scored through the full replay against a loopback model, their calls through
the run's cache (a second evaluation asks the model nothing and scores the same, LLM cost
included) and within its budget."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agents.llm_calls import Budget, BudgetExceeded, LlmCallStore
from agents.manager import AgentManager
from orchestration.evolution.config import LlmGenome, Market, WalkForward, parse_config
from orchestration.evolution.genes import Genome
from orchestration.evolution.llm_evaluate import LlmEvaluator
from orchestration.evolution.llm_space import LlmSpace
from orchestration.evolution.report import genome_tools_caveat, result_json
from orchestration.evolution.run import base_config, evolve
from orchestration.evolution.store import EvolutionStore
from orchestration.evolution.walkforward import Fold, lay_out, timeline
from tests.fakes.agents import loopback_providers, thesis_json
from tests.fakes.llm_server import FakeLlm, Say, fake_llm
from trading.clock import ReplayClock
from trading.data import Catalog

CATALOG = Catalog.default()
CLOCK = ReplayClock(datetime(2026, 1, 1, tzinfo=UTC))
PROMPT = [{"tool": "prompt", "detail": "the last close"}]


def by_temperature(request: dict[str, Any]) -> Say:
    """A cool model buys, a hot one sells: the temperature gene decides the trade."""
    if request["temperature"] <= 0.5:
        return Say(thesis_json(evidence=PROMPT))
    return Say(thesis_json(stance="sell", target_weight_pct=0, evidence=PROMPT))


RAW: dict[str, Any] = {
    "name": "evolved-analyst",
    "seed": 3,
    "market": {"symbols": ["SPX"], "start": "2006-01-01", "end": "2006-06-30"},
    "walk_forward": {
        "folds": 1,
        "train_bars": 40,
        "validation_bars": 30,
        "embargo_bars": 2,
        "mode": "rolling",
    },
    "search": {"population": 2, "generations": 1, "tournament": 1, "elitism": 1},
    "parallel": {"backend": "serial"},
    "pbo_blocks": 2,
    # A cool child holds the market less its LLM costs and fees: it cannot beat buy and hold
    # (Sharpe 0.17 against 0.22 here), so the test sets a floor of its own instead.
    "min_validation": 0.0,
    "genome": {
        "type": "llm",
        "parent": {
            "name": "analyst",
            "role": "market_analyst",
            "model": "local:primary",
            "tools": [],
            "decide_every": 20,
            "temperature": 0.9,
            "timeout_s": 5,
        },
        "search": {"temperature": [0.0, 1.0]},
    },
}


@pytest.fixture
def server() -> Iterator[FakeLlm]:
    with fake_llm(by_temperature) as fake:
        yield fake
        fake.assert_done()


def _fold() -> Fold:
    config = parse_config(RAW, "test")
    market = Market.model_validate(config.market.model_dump())
    walk = WalkForward.model_validate(config.walk_forward.model_dump())
    [fold] = lay_out(timeline(CATALOG, market), walk)
    return fold


def _evaluator(server: FakeLlm, tmp_path: Path, budget: Budget) -> LlmEvaluator:
    config = parse_config(RAW, "test")
    assert isinstance(config.genome, LlmGenome)
    providers = loopback_providers(server)
    return LlmEvaluator(
        space=LlmSpace(config.genome, providers),
        providers=providers,
        catalog=CATALOG,
        base=base_config(config),
        metric="sharpe",
        store=LlmCallStore(f"sqlite:///{tmp_path / 'llm.db'}"),
        budget=budget,
        run_id="evo-llm",
        concurrency=2,
    )


def test_the_temperature_gene_reaches_the_model_and_the_cache_answers_again(
    server: FakeLlm, tmp_path: Path
) -> None:
    fold = _fold()
    cool, hot = Genome.of({"temperature": 0.2}), Genome.of({"temperature": 0.9})
    evaluator = _evaluator(server, tmp_path, Budget())
    first = evaluator.evaluate([(cool, fold.train), (hot, fold.train)])
    asked = sorted(r["temperature"] for r in server.requests)
    assert asked == [0.2, 0.2, 0.9, 0.9]  # two decisions each (decide_every 20 of 40 bars)
    assert first[0].score != first[1].score  # one bought, the other stayed flat
    assert first[0].llm_calls == 2
    # Two calls of 20 prompt and 10 completion tokens at $1/$2 per million: $0.00008.
    assert first[0].llm_cost_usd == Decimal("0.00008")
    assert first[0].final_equity < Decimal(str(first[0].metrics["total_return"] + 1)) * 100_000

    again = _evaluator(server, tmp_path, Budget(max_tokens=1)).evaluate([(cool, fold.train)])
    assert len(server.requests) == 4  # every answer came from the cache, free of the budget
    assert again[0].score == first[0].score
    assert again[0].llm_cost_usd == first[0].llm_cost_usd  # the cost counts all the same


def test_an_evaluation_past_the_budget_stops_the_run(server: FakeLlm, tmp_path: Path) -> None:
    fold = _fold()
    evaluator = _evaluator(server, tmp_path, Budget(max_tokens=40))
    with pytest.raises(BudgetExceeded, match="token budget reached: 60 of 40"):
        evaluator.evaluate([(Genome.of({"temperature": 0.3}), fold.train)])


def test_an_llm_evolution_adopts_a_spec_as_a_saved_agent(server: FakeLlm, tmp_path: Path) -> None:
    config = parse_config(RAW, "test")
    url = f"sqlite:///{tmp_path / 'run.db'}"
    home = tmp_path / "home"
    outcome = evolve(
        config,
        store=EvolutionStore(url),
        db_url=url,
        home=home,
        clock=CLOCK,
        providers=loopback_providers(server),
        catalog=CATALOG,
    )
    [fold] = outcome.result.folds
    # The hot parent stays flat and pays for its calls; a cool child buys, and it is the one
    # that wins out of sample here.
    assert fold["parent"]["temperature"] == 0.9
    assert fold["child"]["temperature"] <= 0.5
    assert fold["out_of_sample"]["child"] > fold["out_of_sample"]["parent"]
    assert fold["adopted"] is True
    assert outcome.saved == {
        "agent": "evolved-analyst",
        "file": str(home / "agents" / "evolved-analyst.yaml"),
    }
    with AgentManager.at_home(home, CLOCK) as manager:
        saved = manager.get("evolved-analyst")
    assert saved.temperature == fold["child"]["temperature"]
    document = result_json(outcome.result, outcome.describe, "sharpe", outcome.saved, None)
    assert document["tools_caveat"] is None
    assert saved.role == "market_analyst"


def test_an_llm_evolution_whose_parent_calls_external_servers_is_marked() -> None:
    clock = {"name": "clock", "command": "mcp-server-time", "tools": ["get_current_time"]}
    parent = {**RAW["genome"]["parent"], "mcp_servers": [{**clock, "point_in_time": True}]}
    marked = parse_config({**RAW, "genome": {**RAW["genome"], "parent": parent}}, "test")
    mark = "external tools, point-in-time not proven (MCP servers: clock)"
    assert genome_tools_caveat(marked) == mark
    assert genome_tools_caveat(parse_config(RAW, "test")) is None
