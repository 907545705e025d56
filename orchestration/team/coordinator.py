"""The decision coordinator: several agents' theses on one symbol in, one target weight out,
with how strongly the team agreed and who did not.

Choices, with the reasons:

- Weights: each valid thesis weighs `confidence x track-record weight` (see `track_record`). The
  track-record weight has a positive floor, so a poor record shrinks a vote but never reverses it.
- Hold: a hold thesis votes for the *current* weight ("keep what we have"), whatever
  target_weight it states, because that is what hold means to the rest of the system (a symbol
  left out of a `Decision` keeps its position). A current weight beyond -1..1 counts as the
  nearest bound.
- Target: the weighted mean of the effective targets, which is a convex combination and so lies
  within their range and within -1..1.
- Direction: the side of the market a weight stands for, long, short or flat, where flat is
  |weight| <= `flat_band`. It does not depend on the current position, so a buy thesis that
  wants less than we hold still counts as long.
- Consensus: the share of weight whose effective target is on the same side as the final
  target, 0..1. Dissent: every vote on another side, with its share and how far it sat from
  the final target.
- Confidence: consensus x the track-weighted mean confidence; high only when the team agrees
  and is sure.
- Action: buy or sell when the merged target moves more than `hold_band` away from the current
  weight, else hold. The default band is the rebalance threshold of `trading.sizing`, below
  which no order would be sent anyway.
- Majority: the team acts only when the side of the merged target carries at least
  `min_consensus` of the weight (default half); otherwise it holds and says so. A weighted mean
  can land on the minority's side when the minority is extreme: a bull wanting +0.90 with 37%
  of the weight and a bear wanting -0.10 with 63% average to +0.27, a buy against most of the
  team. The rule keeps the mean for sizing and lets only a majority set the direction.
- Quorum: abstentions are left out of the weights and listed with their reasons. With fewer
  than `min_agents` valid theses (default 2: one surviving voice is not a team's view, and a
  provider outage should not hand the portfolio to whoever is left) the decision is hold, with
  that reason. A team of one sets `min_agents=1`.

Everything here is a pure function of its inputs: no clock, no randomness.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from pydantic import Field

from agents.specs import Abstention, Thesis
from orchestration.team.errors import CoordinationError
from orchestration.team.track_record import NEUTRAL_WEIGHT, TrackRecord
from trading.closed import Closed
from trading.decision import Decision

Action = Literal["buy", "sell", "hold"]
# The direction a ballot takes: 1 long, 0 flat, -1 short. Not `trading.domain.Side`, an
# order's buy or sell: a ballot may take none.
Direction = Literal[-1, 0, 1]
# Target weights reach the domain as Decimal with this many places: a millionth of equity.
WEIGHT_PLACES = Decimal("0.000001")


# An agent's answer on one symbol: its thesis, or its abstention (no valid thesis after the
# re-asks, a timeout...) with the reason.
Ballot = Thesis | Abstention


class TrackWeights(Protocol):
    """Where agents' track-record weights come from; `TrackRecord` is one."""

    def weight(self, agent: str) -> float: ...


class CoordinatorConfig(Closed):
    min_agents: int = Field(2, ge=1, le=100, description="Valid theses needed to act.")
    flat_band: float = Field(
        0.01, ge=0.0, le=0.5, description="|weight| at or below this counts as flat."
    )
    hold_band: float = Field(
        0.02, ge=0.0, le=0.5, description="A smaller move from the current weight is a hold."
    )
    min_consensus: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Share of the weight the merged target's side must carry to act.",
    )


class Vote(Closed):
    """How one agent's thesis counted."""

    agent: str
    stance: Action
    confidence: float
    stated_target: float = Field(description="The target_weight the thesis gave.")
    target: float = Field(description="The target it counted for (the current one for hold).")
    side: Direction
    track_weight: float
    weight: float = Field(description="confidence x track_weight.")
    share: float = Field(description="weight / all weights, 0..1.")


class Dissent(Closed):
    """A vote on another side of the market than the final target."""

    agent: str
    stance: Action
    target: float
    share: float
    gap: float = Field(description="|its target - the merged target|.")


class CoordinatedDecision(Closed):
    """The team's decision for one symbol, before the risk gate; `model_dump(mode="json")`
    is its transcript record."""

    symbol: str
    action: Action
    target_weight: float = Field(description="The weight to hold: merged, or current on hold.")
    merged_weight: float | None = Field(description="Weighted mean target; None without quorum.")
    current_weight: float
    confidence: float
    consensus: float
    votes: tuple[Vote, ...]
    dissent: tuple[Dissent, ...]
    abstentions: dict[str, str] = Field(description="agent -> reason")
    rationale: str


