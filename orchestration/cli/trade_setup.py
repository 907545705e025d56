"""What a `tradepit trade` run is made of, and how it is written down so that a resume or a
replay rebuilds exactly the same team.

A new run takes a team file (or the bundled example team), resolves its saved agents, and
leaves out every LLM member none of whose models is usable on this machine (no key, no local
server), saying what would enable it; the quant members trade on without them. The run's meta
then holds everything a later process needs: the team file's text, the team as it actually
runs (after skipping), every saved agent's spec as it was at the start (a later edit of the
saved agent must not change a resumed run), the providers, the data files and the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agents.anonymise import Anonymiser
from agents.gateway import LlmGateway
from agents.llm_agent import build_models, usable_models
from agents.llm_calls import Budget, LlmCallStore
from agents.manager import AgentManager
from agents.providers import ProvidersConfig, load_providers
from agents.specs import AgentSpec
from orchestration.cli.trade_budget import BudgetLimits
from orchestration.loop import LoopResult, TradingLoop
from orchestration.team.config import Member, TeamConfig, explain, load_team, quorum_shortfall
from orchestration.team.runtime import Team, build_team
from trading.clock import LiveClock
from trading.data import Catalog
from trading.errors import ConfigError
from trading.replay_config import ReplayConfig
from trading.storage import Store

DEFAULT_TEAM = Path(__file__).resolve().parents[1] / "teams" / "default.yaml"
DEFAULT_TEAM_SOURCE = "the bundled example team (orchestration/teams/default.yaml)"


@dataclass(frozen=True, slots=True)
class Skipped:
    """An LLM member left out of this run, and why (which key or server would enable it)."""

    member: str
    reason: str


@dataclass(frozen=True, slots=True)
class TeamFile:
    source: str  # the path as given, or the bundled team's description
    text: str
    config: TeamConfig


@dataclass(frozen=True, slots=True)
class Runnable:
    """The team as it will run here: unusable LLM members left out, saved agents resolved."""

    config: TeamConfig
    agents: dict[str, AgentSpec]  # saved agents by name, as resolved now
    skipped: tuple[Skipped, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Prepared:
    """A run ready to drive: its team, accounts' store, LLM gateway and how to begin."""

    run_id: str
    team: Team
    market: Catalog
    store: Store
    calls: LlmCallStore | None
    gateway: LlmGateway | None
    begin: Callable[[TradingLoop], Coroutine[Any, Any, LoopResult]]
    skipped: tuple[Skipped, ...] = ()
    warnings: tuple[str, ...] = ()
    replay_of: str | None = None
    replay_cycles: int | None = None  # a replay stops where its original's cycles end
    resume_flags: str = ""  # what the resume command needs beside the run id and database


def read_team(path: Path | None) -> TeamFile:
    """The team file given, else the bundled example team."""
    where = path or DEFAULT_TEAM
    config = load_team(where)
    return TeamFile(
        source=str(path) if path else DEFAULT_TEAM_SOURCE,
        text=where.read_text(encoding="utf-8"),
        config=config,
    )


def has_llm_members(config: TeamConfig) -> bool:
    return any(member.quant is None for member in config.all_members())


def resolve_team(
    path: Path | None, providers_file: Path | None, home: Path
) -> tuple[TeamFile, Runnable, ProvidersConfig | None]:
    """A new run's team file, the team as it can run here, and the providers it needs (none
    for quant members only: loading them may ask for files a quant run has no use for)."""
    team_file = read_team(path)
    providers = load_providers(providers_file) if has_llm_members(team_file.config) else None
    saved = any(m.agent is not None for m in team_file.config.all_members())
    manager = AgentManager.at_home(home, LiveClock(), providers) if saved else None
    try:
        runnable = runnable_team(team_file.config, providers, manager.get if manager else None)
    finally:
        if manager is not None:
            manager.close()
    return team_file, runnable, providers


