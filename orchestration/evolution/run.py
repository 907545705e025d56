"""An evolution run from its config: market data, genome space, folds, evaluators and store
wired together; the adopted genome saved where the user can run it.

- An adopted LLM genome becomes a saved agent (`AgentManager`: `$TRADEPIT_HOME/agents.db` and
  `agents/NAME.yaml`), named by the config's `name`, ready for a team file or
  `tradepit agents show NAME`.
- An adopted quant genome is written to `$TRADEPIT_HOME/evolved/NAME.yaml`: its strategy kind,
  parameters and risk limits, with the `tradepit backtest` command that replays it over the
  last validation window (risk limits, costs and window included) and the figures it scored
  there; in Python, `load_quant_spec` gives the agent and the risk limits back.
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from agents.llm_calls import Budget, LlmCallStore
from agents.manager import AgentManager
from agents.providers import ProvidersConfig, load_providers
from agents.quant import QuantAgent
from orchestration.cli.risk import flag_of
from orchestration.evolution.backends import (
    Evaluator,
    Progress,
    QuantContext,
    Task,
    quant_evaluator,
)
from orchestration.evolution.benchmark import benchmark_on
from orchestration.evolution.config import Backend, EvolveConfig, LlmGenome, QuantGenome
from orchestration.evolution.engine import Evolution, EvolutionResult, Watcher
from orchestration.evolution.evaluate import Evaluation
from orchestration.evolution.genes import Genome
from orchestration.evolution.llm_space import LlmSpace
from orchestration.evolution.space import KIND, RISK, QuantSpace, quant_candidate
from orchestration.evolution.store import EvolutionStore
from orchestration.evolution.walkforward import lay_out, timeline
from trading.clock import Clock
from trading.config_files import read_yaml
from trading.costs import CostModel
from trading.data import Catalog
from trading.errors import ConfigError
from trading.replay import ReplayConfig
from trading.risk import RiskLimits

if TYPE_CHECKING:
    from orchestration.evolution.llm_evaluate import LlmEvaluator

EVOLVED_DIR = "evolved"


class EvolutionInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run, once the run is stored: which run, and how many of its generations
    a resume (`evolve(..., resume=run_id)`) will find and not compute again."""

    def __init__(self, run_id: str, stored: int, total: int) -> None:
        super().__init__(f"run {run_id} interrupted with {stored} of {total} generations stored")
        self.run_id = run_id
        self.stored = stored
        self.total = total


@dataclass(slots=True)
class Outcome:
    result: EvolutionResult
    config: EvolveConfig
    describe: Callable[[Genome], dict[str, Any]]
    saved: dict[str, Any] | None


def base_config(config: EvolveConfig) -> ReplayConfig:
    market = config.market
    costs = CostModel(
        taker_fee_bps=market.fee_bps,
        maker_fee_bps=market.fee_bps,
        half_spread_bps=market.slippage_bps,
    )
    return ReplayConfig(
        symbols=tuple(s.upper() for s in market.symbols),
        start=market.start,
        end=market.end,
        cash=market.cash,
        costs=costs,
    )


def describe_quant(genome: Genome) -> dict[str, Any]:
    candidate = quant_candidate(genome)
    return {
        "kind": candidate.kind,
        "params": candidate.params.model_dump(mode="json"),
        "risk": dict(candidate.risk),
    }


class _LlmAdapter:
    """The LLM evaluator behind the `Evaluator` port the engine uses."""

    def __init__(self, evaluator: LlmEvaluator, store: LlmCallStore) -> None:
        self.inner = evaluator
        self.store = store

    def evaluate(self, tasks: Sequence[Task], progress: Progress | None = None) -> list[Evaluation]:
        results = self.inner.evaluate(tasks)
        if progress is not None:
            progress(len(results))
        return results

    def close(self) -> None:
        self.store.close()


def stored_config(store: EvolutionStore, run_id: str) -> EvolveConfig:
    return EvolveConfig.model_validate(store.run(run_id).config)


