"""Running an arena: every entrant on the same bars, the same point-in-time snapshots and the same
costs, each with its own ledger.

One `ReplayBars` gives the cycles and one `ReplayConfig` the rules; every entrant run gets its
own `CycleEngine` (clock, view, ledger, paper executor, risk gate). Runs in this process move in
lockstep: each cycle settles every engine, then all entrants decide at once (asyncio, so LLM
entrants wait on their models together), then each decision goes through its own gate and
executor. With `workers > 0`, quant entrants run instead in a pool of processes (each through
`quant_backtest` over the arena's own series, given to each worker once: `arena.pool`) while
the LLM entrants run here. Quant entrants that the vectorised path reproduces exactly
(`trading.vectorised_replay`) run here through it, while the workers start and faster than a
worker could start; the pool and the lockstep get only those it refuses.

An LLM entrant whose models are not usable on this machine is skipped with the reason (the key
or the local server that would enable it). A stochastic entrant (an LLM at temperature > 0)
runs `repeats` times with different seeds; the seed goes with every request (providers that
honour it sample reproducibly) and into the response-cache key, so each repeat gets its own
answers and a replay gets them back.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from agents.anonymise import Anonymiser
from agents.availability import Availability, availability
from agents.door import close_model_clients
from agents.gateway import LlmGateway
from agents.llm_calls import Budget, LlmCallStore
from agents.providers import ModelRef, ProvidersConfig
from agents.quant import build_quant_agent
from agents.specs import AgentSpec
from orchestration.arena.config import ArenaConfig, Entrant, anonymised_twin
from orchestration.arena.market import LoadedSource
from orchestration.arena.pool import QuantPool
from orchestration.arena.quant_worker import QuantJob
from orchestration.arena.results import ArenaResult, EntrantRun, LlmUsage, Skipped, entrant_run
from orchestration.events import ArenaProgress, ArenaProgressEvent
from orchestration.team.config import Member, TeamConfig
from trading.clock import Clock, moment_label
from trading.data import Catalog
from trading.decision import TradingAgent, aclose_agent
from trading.errors import ConfigError
from trading.replay import CycleEngine, ReplayBars
from trading.strategies import validate_params
from trading.vectorised_replay import vectorised_refusal, vectorised_replay

# The lockstep replay reports about this many blocks of bars, whatever the window's length.
PROGRESS_BLOCKS = 50


@dataclass(slots=True)
class _Planned:
    entrant: Entrant
    repeats: int
    specs: list[AgentSpec]
    models: list[ModelRef]


class Arena:
    """One competition. `replay` answers every LLM call from the cache; a replay passes what
    its original skipped (`skip`, entrant -> reason) and the models each LLM entrant could use
    (`models`), so it runs exactly the original's entrants on the original's models."""

    def __init__(
        self,
        config: ArenaConfig,
        *,
        run_id: str,
        catalog: Catalog,
        clock: Clock,
        providers: ProvidersConfig | None = None,
        calls: LlmCallStore | None = None,
        replay: bool = False,
        replay_of: str | None = None,
        skip: dict[str, str] | None = None,
        models: Mapping[str, Sequence[str]] | None = None,
        progress: ArenaProgress | None = None,
        vectorised: bool = True,
    ) -> None:
        """`vectorised=False` runs every quant entrant through the replay (the same results,
        slower: for comparisons)."""
        self.config = config
        self.vectorised = vectorised
        self.run_id = run_id
        self.catalog = catalog
        self.clock = clock
        self.providers = providers
        self.calls = calls
        self.replay = replay or replay_of is not None
        self.replay_of = replay_of  # the arena whose lanes' recordings answer this one's
        self.skip = dict(skip or {})
        # A replay uses the models its original could use (by entrant), not what is usable now.
        self.models = {name: set(refs) for name, refs in (models or {}).items()}
        self.progress = progress
        self.replay_config = config.replay_config()
        self._available: dict[str, Availability] = {}
        # Progress in entrant-bars: every entrant run replays every bar.
        self._step = 0
        self._total = 0

    def plan(self) -> tuple[list[_Planned], list[Skipped]]:
        """Which entrants run and how often; LLM entrants without a usable model are skipped."""
        planned, skipped = [], []
        for entrant in self.config.entrants:
            name = entrant.entrant_name
            if name in self.skip:
                skipped.append(Skipped(name, self.skip[name]))
                continue
            specs = _specs(entrant)
            if not specs:
                planned.append(_Planned(entrant, 1, [], []))
                continue
            if self.providers is None or self.calls is None:
                raise ConfigError(f"entrant {name!r} is an LLM entrant and needs providers")
            models: list[ModelRef] = []
            stranded: list[str] = []  # members with no usable model
            reasons: list[str] = []
            for spec in specs:
                refs = _models(spec, self.providers)  # an unknown model is a config error
                if name in self.models:
                    refs = [ref for ref in refs if ref.reference in self.models[name]]
                elif not self.replay:
                    states = [(ref, self._availability(ref)) for ref in refs]
                    refs = [ref for ref, state in states if state.usable]
                    if not refs:
                        stranded.append(spec.name)
                        reasons += [f"{r.reference}: {s.reason}" for r, s in states]
                models += [r for r in refs if r not in models]
            if stranded:
                unique = list(dict.fromkeys(reasons))
                reason = f"no usable model for {', '.join(stranded)}; " + "; ".join(unique)
                skipped.append(Skipped(name, reason))
                continue
            stochastic = any(spec.temperature > 0 for spec in specs)
            repeats = (entrant.repeats or self.config.repeats) if stochastic else 1
            planned.append(_Planned(entrant, repeats, specs, models))
            if self.config.anonymise and not entrant.anonymised:
                twin = anonymised_twin(entrant)
                if twin.entrant_name in self.skip:
                    skipped.append(Skipped(twin.entrant_name, self.skip[twin.entrant_name]))
                else:
                    planned.append(_Planned(twin, repeats, specs, models))
        return planned, skipped

    def _availability(self, ref: ModelRef) -> Availability:
        """Whether a model's provider is usable here, asked once per provider per arena."""
        if ref.provider_name not in self._available:
            self._available[ref.provider_name] = availability(ref.provider)
        return self._available[ref.provider_name]

    async def run(self) -> ArenaResult:
        bars = ReplayBars(self.catalog, self.replay_config)  # bad symbols and windows fail here
        planned, skipped = self.plan()
        if not planned:
            raise ConfigError("no entrant can run here: " + "; ".join(s.reason for s in skipped))
        budget = Budget(self.config.budget.max_tokens, self.config.budget.max_usd)
        quant = [p for p in planned if p.entrant.quant is not None]
        fast = [p for p in quant if self.vectorised and self._vectorisable(p.entrant)]
        pooled = [p for p in quant if self.config.workers > 0 and p not in fast]
        local = [p for p in planned if p not in pooled and p not in fast]
        lanes: list[_Lane] = []
        for plan in local:
            for repeat in range(plan.repeats):
                lanes.append(self._lane(plan, repeat, budget))
        self._step, self._total = 0, bars.total * (len(lanes) + len(pooled) + len(fast))
        # Started first, so that the workers replay their entrants while the vectorised ones
        # run here. The vectorised path never waits on anything, so the task would start only
        # after them: one turn of the loop lets it start the workers and hand them every entrant.
        pool_task = asyncio.ensure_future(self._pool([p.entrant for p in pooled], bars.total))
        await asyncio.sleep(0)
        try:
            fast_runs = [await self._vectorised_run(p.entrant, bars.total) for p in fast]
            local_runs = await self._lockstep(bars, lanes)
        finally:
            pooled_runs = await pool_task
            for lane in lanes:
                await aclose_agent(lane.agent)
            if any(lane.gateway is not None for lane in lanes):
                await close_model_clients()
        by_name = {r.entrant: r for r in [*pooled_runs, *fast_runs]}
        runs: list[EntrantRun] = []
        for plan in planned:
            name = plan.entrant.entrant_name
            if name in by_name:
                runs.append(by_name[name])
            runs += [r for r in local_runs if r.entrant == name]
        return ArenaResult(
            run_id=self.run_id,
            config=self.config,
            runs=runs,
            skipped=skipped,
            models={
                p.entrant.entrant_name: {m.reference: _iso(m.info.cutoff) for m in p.models}
                for p in planned
                if p.specs
            },
            seeds={
                p.entrant.entrant_name: [self._seed(p, r) for r in range(p.repeats)]
                for p in planned
            },
            data_hash=market_data_hash(self.catalog, self.replay_config.symbols),
        )

    def _vectorisable(self, entrant: Entrant) -> bool:
        params = validate_params(entrant.quant or "", entrant.params)
        return vectorised_refusal(self.catalog, self.replay_config, params) is None

    async def _vectorised_run(self, entrant: Entrant, bars: int) -> EntrantRun:
        name = entrant.entrant_name
        agent = build_quant_agent(entrant.quant or "", entrant.params, name)
        result = await vectorised_replay(
            agent,
            agent.kind,
            agent.params,
            self.catalog,
            self.replay_config,
            run_id=f"{self.run_id}/{name}/0",
        )
        run = entrant_run(result, "quant", 0, None, LlmUsage())
        self._step += bars
        self._finished(run, None, None, where=" on the vectorised path")
        return run

    def _seed(self, plan: _Planned, repeat: int) -> int | None:
        if not plan.specs:
            return None  # quant entrants are deterministic: nothing to seed
        name = plan.entrant.entrant_name
        entropy = [self.config.seed, zlib.crc32(name.encode()), repeat]
        return int(np.random.SeedSequence(entropy).generate_state(1)[0])

    def _lane(self, plan: _Planned, repeat: int, budget: Budget) -> _Lane:
        entrant = plan.entrant
        name = entrant.entrant_name
        run_id = f"{self.run_id}/{name}/{repeat}"
        seed = self._seed(plan, repeat)
        engine = CycleEngine(self.catalog, self.replay_config, run_id=run_id)
        if entrant.quant is not None:
            agent: TradingAgent = build_quant_agent(entrant.quant, entrant.params, name)
            return _Lane(entrant, repeat, seed, engine, agent, None)
        # agno and litellm load only when an LLM entrant runs: they take seconds to import.
        from agents.llm_agent import LlmAgent
        from orchestration.team.runtime import build_team

        if not plan.specs:  # a team of quant members only: no model to call
            agent = build_team(
                _named(_team(entrant), name),
                catalog=self.catalog,
                limits=self.replay_config.limits,
            )
            return _Lane(entrant, repeat, seed, engine, agent, None)
        if self.calls is None or self.providers is None or seed is None:
            raise ConfigError(f"entrant {name!r} is an LLM entrant and needs providers")
        gateway = LlmGateway(
            seed=seed,
            run_id=run_id,
            store=self.calls,
            clock=self.clock,
            budget=budget,
            replay=self.replay,
            answers_from=None if self.replay_of is None else f"{self.replay_of}/{name}/{repeat}",
        )
        anonymiser = None
        if entrant.anonymised or (entrant.team is not None and entrant.team.anonymise):
            symbols = self.replay_config.symbols
            anonymiser = Anonymiser(symbols, _first_moment(self.config.start), self.config.seed)
        if entrant.agent is not None:
            models = [m for m in _models(entrant.agent, self.providers) if m in plan.models]
            agent = LlmAgent(entrant.agent, gateway, models, self.catalog, anonymiser=anonymiser)
        else:
            team = _named(_team(entrant), name)
            agent = build_team(
                team,
                catalog=self.catalog,
                gateway=gateway,
                providers=self.providers,
                limits=self.replay_config.limits,
                anonymiser=anonymiser,
            )
        return _Lane(entrant, repeat, seed, engine, agent, gateway)

    async def _lockstep(self, bars: ReplayBars, lanes: list[_Lane]) -> list[EntrantRun]:
        if not lanes:
            return []
        total = bars.total
        block = max(1, math.ceil(total / PROGRESS_BLOCKS))
        for cycle in range(total):
            tick = bars.tick(cycle)
            for lane in lanes:
                lane.engine.settle(tick)
            as_of = moment_label(tick.bars[0].time, tick.now)
            if tick.last:
                break
            self._step += len(lanes)
            if (cycle + 1) % block == 0:
                self._report(
                    f"bar {cycle + 1} of {total} ({as_of}): {len(lanes)} entrant runs in step",
                    cycle=cycle + 1,
                    as_of=as_of,
                )
            decisions = await asyncio.gather(*(ln.engine.decide(ln.agent, tick) for ln in lanes))
            for lane, decision in zip(lanes, decisions, strict=True):
                lane.engine.execute(lane.entrant.entrant_name, decision, tick)
        runs = []
        for lane in lanes:  # each run's last bar is its last step
            runs.append(lane.finish(bars))
            self._step += 1
            self._finished(runs[-1], total, as_of)
        return runs

    def _report(self, message: str, **fields: Any) -> None:
        if self.progress is not None:
            event = ArenaProgressEvent(self.run_id, self._step, self._total, message, **fields)
            self.progress(event)

    def _finished(
        self, run: EntrantRun, cycle: int | None, as_of: str | None, where: str = ""
    ) -> None:
        """An entrant run is done: in the lockstep replay at its last bar, on the vectorised
        path, or in a worker."""
        where = where or ("" if cycle is not None else " in a worker")
        self._report(
            f"{run.entrant} run {run.repeat} finished{where}: final equity {run.final_equity:.2f}",
            entrant=run.entrant,
            repeat=run.repeat,
            cycle=cycle,
            as_of=as_of,
        )

    async def _pool(self, entrants: list[Entrant], bars: int) -> list[EntrantRun]:
        if not entrants:
            return []
        # The series every entrant here replays, given to each worker once (`arena.pool`).
        symbols = self.replay_config.symbols
        market = LoadedSource(self.config.source, {s: self.catalog.load(s) for s in symbols})
        jobs = [
            QuantJob(
                e.quant or "",
                e.params,
                e.entrant_name,
                self.replay_config,
                f"{self.run_id}/{e.entrant_name}/0",
            )
            for e in entrants
        ]
        with QuantPool(min(self.config.workers, len(entrants)), market) as pool:
            runs = []
            for finished in asyncio.as_completed(pool.start(jobs)):
                runs.append(await finished)
                self._step += bars
                self._finished(runs[-1], None, None)
        return runs


