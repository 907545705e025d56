"""Each agent's track record: its past theses scored against what the market then did.

The decision coordinator weighs an agent by how right it has been, so the score must be honest
about time. A thesis issued at t with a horizon of h days is *due* at t + h; it is scored only
against the first close at or after its due time, and only once that close is known (its time
is at or before `now`). Closes after `now` are ignored even when a caller passes them, so scoring
with a whole history gives exactly what scoring with the history cut at `now` gives.

Choices, with the reasons:

- Horizon: the thesis's own `horizon_days`, in calendar days (the coordinator knows no exchange
  calendar, and crypto trades every day); `TrackRecordConfig.horizon_days` overrides it with one
  fixed horizon for every thesis, for teams that want all agents judged alike.
- Entry price: the last close known at issue time, which is what the agent saw. Exit price: the
  first close at or after the due time, so a horizon that ends on a weekend is not cut short.
- Direction: buy is +1 and sell is -1 (a sell to flat still says "this will not rise"). Hold
  theses make no directional claim and are not scored at all: they neither earn nor cost skill.
- Hit rate: the share of scored theses whose direction matched the sign of the forward return;
  a forward return of exactly zero proves nothing either way and is left out of it.
- Information coefficient (IC): Spearman rank correlation between signed conviction
  (direction x confidence) and forward return over the agent's last `window` scored theses. It
  is undefined (and counts as zero) with fewer than `min_ic_points` theses or when either side is
  constant, such as an agent that always says "buy" with the same confidence.
- Shrinkage: hit rate follows a Beta prior worth `prior_strength` pseudo-theses at 0.5, and IC is
  scaled by n / (n + prior_strength), so a new agent starts at the neutral weight of 1 and one
  lucky thesis barely moves it.
- Weight: skill = (1 - ic_share) x (2 x hit - 1) + ic_share x IC, within -1..1, and
  weight = max(floor, 1 + gain x skill). The floor keeps a weight positive: a bad record makes an
  agent count for little, never flips its vote into the opposite one.

All state is a frozen pydantic model: `to_dict` gives plain JSON and `from_dict` restores a
record that weighs every agent exactly as before, pending theses included.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, Field, ValidationError

from agents.specs import Thesis
from orchestration.team.errors import CoordinationError
from trading.closed import Closed
from trading.data import PointInTimeView

# The time a close became known (its bar's close_time) and the close, oldest first.
CloseHistory = Sequence[tuple[datetime, float]]

NEUTRAL_WEIGHT = 1.0


class TrackRecordConfig(Closed):
    window: int = Field(60, ge=5, le=5000, description="Scored theses kept per agent.")
    prior_strength: float = Field(
        10.0, ge=0.0, le=1000.0, description="Neutral pseudo-theses every agent starts with."
    )
    ic_share: float = Field(
        0.5, ge=0.0, le=1.0, description="Share of skill from IC; the rest from hit rate."
    )
    gain: float = Field(2.0, ge=0.0, le=10.0, description="Weight = 1 + gain x skill.")
    floor: float = Field(
        0.1, gt=0.0, le=1.0, description="Least weight: a bad record never flips a vote."
    )
    min_ic_points: int = Field(5, ge=3, le=1000, description="Scored theses before IC counts.")
    horizon_days: int | None = Field(
        None, ge=1, le=365, description="One horizon for all theses; None: each thesis's own."
    )


class PendingThesis(Closed):
    """A directional thesis waiting for its horizon to pass."""

    agent: str
    symbol: str
    issued_at: AwareDatetime
    due: AwareDatetime
    direction: Literal[-1, 1]
    confidence: float = Field(ge=0.0, le=1.0)


class Outcome(Closed):
    """A scored thesis: what the agent said and what the market did over its horizon."""

    symbol: str
    issued_at: AwareDatetime
    exit_at: AwareDatetime = Field(description="Time of the close it was scored against.")
    direction: Literal[-1, 1]
    confidence: float = Field(ge=0.0, le=1.0)
    forward_return: float

    @property
    def conviction(self) -> float:
        return self.direction * self.confidence


class AgentSkill(Closed):
    """An agent's record as the coordinator uses it; raw figures are None until defined."""

    agent: str
    scored: int = Field(description="Scored theses in the window.")
    hit_rate: float | None = Field(description="Raw hit rate over directional outcomes.")
    ic: float | None = Field(description="Raw Spearman IC of conviction vs forward return.")
    skill: float = Field(description="Shrunk skill, -1..1; 0 is no better than chance.")
    weight: float = Field(description="Track-record weight: floor .. 1 + gain.")