def resolve_providers(
    given: Path | None, stored: ProvidersConfig | None, team: TeamConfig
) -> ProvidersConfig | None:
    """The providers file given, else the one the run stored (base URLs and key variable
    names, never keys)."""
    if given is not None:
        return load_providers(given)
    if stored is None and has_llm_members(team):
        return load_providers()
    return stored


def gateway_and_team(
    team: TeamConfig,
    run_id: str,
    url: str,
    budget: Callable[[LlmCallStore], Budget],
    *,
    catalog: Catalog,
    providers: ProvidersConfig | None,
    lookup: Callable[[str], AgentSpec] | None,
    replay: bool = False,
    on_history: bool = True,
    window: ReplayConfig | None = None,
    answers_from: str | None = None,
) -> tuple[LlmCallStore | None, LlmGateway | None, Team]:
    """The run's one gateway, with its call log and cache in the run's own database (none for
    a team of quant members only: importing the LLM stack costs seconds), and the team built
    on it. A team that fails to build closes the call log again before the error goes on.
    `answers_from` names the run whose recorded answers may answer (a replay's original, a
    resumed run itself); a new run has none and asks its models."""
    log = gateway = None
    if has_llm_members(team):
        log = LlmCallStore(url)
        gateway = LlmGateway(
            run_id=run_id,
            store=log,
            clock=LiveClock(),
            budget=budget(log),
            replay=replay,
            answers_from=answers_from,
        )
    try:
        built = build_team(
            team,
            catalog=catalog,
            gateway=gateway,
            providers=providers,
            lookup=lookup,
            on_history=on_history,
            limits=None if window is None else window.limits,
            anonymiser=anonymiser_for(team, window),
        )
    except BaseException:
        if log is not None:
            log.close()
        raise
    return log, gateway, built


def anonymiser_for(team: TeamConfig, window: ReplayConfig | None) -> Anonymiser | None:
    """The renaming and rebasing of a team with `anonymise: true`, from the run's symbols
    and start (None otherwise, and without a window: `build_team` then says why)."""
    if not team.anonymise or window is None or window.start is None:
        return None
    day = window.start
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return Anonymiser(tuple(window.symbols), start)


def runnable_team(
    config: TeamConfig,
    providers: ProvidersConfig | None,
    lookup: Callable[[str], AgentSpec] | None,
) -> Runnable:
    """Resolve saved agents, and leave out the LLM members that cannot run here. A bad model
    reference is an error (the team file is wrong); a model without a key or server is not
    (this machine is not set up for it), unless nothing is left to trade."""
    agents: dict[str, AgentSpec] = {}
    skipped: list[Skipped] = []
    for member in config.all_members():
        if member.quant is not None:
            continue
        spec = _spec_of(config, member, lookup)
        if member.agent is not None:
            agents[member.agent] = spec
        if providers is None:
            raise ConfigError(f"team {config.name!r} has LLM members but no providers were loaded")
        try:
            models = build_models(spec, providers)
        except ConfigError as error:
            raise ConfigError(
                f"team {config.name!r}: member {member.member_name!r}: {error}"
            ) from None
        try:
            usable_models(spec.name, models)
        except ConfigError as unusable:
            skipped.append(Skipped(member.member_name, str(unusable)))
    if not skipped:
        return Runnable(config, agents, (), quorum_warnings(config))
    gone = {s.member for s in skipped}
    if config.judge is not None and config.judge.member_name in gone:
        raise ConfigError(
            f"team {config.name!r}: its judge {config.judge.member_name!r} cannot run here: "
            f"{_reason(skipped, config.judge.member_name)}"
        )
    left = [m for m in config.members if m.member_name not in gone]
    if not left:
        raise ConfigError(
            f"no member of team {config.name!r} can run here: "
            + "; ".join(s.reason for s in skipped)
        )
    raw = config.model_dump(mode="json")
    raw["members"] = [m.model_dump(mode="json") for m in left]
    if config.steps is not None:
        raw["steps"] = [
            {**step, "members": [n for n in step["members"] if n not in gone]}
            for step in raw["steps"]
        ]
    try:
        runnable = TeamConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(
            f"team {config.name!r} without {sorted(gone)!r} (no usable model here) is not a "
            f"valid team: {explain(error, raw)}; " + "; ".join(s.reason for s in skipped)
        ) from None
    kept = {name: spec for name, spec in agents.items() if name not in gone}
    return Runnable(runnable, kept, tuple(skipped), quorum_warnings(runnable, skipped))