def same_search(a: EvolveConfig, b: EvolveConfig) -> bool:
    """Configs that give the same results: everything but where the work runs."""
    return a.model_dump(exclude={"parallel"}) == b.model_dump(exclude={"parallel"})


def evolve(
    config: EvolveConfig,
    *,
    store: EvolutionStore,
    db_url: str,
    home: Path,
    clock: Clock,
    resume: str | None = None,
    backend: Backend | None = None,
    workers: int | None = None,
    providers: ProvidersConfig | None = None,
    catalog: Catalog | None = None,
    watcher: Watcher | None = None,
    save: bool = True,
) -> Outcome:
    """Run (or, with `resume`, continue) an evolution; save what it adopts unless `save` is
    False. Raises `ConfigError` for anything wrong with the config, naming the field."""
    market = catalog or Catalog.default(list(config.market.data))
    for symbol in config.market.symbols:
        market.load(symbol)
    folds = lay_out(timeline(market, config.market), config.walk_forward)
    base = base_config(config)
    run_id = resume or f"evo-{uuid.uuid4().hex[:12]}"
    if resume is not None and not same_search(stored_config(store, resume), config):
        raise ConfigError(
            f"run {resume!r} was started with another config; resume it without --config"
        )
    genome = config.genome
    space: QuantSpace | LlmSpace
    evaluator: Evaluator
    if isinstance(genome, QuantGenome):
        space = QuantSpace(genome)
        describe: Callable[[Genome], dict[str, Any]] = describe_quant
        context = QuantContext(tuple(str(p) for p in config.market.data), base, config.fitness)
        evaluator = quant_evaluator(
            backend or config.parallel.backend,
            context,
            market,
            workers or config.parallel.workers,
        )
    else:
        providers = providers or load_providers(genome.providers)
        llm_space = space = LlmSpace(genome, providers)
        describe = lambda g: llm_space.spec(g).model_dump(mode="json")  # noqa: E731
        evaluator = _llm_evaluator(genome, llm_space, providers, market, base, config, db_url,
                                   run_id)  # fmt: skip
    with closing(evaluator):
        if resume is None:  # only now: a config the space or backend refuses stores nothing
            store.create_run(run_id, config.described(), clock.now())
        evolution = Evolution(
            run_id=run_id,
            config=config,
            space=space,
            folds=folds,
            evaluator=evaluator,
            store=store,
            clock=clock,
            describe=describe,
            benchmark=lambda window: benchmark_on(market, base, window, config.fitness),
            watcher=watcher,
        )
        try:
            result = evolution.run()
        except KeyboardInterrupt as interrupt:
            store.set_status(run_id, "interrupted", clock.now())
            total = len(folds) * config.search.generations
            stored = len(store.generations(run_id))
            raise EvolutionInterrupted(run_id, stored, total) from interrupt
        except BaseException:
            store.set_status(run_id, "interrupted", clock.now())
            raise
    saved = None
    if save and result.adopted is not None:
        saved = save_adopted(config, space, result, home, clock, providers)
    outcome = Outcome(result, config, describe, saved)
    store.set_status(run_id, "finished", clock.now(), _summary(outcome))
    return outcome


def _llm_evaluator(
    genome: LlmGenome,
    space: LlmSpace,
    providers: ProvidersConfig,
    catalog: Catalog,
    base: ReplayConfig,
    config: EvolveConfig,
    db_url: str,
    run_id: str,
) -> Evaluator:
    store = LlmCallStore(db_url)
    budget = Budget(genome.budget.max_tokens, genome.budget.max_usd)
    # agno and litellm take seconds to import: only a run that evolves an LLM agent pays that.
    from orchestration.evolution.llm_evaluate import LlmEvaluator

    inner = LlmEvaluator(
        space=space,
        providers=providers,
        catalog=catalog,
        base=base,
        metric=config.fitness,
        store=store,
        budget=budget,
        run_id=run_id,
        concurrency=genome.concurrency,
    )
    return _LlmAdapter(inner, store)


