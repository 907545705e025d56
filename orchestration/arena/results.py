"""What an arena produces: each entrant run's equity, fills, metrics and LLM usage, the entrants
it skipped and why. Plain data, light to import: the store, leaderboard and report read it, and
a pool's worker sends back its `EntrantRun`s (the arena's config and the LLM call store are
needed for annotations only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from agents.turn_counts import TurnCounts
from trading.metrics import PerformanceMetrics
from trading.risk import drawdown_breach

if TYPE_CHECKING:
    from agents.llm_calls import LlmCall
    from orchestration.arena.config import ArenaConfig, EntrantKind
    from trading.replay import ReplayResult


@dataclass(frozen=True, slots=True)
class LlmUsage:
    calls: int = 0
    cached: int = 0
    tokens: int = 0
    # Priced from providers.yaml for every call the run needed, cached or not: what running
    # the entrant costs. `paid_usd` is what this run actually paid (fresh calls only).
    cost_usd: Decimal = Decimal(0)
    paid_usd: Decimal = Decimal(0)
    # How the requests for theses went: a model that never answers validly trades like a
    # flat strategy, and only these say which it was. None: stored before they were counted.
    answers: TurnCounts | None = None

    @classmethod
    def of(cls, calls: Sequence[LlmCall], answers: TurnCounts | None = None) -> LlmUsage:
        return cls(
            calls=len(calls),
            cached=sum(1 for c in calls if c.cached),
            tokens=sum(c.tokens for c in calls),
            cost_usd=sum((c.cost_usd for c in calls), Decimal(0)),
            paid_usd=sum((c.cost_usd for c in calls if not c.cached), Decimal(0)),
            answers=replace(answers or TurnCounts(), calls=len(calls)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "cached": self.cached,
            "tokens": self.tokens,
            "cost_usd": str(self.cost_usd),
            "paid_usd": str(self.paid_usd),
            "answers": None if self.answers is None else self.answers.to_json(),
        }


@dataclass(slots=True)
class EntrantRun:
    """One run of one entrant: a seed for stochastic entrants, None for deterministic ones."""

    entrant: str
    kind: EntrantKind
    repeat: int
    seed: int | None
    # Left out of the repr: `asyncio.run` (3.11) formats the repr of its task's result when it
    # restores the SIGINT handler, which for an arena's (every run's equity points) took 0.13 s.
    equity: list[tuple[datetime, Decimal]] = field(repr=False)
    fills: list[dict[str, str]] = field(repr=False)
    metrics: PerformanceMetrics
    round_trips: int
    final_equity: Decimal
    kill_switch: str
    llm: LlmUsage = field(default_factory=LlmUsage)

    @property
    def intraday(self) -> bool:
        """Whether its bars are shorter than a day (a report then prints times, not dates)."""
        return any(b - a < timedelta(days=1) for (a, _), (b, _) in pairwise(self.equity))


@dataclass(frozen=True, slots=True)
class KillPoint:
    """Where a run's kill switch tripped: the equity point, its drawdown from the running peak,
    and the limit it reached. From then on the run sold everything and held cash."""

    time: datetime
    drawdown: Decimal
    limit: Decimal
    intraday: bool = False

    def label(self) -> str:
        when = moment(self.time, self.intraday)
        return f"{when}: drawdown {self.drawdown:.1%} past {self.limit:.1%}"


def kill_point(run: EntrantRun, limit: Decimal | None) -> KillPoint | None:
    """The first equity point whose drawdown from the running peak reached `limit`, by the
    gate's own rule (`trading.risk.drawdown_breach`) on the same equity it observed; None for a
    run whose kill switch did not trip."""
    if not run.kill_switch or limit is None:
        return None
    peak: Decimal | None = None
    for time, equity in run.equity:
        peak = equity if peak is None else max(peak, equity)
        drawdown = drawdown_breach(peak, equity, limit)
        if drawdown is not None:
            return KillPoint(time, drawdown, limit, run.intraday)
    raise ValueError(
        f"{run.entrant} run {run.repeat}: {run.kill_switch!r}, yet no equity point is "
        f"{limit:.2%} below its peak"
    )


def moment(time: datetime, intraday: bool) -> str:
    """A bar's time as a report prints it: the session date of a daily bar (labelled at its
    midnight UTC), the UTC minute of a shorter one."""
    utc = time.astimezone(UTC)
    if intraday or utc.time() != clock_time(0):
        return utc.strftime("%Y-%m-%d %H:%M UTC")
    return utc.date().isoformat()


@dataclass(frozen=True, slots=True)
class Skipped:
    entrant: str
    reason: str


@dataclass(slots=True)
class ArenaResult:
    run_id: str
    config: ArenaConfig
    runs: list[EntrantRun]
    skipped: list[Skipped]
    # Each LLM entrant's models (reference -> training cut-off, None where unpublished).
    models: dict[str, dict[str, str | None]]
    seeds: dict[str, list[int | None]]
    data_hash: str


def entrant_run(
    result: ReplayResult, kind: EntrantKind, repeat: int, seed: int | None, usage: LlmUsage
) -> EntrantRun:
    return EntrantRun(
        entrant=result.agent,
        kind=kind,
        repeat=repeat,
        seed=seed,
        equity=[(t, v) for t, _, v in result.equity],
        fills=[f.trade_json() for f in result.fills],
        metrics=result.metrics,
        round_trips=len(result.round_trips),
        final_equity=result.final_equity,
        kill_switch=result.kill_switch,
        llm=usage,
    )