def quorum_warnings(team: TeamConfig, skipped: Sequence[Skipped] = ()) -> tuple[str, ...]:
    """The note a run starts with when its team can never act (`team.quorum_shortfall`)."""
    shortfall = quorum_shortfall(team)
    if shortfall is None:
        return ()
    if skipped:
        shortfall += f" (after skipping {', '.join(repr(s.member) for s in skipped)})"
    return (shortfall,)


def run_meta(
    team: TeamFile,
    runnable: Runnable,
    providers: ProvidersConfig | None,
    data: list[Path],
    limits: BudgetLimits,
) -> dict[str, Any]:
    """What the run stores for whoever resumes or replays it (plain JSON data)."""
    return {
        "team_source": team.source,
        "team_yaml": team.text,
        "team": runnable.config.model_dump(mode="json"),
        "skipped": [{"member": s.member, "reason": s.reason} for s in runnable.skipped],
        "agents": {name: spec.model_dump(mode="json") for name, spec in runnable.agents.items()},
        "providers": None if providers is None else providers.stored_form(),
        "data": [str(path.resolve()) for path in data],
        "budget": limits.to_json(),
    }


@dataclass(frozen=True, slots=True)
class StoredSetup:
    """A run's meta, read back."""

    team: TeamConfig
    agents: dict[str, AgentSpec]
    providers: ProvidersConfig | None
    data: list[Path]
    limits: BudgetLimits
    skipped: tuple[Skipped, ...]

    def lookup(self, name: str) -> AgentSpec:
        spec = self.agents.get(name)
        if spec is None:
            raise ConfigError(f"the stored run has no spec for saved agent {name!r}")
        return spec


def stored_setup(run_id: str, meta: Mapping[str, Any]) -> StoredSetup:
    """The setup a `tradepit trade` run stored; a clear error for runs started otherwise."""
    if "team" not in meta:
        raise ConfigError(
            f"run {run_id!r} was not started by `tradepit trade` (its meta holds no team); "
            "only such runs resume or replay here"
        )
    try:
        providers = meta.get("providers")
        return StoredSetup(
            team=TeamConfig.model_validate(meta["team"]),
            agents={n: AgentSpec.model_validate(s) for n, s in meta.get("agents", {}).items()},
            providers=None if providers is None else ProvidersConfig.model_validate(providers),
            data=[Path(p) for p in meta.get("data", [])],
            limits=BudgetLimits.from_json(meta.get("budget") or {}),
            skipped=tuple(Skipped(s["member"], s["reason"]) for s in meta.get("skipped", [])),
        )
    except (ValidationError, KeyError, TypeError, ArithmeticError) as error:
        raise ConfigError(f"run {run_id!r}: its stored setup is unreadable: {error}") from None


def _spec_of(
    config: TeamConfig, member: Member, lookup: Callable[[str], AgentSpec] | None
) -> AgentSpec:
    if member.spec is not None:
        return member.spec
    if lookup is None or member.agent is None:
        raise ConfigError(
            f"team {config.name!r}: member {member.member_name!r} is a saved agent, "
            "but no agent store was given"
        )
    return lookup(member.agent)


def _reason(skipped: list[Skipped], member: str) -> str:
    return next(s.reason for s in skipped if s.member == member)