def save_adopted(
    config: EvolveConfig,
    space: QuantSpace | LlmSpace,
    result: EvolutionResult,
    home: Path,
    clock: Clock,
    providers: ProvidersConfig | None,
) -> dict[str, Any]:
    adopted = result.adopted
    if adopted is None:
        raise ValueError("nothing was adopted, so there is nothing to save")
    if isinstance(space, LlmSpace):
        spec = space.spec(adopted).model_copy(update={"name": config.name})
        with AgentManager.at_home(home, clock, providers) as manager:
            if config.name in manager.names():
                saved = manager.update(config.name, spec.model_dump(mode="json"))
            else:
                saved = manager.create(spec)
        return {"agent": saved.name, "file": str(saved.path)}
    path = home / EVOLVED_DIR / f"{config.name}.yaml"
    replayed = replayed_window(result, config)
    document = {
        **describe_quant(adopted),
        "run_id": result.run_id,
        "command": backtest_command(adopted, config, replayed),
        "replays": replayed,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# tradepit evolved quant agent {config.name!r} (run {result.run_id}).\n"
        + yaml.safe_dump(document, sort_keys=False),
        encoding="utf-8",
    )
    return {"command": document["command"], "replays": replayed, "file": str(path)}


def replayed_window(result: EvolutionResult, config: EvolveConfig) -> dict[str, Any]:
    """The window the saved command replays: the last validation window, which judged the
    adoption last, with the figures the adopted genome and the benchmark scored there (the
    whole market range, with no figures, for a result that has no fold)."""
    if not result.folds:
        return {"start": config.market.start.isoformat(), "end": config.market.end.isoformat()}
    last = result.folds[-1]
    side = "child" if last["adopted"] else "parent"
    return {
        "start": last["validation"]["start"],
        "end": last["validation"]["end"],
        config.fitness: last["out_of_sample"][side],
        f"benchmark_{config.fitness}": last["benchmark"]["score"],
    }


def backtest_command(genome: Genome, config: EvolveConfig, window: dict[str, Any]) -> str:
    """The `tradepit backtest` command that replays the genome as it was scored: its strategy,
    risk limits, market, costs and window."""
    candidate = quant_candidate(genome)
    market = config.market
    words = ["tradepit", "backtest", "--agent", candidate.kind,
             "--symbol", ",".join(market.symbols), "--start", window["start"],
             "--end", window["end"]]  # fmt: skip
    for name, value in candidate.params.model_dump(mode="json").items():
        words += ["--param", f"{name}={value}"]
    words += ["--cash", str(market.cash), "--fee-bps", str(market.fee_bps),
              "--slippage-bps", str(market.slippage_bps)]  # fmt: skip
    for field, limit in candidate.risk.items():
        words += [flag_of(field), repr(limit)]
    for data in market.data:
        words += ["--data", str(data.resolve())]
    return shlex.join(words)


def load_quant_spec(path: Path) -> tuple[QuantAgent, RiskLimits]:
    """An evolved quant agent and its risk limits, from the file `save_adopted` wrote."""
    raw = read_yaml(path, "an evolved quant spec")
    try:
        genome = Genome.of(
            {KIND: raw["kind"], **raw["params"], **{RISK + k: v for k, v in raw["risk"].items()}}
        )
        candidate = quant_candidate(genome)
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"{path}: not an evolved quant spec: {error}") from None
    agent = QuantAgent(candidate.kind, candidate.params, name=path.stem)
    return agent, candidate.limits(RiskLimits())


def _summary(outcome: Outcome) -> dict[str, Any]:
    result = outcome.result
    adopted = result.adopted
    return {
        "pbo": result.pbo,
        "verdict": result.verdict(outcome.config.fitness),
        "warnings": result.warnings(),
        "adopted": None if adopted is None else outcome.describe(adopted),
        "saved": outcome.saved,
        "folds": len(result.folds),
    }
