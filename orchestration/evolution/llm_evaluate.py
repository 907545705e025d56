"""LLM genomes through the full replay: their model calls through the run's cache and budget,
what the calls cost taken off the equity bar by bar (see `orchestration.evolution.evaluate`).
Kept apart from the quant evaluation so pool workers never import the LLM stack."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import pandas as pd

from agents.door import close_model_clients
from agents.gateway import LlmGateway
from agents.llm_agent import LlmAgent, build_models
from agents.llm_calls import Budget, LlmCallStore
from agents.providers import ProvidersConfig
from orchestration.evolution.config import Metric
from orchestration.evolution.evaluate import Evaluation, scored, window_config
from orchestration.evolution.genes import Genome
from orchestration.evolution.llm_space import LlmSpace
from orchestration.evolution.walkforward import Window
from trading.clock import ReplayClock
from trading.data import EARLIEST, Catalog
from trading.decision import Decision, Snapshot, TradingAgent
from trading.replay import ReplayConfig, run_replay


class _Clocked:
    """Moves the gateway's clock to each decision's moment (so calls are stamped with it) and
    notes the run's LLM spending after every decision, cycle by cycle."""

    def __init__(self, agent: LlmAgent, clock: ReplayClock, gateway: LlmGateway) -> None:
        self.agent = agent
        self.clock = clock
        self.gateway = gateway
        self.spent: list[tuple[datetime, Decimal]] = []

    @property
    def name(self) -> str:
        return self.agent.name

    async def decide(self, snapshot: Snapshot) -> Decision:
        if snapshot.now > self.clock.now():
            self.clock.advance_to(snapshot.now)
        decision = await self.agent.decide(snapshot)
        total = sum((c.cost_usd for c in self.gateway.calls), Decimal(0))
        self.spent.append((snapshot.now, total))
        return decision


class LlmEvaluator:
    """LLM genomes through the full replay, their calls through one cache and one budget.

    LLM evaluations are I/O-bound, so they run here, concurrently on one event loop (at most
    `concurrency` at once), whatever the backend for quant genomes: one process owns the
    budget and writes the cache."""

    def __init__(
        self,
        *,
        space: LlmSpace,
        providers: ProvidersConfig,
        catalog: Catalog,
        base: ReplayConfig,
        metric: Metric,
        store: LlmCallStore,
        budget: Budget,
        run_id: str,
        concurrency: int,
    ) -> None:
        self.space = space
        self.providers = providers
        self.catalog = catalog
        self.base = base
        self.metric = metric
        self.store = store
        self.budget = budget
        self.run_id = run_id
        self.concurrency = concurrency

    def evaluate(self, tasks: Sequence[tuple[Genome, Window]]) -> list[Evaluation]:
        return asyncio.run(self._all(tasks))

    async def _all(self, tasks: Sequence[tuple[Genome, Window]]) -> list[Evaluation]:
        limit = asyncio.Semaphore(self.concurrency)

        async def one(genome: Genome, window: Window) -> Evaluation:
            async with limit:
                return await self.evaluate_one(genome, window)

        try:
            return list(await asyncio.gather(*(one(g, w) for g, w in tasks)))
        finally:
            await close_model_clients()

    async def evaluate_one(self, genome: Genome, window: Window) -> Evaluation:
        spec = self.space.spec(genome)
        clock = ReplayClock(EARLIEST)
        run_id = f"{self.run_id}-{window.label}-{genome.key}"
        # An identical genome on the same window, again in this evolution run, reuses the
        # answers its first evaluation recorded under this id.
        gateway = LlmGateway(
            run_id=run_id,
            store=self.store,
            clock=clock,
            budget=self.budget,
            answers_from=run_id,
        )
        agent = LlmAgent(spec, gateway, build_models(spec, self.providers), self.catalog)
        clocked = _Clocked(agent, clock, gateway)
        trader: TradingAgent = clocked
        config = window_config(self.base, window)
        try:
            result = await run_replay(trader, self.catalog, config, run_id=run_id)
        finally:
            await agent.aclose()  # each genome's MCP servers stop with its evaluation
        # Every cycle but the last logs a decision at its close (a tripped kill switch decides
        # without asking the agent); each bar pays what the agent's decisions up to its close
        # cost, and the last bar what the whole run cost.
        moments = [d.time for d in result.decisions]
        stamps = [moment for moment, _ in clocked.spent]
        spent = [
            clocked.spent[i - 1][1] if (i := bisect.bisect_right(stamps, now)) else Decimal(0)
            for now in moments
        ]
        spent.append(clocked.spent[-1][1] if clocked.spent else Decimal(0))
        net = [(p.time, p.equity - cost) for p, cost in zip(result.equity, spent, strict=True)]
        series = pd.Series(
            [float(v) for _, v in net], index=pd.DatetimeIndex([t for t, _ in net]), name="equity"
        )
        return scored(
            genome,
            window.label,
            series,
            self.metric,
            final_equity=net[-1][1],
            llm_cost=spent[-1] if spent else Decimal(0),
            llm_calls=len(gateway.calls),
            engine="replay",
        )