def coordinate(
    symbol: str,
    ballots: Mapping[str, Ballot],
    track: TrackWeights | None = None,
    *,
    current_weight: float = 0.0,
    config: CoordinatorConfig | None = None,
) -> CoordinatedDecision:
    """Merge the agents' ballots (agent name -> thesis or abstention) on `symbol` into one
    decision. `track` gives each agent's track-record weight (None: every agent neutral);
    `current_weight` is the position's weight of equity now (`float(portfolio.weight(s))`)."""
    cfg = config or CoordinatorConfig()
    if not math.isfinite(current_weight):
        raise CoordinationError(f"current weight of {symbol!r} is not finite: {current_weight!r}")
    abstentions = {a: b.reason for a, b in sorted(ballots.items()) if isinstance(b, Abstention)}
    theses = {a: b for a, b in sorted(ballots.items()) if isinstance(b, Thesis)}
    for agent, ballot in ballots.items():
        if ballot.symbol != symbol:
            raise CoordinationError(
                f"agent {agent!r} sent a ballot on {ballot.symbol!r} to the {symbol!r} decision"
            )
        if isinstance(ballot, Abstention) and ballot.agent != agent:
            raise CoordinationError(
                f"the abstention filed under {agent!r} names agent {ballot.agent!r}"
            )
    hold = _Holder(symbol, current_weight, abstentions)
    if len(theses) < cfg.min_agents:
        return hold(f"{len(theses)} valid thesis(es), fewer than the {cfg.min_agents} required")

    weighed = []
    for agent, thesis in theses.items():
        track_weight = NEUTRAL_WEIGHT if track is None else track.weight(agent)
        if not (math.isfinite(track_weight) and track_weight > 0):
            raise CoordinationError(
                f"track weight of {agent!r} must be positive and finite, got {track_weight!r}"
            )
        weighed.append((agent, thesis, track_weight, thesis.confidence * track_weight))
    total = sum(weight for *_, weight in weighed)
    votes = tuple(
        _vote(agent, thesis, current_weight, track_weight, weight, total, cfg)
        for agent, thesis, track_weight, weight in weighed
    )
    if total <= 0.0:
        return hold("no valid thesis carries any confidence", votes)

    targets = [v.target for v in votes]
    merged = sum(v.weight * v.target for v in votes) / total
    # Clamped to the inputs' range so float rounding cannot carry a convex combination out.
    merged = min(max(targets), max(min(targets), merged))
    side = _side(merged, cfg.flat_band)
    consensus = min(1.0, sum(v.share for v in votes if v.side == side))
    track_total = sum(v.track_weight for v in votes)
    mean_confidence = sum(v.track_weight * v.confidence for v in votes) / track_total
    dissent = sorted(
        (
            Dissent(
                agent=v.agent,
                stance=v.stance,
                target=v.target,
                share=v.share,
                gap=abs(v.target - merged),
            )
            for v in votes
            if v.side != side
        ),
        key=lambda d: (-d.share, d.agent),
    )
    move = merged - current_weight
    action: Action = "hold" if abs(move) <= cfg.hold_band else ("buy" if move > 0 else "sell")
    split = action != "hold" and consensus < cfg.min_consensus
    if split:
        action = "hold"
    return CoordinatedDecision(
        symbol=symbol,
        action=action,
        target_weight=current_weight if action == "hold" else merged,
        merged_weight=merged,
        current_weight=current_weight,
        confidence=min(1.0, consensus * mean_confidence),
        consensus=consensus,
        votes=votes,
        dissent=tuple(dissent),
        abstentions=abstentions,
        rationale=_rationale(
            symbol, action, merged, current_weight, consensus, votes, dissent, split=split, cfg=cfg
        )
        + _abstained(abstentions),
    )


def record_ballots(
    record: TrackRecord, issued_at: datetime, ballots: Mapping[str, Ballot]
) -> TrackRecord:
    """`record` plus the valid theses among `ballots`, issued at `issued_at`, for scoring once
    their horizons pass. Abstentions have nothing to score."""
    return record.with_theses(
        issued_at, ((a, b) for a, b in sorted(ballots.items()) if isinstance(b, Thesis))
    )


