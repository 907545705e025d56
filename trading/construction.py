"""Portfolio construction: the step between a team's merged views and the risk gate.

The views say which names to favour (a positive target weight) and how much of equity to put
into them (the sum of those weights); construction decides how that sum is split, by
skfolio's estimators on the daily returns visible at "now":

- `views`: the weights as the views give them;
- `equal_weight`: the same share in every favoured name;
- `inverse_volatility`: shares proportional to 1 / volatility;
- `min_variance`: the long-only minimum-variance portfolio (`MeanRisk`);
- `hrp`: hierarchical risk parity (`HierarchicalRiskParity`).

Names the views sell or short keep the views' weights; names the views leave out keep their
positions. The `RiskLimits` caps then hold on the whole vector at once, so they scale it in
proportion rather than letting the gate cut whichever order it reviews last: a name above
`max_position_weight` is cut to it and the excess goes to the names below it (water-filling),
then the vector shrinks to `max_gross_exposure` and to `max_net_exposure`. Last, the
rebalance happens only when it moves the book by more than the drift threshold (one-way
turnover as a share of equity); below it the decision is no change, so turnover and fees stay
honest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import Field

from trading.closed import Closed
from trading.decision import Snapshot
from trading.portfolio_strategies import Floats, aligned_closes
from trading.risk import RiskLimits

_PLACES = Decimal("0.000001")


class Method(StrEnum):
    VIEWS = "views"
    EQUAL_WEIGHT = "equal_weight"
    INVERSE_VOLATILITY = "inverse_volatility"
    MIN_VARIANCE = "min_variance"
    HRP = "hrp"


class ConstructionConfig(Closed):
    method: Method = Field(Method.VIEWS, description="How the favoured names share the weight.")
    window: int = Field(
        252, ge=21, le=1260, description="Bars of daily returns the estimators read."
    )
    drift_threshold: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Rebalance only when the one-way turnover to the targets exceeds this "
        "share of equity; below it, positions ride.",
    )


@dataclass(frozen=True, slots=True)
class Constructed:
    """The targets to send to the gate ({} when no rebalance is due), and what happened."""

    targets: dict[str, Decimal]
    turnover: float  # one-way, as a share of equity, of the constructed targets
    rebalanced: bool
    note: str


def construct(
    config: ConstructionConfig,
    views: Mapping[str, Decimal],
    snapshot: Snapshot,
    limits: RiskLimits | None = None,
) -> Constructed:
    """The views' targets built into a portfolio, capped, and kept only past the drift."""
    favoured = [s for s in snapshot.symbols if views.get(s, Decimal(0)) > 0]
    invested = float(sum((views[s] for s in favoured), Decimal(0)))
    weights = {s: float(w) for s, w in views.items()}
    method = config.method
    if favoured and method is not Method.VIEWS:
        shares = _shares(config, favoured, snapshot)
        if shares is None:
            method = Method.VIEWS  # too little history for the estimator: as the views say
        else:
            weights |= {s: invested * float(w) for s, w in zip(favoured, shares, strict=True)}
    kept = {s: float(snapshot.portfolio.weight(s)) for s in snapshot.symbols if s not in weights}
    weights = _capped(weights, kept, limits or RiskLimits())
    turnover = 0.5 * sum(abs(w - float(snapshot.portfolio.weight(s))) for s, w in weights.items())
    targets = {s: Decimal(repr(w)).quantize(_PLACES) for s, w in weights.items()}
    note = f"construction {method}: {len(favoured)} favoured names, turnover {turnover:.4f}"
    if turnover <= config.drift_threshold:
        note += f" within the drift threshold {config.drift_threshold}, so no rebalance"
        return Constructed({}, turnover, False, note)
    return Constructed(targets, turnover, True, note)


def _shares(config: ConstructionConfig, names: list[str], snapshot: Snapshot) -> Floats | None:
    """The method's split of 1 between `names`, or None while their history is too short."""
    if config.method is Method.EQUAL_WEIGHT or len(names) == 1:
        return np.full(len(names), 1.0 / len(names))
    sub = Snapshot(snapshot.now, tuple(names), snapshot.view, snapshot.portfolio)
    closes = aligned_closes(sub, config.window + 1)
    if closes.shape[1] < config.window + 1:
        return None
    returns = (closes[:, 1:] / closes[:, :-1] - 1.0).T  # bars x names, as skfolio wants
    weights = np.asarray(_estimator(config.method).fit(returns).weights_, dtype=np.float64)
    weights = np.clip(weights, 0.0, None)  # a solver's -1e-12 are zeros
    normalised: Floats = weights / weights.sum()
    return normalised


def _estimator(method: Method) -> Any:
    # Imported here: skfolio pulls in scikit-learn and cvxpy, seconds only this pays.
    from skfolio.optimization import (
        HierarchicalRiskParity,
        InverseVolatility,
        MeanRisk,
        ObjectiveFunction,
    )

    if method is Method.INVERSE_VOLATILITY:
        return InverseVolatility()
    if method is Method.MIN_VARIANCE:
        return MeanRisk(objective_function=ObjectiveFunction.MINIMIZE_RISK, min_weights=0.0)
    if method is Method.HRP:
        return HierarchicalRiskParity()
    raise ValueError(f"no estimator for {method!r}")


def _capped(
    weights: dict[str, float], kept: Mapping[str, float], limits: RiskLimits
) -> dict[str, float]:
    """Per-name cap by water-filling within each side, then gross and net by scaling; the
    positions `kept` (names the views leave out) use their share of both caps first."""
    cap = float(limits.max_position_weight)
    longs = _water_filled({s: w for s, w in weights.items() if w > 0}, cap)
    shorts = _water_filled({s: -w for s, w in weights.items() if w < 0}, cap)
    result = {s: longs.get(s, 0.0) - shorts.get(s, 0.0) for s in weights}
    room = max(0.0, float(limits.max_gross_exposure) - sum(abs(w) for w in kept.values()))
    gross = sum(abs(w) for w in result.values())
    if gross > room:
        result = {s: w * room / gross for s, w in result.items()}
    if limits.max_net_exposure is not None:
        held = sum(kept.values())
        net = sum(result.values())
        allowed = float(limits.max_net_exposure)
        if abs(held + net) > allowed and net != 0.0:
            # The scale that brings the net to the cap's edge on the side it overshoots.
            edge = allowed if held + net > 0 else -allowed
            scale = max(0.0, min(1.0, (edge - held) / net))
            result = {s: w * scale for s, w in result.items()}
    return result


def _water_filled(weights: dict[str, float], cap: float) -> dict[str, float]:
    """Positive weights with none above `cap`: what a capped name loses goes to the others in
    proportion to their weights, while they have room; the total never grows."""
    result = dict(weights)
    for _ in range(len(result)):
        over = {s for s, w in result.items() if w > cap}
        if not over:
            break
        excess = sum(result[s] - cap for s in over)
        result |= dict.fromkeys(over, cap)
        room = {s: w for s, w in result.items() if w < cap}
        total = sum(room.values())
        if total <= 0:
            break
        result |= {s: w + excess * w / total for s, w in room.items()}
    return result