@dataclass(slots=True)
class _Lane:
    """One entrant run moving through the lockstep replay."""

    entrant: Entrant
    repeat: int
    seed: int | None
    engine: CycleEngine
    agent: TradingAgent
    gateway: LlmGateway | None

    def finish(self, bars: ReplayBars) -> EntrantRun:
        result = self.engine.result(self.entrant.entrant_name, bars)
        usage = LlmUsage()
        if self.gateway is not None:
            # LLM agents and teams count their members' turns; quant teams have no gateway.
            usage = LlmUsage.of(self.gateway.calls, getattr(self.agent, "turn_counts", None))
        return entrant_run(result, self.entrant.kind, self.repeat, self.seed, usage)


def market_data_hash(catalog: Catalog, symbols: Sequence[str]) -> str:
    """sha256 over every bar (times and OHLCV) of the arena's symbols: a replay on other data
    would ask its models other questions, so the hash says why before the cache does."""
    digest = hashlib.sha256()
    for symbol in sorted(symbols):
        series = catalog.load(symbol)
        digest.update(symbol.encode())
        for column in (
            series.times,
            series.close_times,
            series.open,
            series.high,
            series.low,
            series.close,
            series.volume,
        ):
            digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()


def resolve_saved_agents(config: ArenaConfig, lookup: Callable[[str], AgentSpec]) -> ArenaConfig:
    """The config with every team member that names a saved agent replaced by its spec, so the
    stored config is whole: a replay must not depend on agents edited since."""
    entrants = []
    for entrant in config.entrants:
        team = entrant.team
        if team is None or all(m.agent is None for m in team.all_members()):
            entrants.append(entrant)
            continue

        def inline(member: Member) -> Member:
            if member.agent is None:
                return member
            return Member(spec=lookup(member.agent))

        raw = team.model_dump(mode="json")
        raw["members"] = [inline(m).model_dump(mode="json") for m in team.members]
        if team.judge is not None:
            raw["judge"] = inline(team.judge).model_dump(mode="json")
        entrants.append(entrant.model_copy(update={"team": TeamConfig.model_validate(raw)}))
    return config.model_copy(update={"entrants": entrants})


def _models(spec: AgentSpec, providers: ProvidersConfig) -> list[ModelRef]:
    """The spec's model, then its fallback (`agents.llm_agent.build_models`, without loading
    agno to find out)."""
    refs = [providers.resolve(spec.model)]
    if spec.fallback_model:
        refs.append(providers.resolve(spec.fallback_model))
    return refs


def _specs(entrant: Entrant) -> list[AgentSpec]:
    if entrant.agent is not None:
        return [entrant.agent]
    if entrant.team is not None:
        specs = []
        for member in entrant.team.all_members():
            if member.agent is not None:
                raise ConfigError(
                    f"entrant {entrant.entrant_name!r}: member {member.agent!r} is a saved agent; "
                    "resolve saved agents first (the CLI does)"
                )
            if member.spec is not None:
                specs.append(member.spec)
        return specs
    return []


def _team(entrant: Entrant) -> TeamConfig:
    if entrant.team is None:
        raise ConfigError(f"entrant {entrant.entrant_name!r} is not a team")
    return entrant.team


def _named(team: TeamConfig, name: str) -> TeamConfig:
    return team if team.name == name else team.model_copy(update={"name": name})


def _first_moment(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _iso(day: Any) -> str | None:
    return None if day is None else str(day.isoformat())