class TrackRecord(Closed):
    """Rolling, point-in-time scores of every agent. Immutable: each step returns a new one."""

    config: TrackRecordConfig = TrackRecordConfig()
    scored_through: AwareDatetime | None = Field(
        None, description="The latest `now` scored at; time only moves forward."
    )
    pending: tuple[PendingThesis, ...] = ()
    outcomes: dict[str, tuple[Outcome, ...]] = Field(default_factory=dict)

    def with_theses(self, issued_at: datetime, theses: Iterable[tuple[str, Thesis]]) -> TrackRecord:
        """This record plus `(agent, thesis)` pairs issued at `issued_at`, to be scored later.
        Hold theses are skipped: they make no directional claim."""
        _require_aware(issued_at, "issued_at")
        added = []
        for agent, thesis in theses:
            if thesis.stance == "hold":
                continue
            days = self.config.horizon_days or thesis.horizon_days
            added.append(
                PendingThesis(
                    agent=agent,
                    symbol=thesis.symbol,
                    issued_at=issued_at,
                    due=issued_at + timedelta(days=days),
                    direction=1 if thesis.stance == "buy" else -1,
                    confidence=thesis.confidence,
                )
            )
        if not added:
            return self
        return self.model_copy(update={"pending": (*self.pending, *added)})

    def scored(self, now: datetime, closes: Mapping[str, CloseHistory]) -> TrackRecord:
        """Score every pending thesis whose exit close is known at `now`.

        `closes` maps a symbol to its closes, oldest first, reaching back to the oldest pending
        thesis of that symbol; closes after `now` are ignored. A symbol left out keeps its
        theses pending. A thesis with no close known at its issue time (or a non-positive one)
        can never be scored and is dropped once its exit close is known."""
        _require_aware(now, "now")
        if self.scored_through is not None and now < self.scored_through:
            raise CoordinationError(
                f"a track record scored through {self.scored_through.isoformat()!r} cannot score "
                f"at the earlier {now.isoformat()!r}: time only moves forward"
            )
        known = {symbol: _Known.cut(symbol, series, now) for symbol, series in closes.items()}
        still_pending: list[PendingThesis] = []
        ready: list[tuple[PendingThesis, Outcome | None]] = []
        for pending in self.pending:
            history = known.get(pending.symbol)
            exit_ = history.first_at_or_after(pending.due) if history is not None else None
            if history is None or exit_ is None:
                still_pending.append(pending)
                continue
            entry = history.last_at_or_before(pending.issued_at)
            outcome = None
            if entry is not None and entry[1] > 0:
                outcome = Outcome(
                    symbol=pending.symbol,
                    issued_at=pending.issued_at,
                    exit_at=exit_[0],
                    direction=pending.direction,
                    confidence=pending.confidence,
                    forward_return=exit_[1] / entry[1] - 1.0,
                )
            ready.append((pending, outcome))
        # Scored in a fixed order, so the rolling window keeps the same theses however the
        # pending ones happen to be ordered.
        ready.sort(key=lambda pair: (pair[0].due, pair[0].issued_at, pair[0].agent, pair[0].symbol))
        outcomes = {agent: list(done) for agent, done in self.outcomes.items()}
        for pending, outcome in ready:
            if outcome is not None:
                outcomes.setdefault(pending.agent, []).append(outcome)
        window = self.config.window
        return self.model_copy(
            update={
                "scored_through": now,
                "pending": tuple(still_pending),
                "outcomes": {agent: tuple(done[-window:]) for agent, done in outcomes.items()},
            }
        )

    def skill(self, agent: str) -> AgentSkill:
        """The agent's shrunk skill and weight; an unknown agent gets the neutral prior."""
        cfg = self.config
        done = self.outcomes.get(agent, ())
        k = cfg.prior_strength
        decided = [o for o in done if o.forward_return != 0.0]
        hits = sum(1 for o in decided if o.direction * o.forward_return > 0)
        hit_rate = hits / len(decided) if decided else None
        # A Beta prior with k pseudo-theses at 0.5; with k = 0 and nothing decided, 0.5 itself.
        total = len(decided) + k
        hit_shrunk = (hits + 0.5 * k) / total if total > 0 else 0.5
        ic = None
        if len(done) >= cfg.min_ic_points:
            ic = rank_correlation([o.conviction for o in done], [o.forward_return for o in done])
        ic_shrunk = 0.0 if ic is None else ic * len(done) / (len(done) + k)
        skill = (1.0 - cfg.ic_share) * (2.0 * hit_shrunk - 1.0) + cfg.ic_share * ic_shrunk
        skill = min(1.0, max(-1.0, skill))
        weight = max(cfg.floor, NEUTRAL_WEIGHT + cfg.gain * skill)
        return AgentSkill(
            agent=agent, scored=len(done), hit_rate=hit_rate, ic=ic, skill=skill, weight=weight
        )

    def weight(self, agent: str) -> float:
        return self.skill(agent).weight

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (times as ISO strings) that `from_dict` restores exactly."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrackRecord:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise CoordinationError(f"not a saved track record: {exc}") from exc


