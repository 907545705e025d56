"""Cross-sectional baselines over a universe: each decides target weights for every symbol at
once from the closes visible at "now", on a fixed rebalancing calendar (monthly by default).

- `equal_weight`: 1/n of the invested share in every symbol.
- `xs_momentum`: the 12-1 momentum of Jegadeesh and Titman: rank by the return from 12 months
  to 1 month ago (the last month left out, where returns reverse), hold the top fraction.
- `low_volatility`: hold the fraction with the lowest daily volatility over the window.
- `min_variance`: the long-only minimum-variance portfolio of skfolio's `MeanRisk` optimiser
  on the window's daily returns.
- `factor_rank`: hold the top fraction (a quintile by default) of a declared indicator, the
  declaration `evaluate_factor` takes (`trading.factor_research.Indicator`), spelled as flat
  parameters so that evolution can search each of them; ranked by the same `factor_values`.

Between rebalancing days a strategy returns no targets, so positions ride; on a rebalancing day
sizing skips any move under the run's drift threshold (`ReplayConfig.rebalance_threshold`), so
turnover and fees stay honest. Weights are `Decimal` fractions of equity, as every agent's are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from trading.data.series import from_ns
from trading.decision import Snapshot
from trading.factor_research import QUINTILES, Indicator, IndicatorName, factor_values
from trading.quant_params import QuantParams

Floats = np.ndarray[Any, np.dtype[np.float64]]
# Decimal places of a target weight: finer than any lot, and the same in every run.
_PLACES = Decimal("0.000001")


class PortfolioParams(QuantParams):
    """`weight` is the share of equity invested across the universe (1: fully invested)."""

    monthly: bool = Field(
        True, description="Rebalance on the first bar of each calendar month; false: every bar."
    )


class EqualWeightParams(PortfolioParams):
    pass


class CrossMomentumParams(PortfolioParams):
    lookback: int = Field(252, ge=21, le=756, description="Bars back to the start (12 months).")
    skip: int = Field(21, ge=0, le=126, description="Most recent bars left out (1 month).")
    top: float = Field(0.3, gt=0.0, le=1.0, description="Fraction of the universe held.")


class LowVolatilityParams(PortfolioParams):
    window: int = Field(63, ge=5, le=756, description="Bars of daily returns in the volatility.")
    top: float = Field(0.3, gt=0.0, le=1.0, description="Fraction of the universe held.")


class MinVarianceParams(PortfolioParams):
    window: int = Field(252, ge=21, le=1260, description="Bars of daily returns estimated on.")


class FactorRankParams(PortfolioParams):
    """An `Indicator` declaration, field for field (its `name` is `indicator` here), and the
    fraction of the universe held."""

    indicator: IndicatorName = "momentum"
    window: int = Field(252, ge=1, le=756, description="Bars the indicator looks back.")
    skip: int = Field(21, ge=0, le=252, description="Momentum only: most recent bars left out.")
    direction: Literal["high", "low"] = Field(
        "high", description="high: hold the highest values; low: the lowest."
    )
    top: float = Field(
        1 / QUINTILES, gt=0.0, le=1.0, description="Fraction held (a quintile by default)."
    )

    def declaration(self) -> Indicator:
        """The factor as `evaluate_factor` takes it."""
        return Indicator(
            name=self.indicator, window=self.window, skip=self.skip, direction=self.direction
        )


# Weights from an aligned matrix of closes (symbols x bars, oldest first) or None while the
# history is too short to judge.
WeightsFn = Callable[[Any, Floats], Floats | None]


@dataclass(frozen=True, slots=True)
class PortfolioStrategy:
    params: type[PortfolioParams]
    weights: WeightsFn
    history: Callable[[Any], int]  # closes needed per symbol
    description: str


def _equal_weight(params: EqualWeightParams, closes: Floats) -> Floats:
    n = closes.shape[0]
    return np.full(n, 1.0 / n)


def _top(scores: Floats, fraction: float, highest: bool) -> Floats:
    """Equal weights on the `fraction` of symbols with the best scores (ties by position)."""
    n = len(scores)
    held = max(1, round(n * fraction))
    order = np.argsort(-scores if highest else scores, kind="stable")
    weights = np.zeros(n)
    weights[order[:held]] = 1.0 / held
    return weights


def _momentum(params: CrossMomentumParams, closes: Floats) -> Floats | None:
    if closes.shape[1] <= params.lookback:
        return None
    scores = closes[:, -1 - params.skip] / closes[:, -1 - params.lookback] - 1.0
    return _top(scores, params.top, highest=True)


def _low_volatility(params: LowVolatilityParams, closes: Floats) -> Floats | None:
    if closes.shape[1] <= params.window:
        return None
    returns = np.diff(np.log(closes[:, -1 - params.window :]), axis=1)
    return _top(returns.std(axis=1, ddof=1), params.top, highest=False)


def _factor_rank(params: FactorRankParams, closes: Floats) -> Floats | None:
    table = pd.DataFrame(closes.T)  # bars x symbols, as factor_values takes them
    latest = factor_values(params.declaration(), table).iloc[-1].to_numpy(dtype=np.float64)
    if np.isnan(latest).all():
        return None
    # The factor is oriented already (direction applied): the highest values are held, and a
    # symbol whose history is too short for it is never among them.
    return _top(np.where(np.isnan(latest), -np.inf, latest), params.top, highest=True)


def _factor_history(params: FactorRankParams) -> int:
    # Wilder's RSI smooths from its first value on: a few windows more let it settle close to
    # the value evaluate_factor computes from the whole history.
    window = params.window * 5 if params.indicator == "rsi" else params.window
    return max(window, params.skip) + 1


def _min_variance(params: MinVarianceParams, closes: Floats) -> Floats | None:
    if closes.shape[1] <= params.window:
        return None
    # Imported here: skfolio pulls in scikit-learn and cvxpy, seconds that only this pays.
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    window = closes[:, -1 - params.window :]
    returns = (window[:, 1:] / window[:, :-1] - 1.0).T  # bars x symbols, as skfolio wants
    model = MeanRisk(objective_function=ObjectiveFunction.MINIMIZE_RISK, min_weights=0.0)
    weights = np.asarray(model.fit(returns).weights_, dtype=np.float64)
    weights = np.clip(weights, 0.0, None)  # the solver's -1e-12 are zeros
    normalised: Floats = weights / weights.sum()
    return normalised


PORTFOLIO_STRATEGIES: Mapping[str, PortfolioStrategy] = {
    "equal_weight": PortfolioStrategy(
        EqualWeightParams, _equal_weight, lambda p: 1, "Equal weight in every symbol."
    ),
    "xs_momentum": PortfolioStrategy(
        CrossMomentumParams,
        _momentum,
        lambda p: p.lookback + 1,
        "Hold the top fraction by 12-1 month momentum.",
    ),
    "low_volatility": PortfolioStrategy(
        LowVolatilityParams,
        _low_volatility,
        lambda p: p.window + 1,
        "Hold the fraction with the lowest daily volatility.",
    ),
    "min_variance": PortfolioStrategy(
        MinVarianceParams,
        _min_variance,
        lambda p: p.window + 1,
        "Long-only minimum variance (skfolio MeanRisk).",
    ),
    "factor_rank": PortfolioStrategy(
        FactorRankParams,
        _factor_rank,
        _factor_history,
        "Hold the top quintile of a declared factor (as evaluate_factor takes it).",
    ),
}


def rebalance_due(params: PortfolioParams, snapshot: Snapshot) -> bool:
    """Monthly: the latest visible bar is the first of its calendar month (or the only one)."""
    if not params.monthly:
        return True
    times = snapshot.view.arrays(snapshot.symbols[0]).times
    if len(times) < 2:
        return len(times) == 1
    last, previous = from_ns(int(times[-1])), from_ns(int(times[-2]))
    return (last.year, last.month) != (previous.year, previous.month)


def aligned_closes(snapshot: Snapshot, bars: int) -> Floats:
    """The last `bars` closes of every symbol on the times all of them have, symbols x bars."""
    arrays = [snapshot.view.arrays(s) for s in snapshot.symbols]
    tails = [(a.times[-bars:], a.close[-bars:]) for a in arrays]
    first_times = tails[0][0]
    if all(np.array_equal(t, first_times) for t, _ in tails):
        return np.vstack([c for _, c in tails])
    common = arrays[0].times
    for a in arrays[1:]:
        common = np.intersect1d(common, a.times, assume_unique=True)
    common = common[-bars:]
    rows = [a.close[np.searchsorted(a.times, common)] for a in arrays]
    return np.vstack(rows) if rows else np.empty((0, 0))


def portfolio_targets(kind: str, params: PortfolioParams, snapshot: Snapshot) -> dict[str, Decimal]:
    """The weights `kind` wants on a rebalancing day; {} on other days (positions ride) and
    while its history is too short."""
    if not rebalance_due(params, snapshot):
        return {}
    strategy = PORTFOLIO_STRATEGIES[kind]
    closes = aligned_closes(snapshot, strategy.history(params))
    if closes.shape[1] < strategy.history(params):
        return {}
    weights = strategy.weights(params, closes)
    if weights is None:
        return {}
    invested = Decimal(repr(params.weight))
    return {
        symbol: (Decimal(repr(float(w))) * invested).quantize(_PLACES)
        for symbol, w in zip(snapshot.symbols, weights, strict=True)
    }