def to_decision(results: Iterable[CoordinatedDecision]) -> Decision:
    """One `trading.decision.Decision` for the symbols coordinated this cycle.

    A hold leaves its symbol out, which keeps the position exactly as it is; buy and sell set
    the merged target, rounded half-even to `WEIGHT_PLACES` on its way into `Decimal` (the float
    is formatted, not converted bit for bit, so 0.1 becomes 0.100000, not 0.1000000000000000055).
    `details` carries each symbol's consensus and confidence."""
    targets: dict[str, Decimal] = {}
    details: dict[str, float] = {}
    lines: list[str] = []
    seen: set[str] = set()
    for result in results:
        if result.symbol in seen:
            raise CoordinationError(f"symbol {result.symbol!r} was coordinated twice")
        seen.add(result.symbol)
        if result.action != "hold":
            targets[result.symbol] = weight_to_decimal(result.target_weight)
        details[f"{result.symbol}.consensus"] = result.consensus
        details[f"{result.symbol}.confidence"] = result.confidence
        lines.append(result.rationale)
    return Decision(targets, rationale="\n".join(lines), details=details)


def weight_to_decimal(weight: float) -> Decimal:
    """A float weight as an exact domain Decimal with `WEIGHT_PLACES` places."""
    if not (math.isfinite(weight) and -1.0 <= weight <= 1.0):
        raise CoordinationError(f"a target weight must lie within -1..1, got {weight!r}")
    # + 0 turns a rounded "-0.000000" into plain zero.
    return Decimal(f"{weight:.6f}").quantize(WEIGHT_PLACES) + 0


# ---- internals ----------------------------------------------------------------------------------


class _Holder:
    """Builds the hold decision of a symbol that cannot be decided, with the reason."""

    def __init__(self, symbol: str, current: float, abstentions: dict[str, str]) -> None:
        self.symbol, self.current, self.abstentions = symbol, current, abstentions

    def __call__(self, reason: str, votes: tuple[Vote, ...] = ()) -> CoordinatedDecision:
        return CoordinatedDecision(
            symbol=self.symbol,
            action="hold",
            target_weight=self.current,
            merged_weight=None,
            current_weight=self.current,
            confidence=0.0,
            consensus=0.0,
            votes=votes,
            dissent=(),
            abstentions=self.abstentions,
            rationale=f"{self.symbol}: hold at {self.current:+.2f}: {reason}."
            + _abstained(self.abstentions),
        )


def _vote(
    agent: str,
    thesis: Thesis,
    current: float,
    track_weight: float,
    weight: float,
    total: float,
    cfg: CoordinatorConfig,
) -> Vote:
    # A position that drifted past -1..1 (a short after a rally) is held at the nearest bound:
    # a target never leaves the range every thesis and the domain keep to.
    target = min(1.0, max(-1.0, current)) if thesis.stance == "hold" else thesis.target_weight
    return Vote(
        agent=agent,
        stance=thesis.stance,
        confidence=thesis.confidence,
        stated_target=thesis.target_weight,
        target=target,
        side=_side(target, cfg.flat_band),
        track_weight=track_weight,
        weight=weight,
        share=weight / total if total > 0 else 0.0,
    )


def _side(weight: float, flat_band: float) -> Direction:
    if abs(weight) <= flat_band:
        return 0
    return 1 if weight > 0 else -1


_SIDE_NAMES: dict[int, str] = {1: "long", 0: "flat", -1: "short"}


def _rationale(
    symbol: str,
    action: Action,
    merged: float,
    current: float,
    consensus: float,
    votes: tuple[Vote, ...],
    dissent: list[Dissent],
    *,
    split: bool,
    cfg: CoordinatorConfig,
) -> str:
    if split:
        side = _SIDE_NAMES[_side(merged, cfg.flat_band)]
        head = (
            f"{symbol}: hold at {current:+.2f} (team target {merged:+.2f} is {side}, but only "
            f"{consensus:.0%} of the weight is; acting needs {cfg.min_consensus:.0%})"
        )
    elif action == "hold":
        head = f"{symbol}: hold at {current:+.2f} (team target {merged:+.2f} is within the band)"
    else:
        head = f"{symbol}: {action} to {merged:+.2f} from {current:+.2f}"
    text = f"{head}; {len(votes)} vote(s), consensus {consensus:.0%} of weight."
    if dissent:
        text += " Dissent: " + ", ".join(
            f"{d.agent} ({d.stance}, wanted {d.target:+.2f}, {d.share:.0%} of weight)"
            for d in dissent
        )
        text += "."
    return text


def _abstained(abstentions: Mapping[str, str]) -> str:
    if not abstentions:
        return ""
    return " Abstained: " + "; ".join(f"{a} ({r})" for a, r in abstentions.items()) + "."
