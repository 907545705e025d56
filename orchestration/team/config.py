"""A team declared in YAML: its members (saved agents, inline LLM specs, quant strategies), how
their views merge (vote, debate or judge), and, for custom flows, a small graph of steps.

    name: core
    mode: debate            # vote | debate | judge
    rounds: 1               # rebuttal rounds for debate and judge
    members:
      - agent: tech         # an agent saved with `tradepit agents create`
      - spec: {name: bear, role: bear, model: fast}
      - quant: sma_cross
        params: {fast: 20, slow: 50}
    judge: {agent: pm}      # judge mode only

A mode is a shorthand for a graph: vote is theses -> merge; debate is theses -> debate ->
merge; judge is theses -> debate -> judge. `steps:` replaces it with any acyclic graph of those
four kinds of step, and steps that do not depend on each other run at the same time.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import Field, ValidationError, model_validator

from agents.specs import AgentSpec, Name
from orchestration.team.coordinator import CoordinatorConfig
from orchestration.team.track_record import TrackRecordConfig
from trading.closed import Closed
from trading.config_files import entry_field, problem, read_yaml, validate_mapping
from trading.construction import ConstructionConfig
from trading.strategies import all_kinds


class Mode(StrEnum):
    VOTE = "vote"  # every member's first thesis, merged; no rebuttal
    DEBATE = "debate"  # rebuttal rounds, then merged
    JUDGE = "judge"  # rebuttal rounds, then a judge agent decides


class StepKind(StrEnum):
    THESES = "theses"  # members give theses in parallel
    DEBATE = "debate"  # members of earlier steps see each other's theses and may revise
    MERGE = "merge"  # the coordinator merges ballots by confidence and track record
    JUDGE = "judge"  # one agent reads the ballots and decides


class Member(Closed):
    """Exactly one of `agent` (a saved agent), `spec` (an inline LLM agent) or `quant`."""

    agent: Name | None = None
    spec: AgentSpec | None = None
    quant: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="Quant parameters.")
    name: Name | None = Field(None, description="A quant member's name; default its kind.")
    confidence: float = Field(
        0.6, ge=0.0, le=1.0, description="The confidence a quant member's signal carries."
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        given = [k for k in ("agent", "spec", "quant") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of agent, spec or quant; got {given or 'none'}")
        kinds = all_kinds()  # the per-symbol and the cross-sectional ones
        if self.quant is not None and self.quant not in kinds:
            raise ValueError(
                f"unknown quant strategy {self.quant!r}; available: {', '.join(sorted(kinds))}"
            )
        if self.quant is None and (self.params or self.name):
            raise ValueError("params and name are for quant members only")
        return self

    @property
    def member_name(self) -> str:
        if self.spec is not None:
            return self.spec.name
        return str(self.agent or self.name or self.quant)


class Step(Closed):
    name: Name
    kind: StepKind
    members: list[Name] = Field(default_factory=list, description="theses: who answers.")
    after: list[Name] = Field(default_factory=list, description="Steps this one reads.")
    rounds: int = Field(1, ge=1, le=5, description="debate: rebuttal rounds.")
    judge: Name | None = Field(None, description="judge: the deciding member.")


class TeamConfig(Closed):
    name: Name
    mode: Mode = Mode.DEBATE
    rounds: int = Field(1, ge=0, le=5, description="Rebuttal rounds in debate and judge modes.")
    members: list[Member] = Field(min_length=1, max_length=16)
    judge: Member | None = None
    decide_every: int = Field(5, ge=1, le=250, description="Decide on every n-th bar.")
    coordinator: CoordinatorConfig = CoordinatorConfig()
    track_record: TrackRecordConfig = TrackRecordConfig()
    steps: list[Step] | None = Field(None, description="A custom graph; default: from mode.")
    construction: ConstructionConfig | None = Field(
        None,
        description="Portfolio construction between the merged views and the risk gate "
        "(trading.construction); none: the merged views as they are, every cycle.",
    )
    anonymise: bool = Field(
        False,
        description="Show the LLM members the universe anonymised (symbols ASSET_01..., "
        "prices rebased to 100 at the run's start, dates as day offsets), in one table per "
        "decision; the ledger trades the real series. Members then hold no tools.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [m.member_name for m in self.all_members()]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"member names must be unique; repeated: {twice!r}")
        if self.mode is Mode.JUDGE and self.judge is None and self.steps is None:
            raise ValueError("judge mode needs a judge member")
        if self.judge is not None and self.judge.quant is not None:
            raise ValueError("the judge must be an LLM agent, not a quant strategy")
        check_graph(self.graph(), set(names))
        if self.anonymise:
            armed = [m.spec.name for m in self.all_members() if m.spec and m.spec.tools]
            if armed:
                raise ValueError(
                    f"anonymise: members {armed!r} hold tools, which read the real series "
                    "under real names and dates; give them tools: []"
                )
        return self

    def all_members(self) -> list[Member]:
        return [*self.members, *([self.judge] if self.judge else [])]

    def graph(self) -> list[Step]:
        if self.steps is not None:
            return list(self.steps)
        analysts = [m.member_name for m in self.members]
        steps = [Step(name="analysts", kind=StepKind.THESES, members=analysts)]
        last = "analysts"
        if self.mode is not Mode.VOTE and self.rounds > 0:
            steps.append(
                Step(name="debate", kind=StepKind.DEBATE, after=[last], rounds=self.rounds)
            )
            last = "debate"
        if self.mode is Mode.JUDGE and self.judge is not None:  # judge mode requires one
            judge = self.judge.member_name
            steps.append(Step(name="judge", kind=StepKind.JUDGE, after=[last], judge=judge))
        else:
            steps.append(Step(name="merge", kind=StepKind.MERGE, after=[last]))
        return steps


def check_graph(steps: list[Step], members: set[str]) -> None:
    """Names unique, references known, no cycle, one final step that decides."""
    by_name = {s.name: s for s in steps}
    if len(by_name) != len(steps):
        raise ValueError("step names must be unique")
    for step in steps:
        unknown = sorted(set(step.after) - set(by_name))
        if unknown:
            raise ValueError(f"step {step.name!r}: unknown steps in after: {unknown!r}")
        strangers = sorted(set(step.members) - members)
        if strangers:
            raise ValueError(f"step {step.name!r}: {strangers!r} are not members of the team")
        if step.kind is StepKind.THESES and (not step.members or step.after):
            raise ValueError(f"step {step.name!r}: a theses step lists members and reads none")
        if step.kind is not StepKind.THESES and not step.after:
            raise ValueError(f"step {step.name!r}: a {step.kind} step must read an earlier step")
        if (step.kind is StepKind.JUDGE) != (step.judge is not None):
            raise ValueError(f"step {step.name!r}: judge is for judge steps, which need one")
        if step.judge is not None and step.judge not in members:
            raise ValueError(f"step {step.name!r}: judge {step.judge!r} is not a member")
    order(steps)  # raises on a cycle
    read = {name for s in steps for name in s.after}
    finals = [s for s in steps if s.name not in read]
    if len(finals) != 1 or finals[0].kind not in (StepKind.MERGE, StepKind.JUDGE):
        raise ValueError(
            "the graph must end in exactly one merge or judge step; ends in "
            f"{[f'{s.name} ({s.kind})' for s in finals]!r}"
        )


def order(steps: list[Step]) -> list[list[Step]]:
    """Steps in waves: each wave depends only on earlier ones, so a wave runs concurrently."""
    done: set[str] = set()
    waves: list[list[Step]] = []
    remaining = list(steps)
    while remaining:
        ready = [s for s in remaining if set(s.after) <= done]
        if not ready:
            raise ValueError(f"the steps form a cycle: {sorted(s.name for s in remaining)!r}")
        waves.append(ready)
        done |= {s.name for s in ready}
        remaining = [s for s in remaining if s.name not in done]
    return waves


def quorum_shortfall(config: TeamConfig) -> str | None:
    """Why the team can never act, if it cannot: its final merge reads the theses of fewer
    members than the coordinator needs valid ones (`coordinator.min_agents`), so every decision
    is a hold whatever they say. A judge decides alone, so a judged team has no quorum."""
    steps = {s.name: s for s in config.graph()}
    read = {name for s in steps.values() for name in s.after}
    [final] = [s for s in steps.values() if s.name not in read]  # check_graph ensures one
    if final.kind is StepKind.JUDGE:
        return None
    voters: list[str] = []
    pending = list(final.after)
    seen: set[str] = set()
    while pending:
        step = steps[pending.pop()]
        if step.name in seen:
            continue
        seen.add(step.name)
        voters += [m for m in step.members if m not in voters]
        pending += step.after
    needed = config.coordinator.min_agents
    if len(voters) >= needed:
        return None
    ordered = [m.member_name for m in config.all_members() if m.member_name in voters]
    votes = f"{len(ordered)} member votes" if len(ordered) == 1 else f"{len(ordered)} members vote"
    return (
        f"team {config.name!r} can never act: {votes} ({', '.join(ordered)}) and its coordinator "
        f"needs {needed} valid theses to act (coordinator.min_agents), so it will always hold; "
        f"add members or set coordinator: {{min_agents: {max(1, len(ordered))}}}"
    )


def load_team(path: Path) -> TeamConfig:
    """A team file; errors name the file, the field and the problem."""
    raw = read_yaml(path, "the team file")
    return validate_mapping(
        TeamConfig,
        raw,
        str(path),
        not_mapping=lambda _: "a team file is a mapping with name and members",
        explain=lambda error: explain(error, raw),
    )


def explain(error: ValidationError, raw: Mapping[str, Any]) -> str:
    """Pydantic's errors with member positions turned into member names."""
    problems = []
    for item in error.errors():
        where = entry_field(
            item["loc"], raw, key="members", noun="member", names=_member_names, whole="team"
        )
        problems.append(f"{where}: {problem(item)}")
    return "; ".join(problems)


def _member_names(entry: dict[str, Any]) -> tuple[object, ...]:
    """What may name a member, first choice first."""
    spec = entry.get("spec")
    return (
        entry.get("agent"),
        spec.get("name") if isinstance(spec, dict) else None,
        entry.get("name"),
        entry.get("quant"),
    )