def rank_correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson correlation of average ranks (ties share their mean rank).
    None when fewer than two pairs or either side is constant."""
    if len(xs) != len(ys):
        raise CoordinationError(
            f"rank correlation needs equal lengths, got {len(xs)!r} and {len(ys)!r}"
        )
    if len(xs) < 2:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0.0 or syy == 0.0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def closes_from_view(
    view: PointInTimeView, symbols: Iterable[str], limit: int | None = None
) -> dict[str, list[tuple[datetime, float]]]:
    """The closes a `PointInTimeView` shows now, stamped with each bar's close time, for
    `TrackRecord.scored`. `limit` keeps only the last bars; it must still reach back to the
    oldest pending thesis, or that thesis loses its entry price."""
    return {
        symbol: [(bar.close_time, float(bar.close)) for bar in view.bars(symbol, limit)]
        for symbol in symbols
    }


# ---- internals ----------------------------------------------------------------------------------


class _Known:
    """One symbol's closes known at `now`, searchable by time."""

    def __init__(self, times: list[datetime], values: list[float]) -> None:
        self.times = times
        self.values = values

    @classmethod
    def cut(cls, symbol: str, series: CloseHistory, now: datetime) -> _Known:
        times: list[datetime] = []
        values: list[float] = []
        for moment, close in series:
            _require_aware(moment, f"{symbol} close time")
            if times and moment <= times[-1]:
                raise CoordinationError(
                    f"{symbol} closes must be in strictly increasing time order: "
                    f"{moment.isoformat()!r} follows {times[-1].isoformat()!r}"
                )
            if not math.isfinite(close):
                raise CoordinationError(
                    f"{symbol} close at {moment.isoformat()!r} is not finite: {close!r}"
                )
            times.append(moment)
            values.append(float(close))
        # The point-in-time cut: whatever the caller passed, nothing after now is seen.
        count = bisect_right(times, now)
        return cls(times[:count], values[:count])

    def last_at_or_before(self, moment: datetime) -> tuple[datetime, float] | None:
        i = bisect_right(self.times, moment)
        return (self.times[i - 1], self.values[i - 1]) if i else None

    def first_at_or_after(self, moment: datetime) -> tuple[datetime, float] | None:
        i = bisect_left(self.times, moment)
        return (self.times[i], self.values[i]) if i < len(self.times) else None


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        mean_rank = (start + end) / 2.0 + 1.0
        for i in order[start : end + 1]:
            ranks[i] = mean_rank
        start = end + 1
    return ranks


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CoordinationError(f"{what} must be timezone-aware, got {moment!r}")
