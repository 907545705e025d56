"""Rule-based strategies: the signals behind the quant baseline agents.

Each strategy is a pure function of the closes visible at "now" and the current direction of
the position, with typed, bounded parameters: the genome evolution tunes. With several symbols
the weight is split evenly between them. They live in the core so that replays, tools (a
client's backtest request) and agents all use the one implementation.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple, Self

import numpy as np
from pydantic import Field, ValidationError, model_validator

from trading.decision import Snapshot
from trading.domain import ZERO
from trading.errors import ConfigError
from trading.portfolio_strategies import PORTFOLIO_STRATEGIES, PortfolioParams, portfolio_targets
from trading.quant_params import QuantParams
from trading.rsi_tracker import rsi_signal, talib_rsi
from trading.sma_cross_tracker import Closes, sma_cross_signal

__all__ = [
    "PORTFOLIO_STRATEGIES",
    "STRATEGIES",
    "QuantParams",
    "all_kinds",
    "params_model",
    "share_of_weight",
    "strategy_targets",
    "strategy_views",
    "validate_params",
]


def _require_below(params: QuantParams, low: str, high: str, relation: str = "below") -> None:
    """Parameter `low` must lie below `high`: a ValueError quoting both otherwise."""
    a, b = getattr(params, low), getattr(params, high)
    if a >= b:
        raise ValueError(f"{low} ({a}) must be {relation} {high} ({b})")


class BuyAndHoldParams(QuantParams):
    pass


class SmaCrossParams(QuantParams):
    fast: int = Field(10, ge=2, le=250, description="Bars in the fast moving average.")
    slow: int = Field(50, ge=3, le=500, description="Bars in the slow moving average.")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Self:
        _require_below(self, "fast", "slow", "shorter than")
        return self


class MomentumParams(QuantParams):
    lookback: int = Field(126, ge=2, le=504, description="Bars over which return is measured.")
    threshold: float = Field(0.0, ge=0.0, le=0.5, description="Least |return| that signals.")


class MeanReversionParams(QuantParams):
    window: int = Field(20, ge=5, le=250, description="Bars in the mean and deviation.")
    entry_z: float = Field(2.0, ge=0.5, le=4.0, description="|z-score| that opens a position.")
    exit_z: float = Field(0.5, ge=0.0, le=3.0, description="|z-score| under which it closes.")

    @model_validator(mode="after")
    def _exit_inside_entry(self) -> Self:
        _require_below(self, "exit_z", "entry_z")
        return self


class RsiParams(QuantParams):
    period: int = Field(14, ge=2, le=100, description="Bars in Wilder's RSI.")
    lower: float = Field(30.0, ge=5.0, le=50.0, description="RSI under which to buy.")
    upper: float = Field(70.0, ge=50.0, le=95.0, description="RSI over which to sell.")

    @model_validator(mode="after")
    def _lower_below_upper(self) -> Self:
        _require_below(self, "lower", "upper")
        return self


# A signal: +1 long, -1 short (flat when shorting is off), 0 flat, from the closes up to now and
# the position's current direction (for strategies that hold between entry and exit).
SignalFn = Callable[[Any, Closes, int], int]


def _buy_and_hold(params: BuyAndHoldParams, closes: Closes, current: int) -> int:
    return 1


def _sma_cross(params: SmaCrossParams, closes: Closes, current: int) -> int:
    if closes.size < params.slow:
        return 0
    return sma_cross_signal(closes, params.fast, params.slow)


def _momentum(params: MomentumParams, closes: Closes, current: int) -> int:
    if closes.size <= params.lookback:
        return 0
    change = closes[-1] / closes[-1 - params.lookback] - 1.0
    if change > params.threshold:
        return 1
    if change < -params.threshold:
        return -1
    return 0


def _mean_reversion(params: MeanReversionParams, closes: Closes, current: int) -> int:
    if closes.size < params.window:
        return 0
    z = _z_score(closes[-params.window :])
    if z is None:
        return current
    if z <= -params.entry_z:
        return 1
    if z >= params.entry_z:
        return -1
    if abs(z) <= params.exit_z:
        return 0
    return current


def _z_score(window: Closes) -> float | None:
    """The last value's z-score in the window (sample deviation), None where the deviation is
    0: `(window[-1] - window.mean()) / window.std(ddof=1)` in the operations numpy's own
    `_mean` and `_var` make (sum, divide, subtract, square, sum, divide, square root), so the
    same float, without their argument handling (~4 us a bar of 20 closes)."""
    size = window.size
    mean = np.add.reduce(window) / size
    deviation = math.sqrt(np.add.reduce(np.square(window - mean)) / (size - 1))
    if deviation == 0.0:
        return None
    return float((window[-1] - mean) / deviation)


def _rsi(params: RsiParams, closes: Closes, current: int) -> int:
    if closes.size <= params.period:
        return 0
    # TA-Lib's RSI is causal (Wilder smoothing seeded from the first bars), so its value at t
    # uses only closes up to t (`trading.rsi_tracker` carries it from bar to bar).
    return rsi_signal(talib_rsi(closes, params.period), params.lower, params.upper, current)


@dataclass(frozen=True, slots=True)
class Strategy:
    params: type[QuantParams]
    signal: SignalFn
    description: str
    # False: a position the signal already holds is left as it is, never resized as its
    # weight drifts (buy and hold buys once).
    rebalances: bool = True


STRATEGIES: Mapping[str, Strategy] = {
    "buy_and_hold": Strategy(
        BuyAndHoldParams, _buy_and_hold, "Buy once and hold.", rebalances=False
    ),
    "sma_cross": Strategy(
        SmaCrossParams, _sma_cross, "Long while the fast SMA is above the slow one."
    ),
    "momentum": Strategy(
        MomentumParams, _momentum, "Long after a rise over the lookback, out after a fall."
    ),
    "mean_reversion": Strategy(
        MeanReversionParams,
        _mean_reversion,
        "Buy when the z-score of price falls below -entry, close inside +-exit.",
    ),
    "rsi": Strategy(RsiParams, _rsi, "Buy when RSI is oversold, sell when overbought."),
}


def all_kinds() -> list[str]:
    """Every quant strategy: the per-symbol ones, then the cross-sectional ones."""
    return [*STRATEGIES, *PORTFOLIO_STRATEGIES]


def params_model(kind: str) -> type[QuantParams]:
    """The parameter model of any strategy kind (`KeyError` for an unknown one)."""
    found = STRATEGIES.get(kind) or PORTFOLIO_STRATEGIES.get(kind)
    if found is None:
        raise KeyError(kind)
    return found.params


def strategy_views(kind: str, params: QuantParams, snapshot: Snapshot) -> dict[str, Decimal]:
    """The weight strategy `kind` wants in every symbol of the snapshot: its opinion, as a team
    member gives it, whatever the portfolio already holds. A cross-sectional strategy gives
    its views on its rebalancing days only."""
    if isinstance(params, PortfolioParams):
        return portfolio_targets(kind, params, snapshot)
    return {symbol: view.weight for symbol, view in _signals(kind, params, snapshot).items()}


def strategy_targets(kind: str, params: QuantParams, snapshot: Snapshot) -> dict[str, Decimal]:
    """The weights strategy `kind` trades to: its views, less the symbols it already holds the
    way its signal says when the strategy does not rebalance (buy and hold buys once)."""
    if isinstance(params, PortfolioParams):
        return portfolio_targets(kind, params, snapshot)
    rebalances = STRATEGIES[kind].rebalances
    return {
        symbol: view.weight
        for symbol, view in _signals(kind, params, snapshot).items()
        if rebalances or not view.held
    }


class _View(NamedTuple):
    weight: Decimal
    held: bool  # the portfolio is already on the side the signal says (not flat)


def _signals(kind: str, params: QuantParams, snapshot: Snapshot) -> dict[str, _View]:
    signal_of = STRATEGIES[kind].signal
    share = share_of_weight(params.weight, len(snapshot.symbols))
    views: dict[str, _View] = {}
    for symbol in snapshot.symbols:
        closes = snapshot.view.closes(symbol)
        held = snapshot.portfolio.quantity(symbol)
        current = 1 if held > ZERO else -1 if held < ZERO else 0
        signal = signal_of(params, closes, current)
        if signal < 0 and not params.allow_short:
            signal = 0
        views[symbol] = _View(share * signal, signal == current != 0)
    return views


@functools.lru_cache(maxsize=64, typed=True)
def share_of_weight(weight: float, symbols: int) -> Decimal:
    """Each symbol's part of the strategy's weight (asked for on every bar)."""
    return Decimal(repr(weight)) / symbols


def validate_params(kind: str, params: Mapping[str, object] | None = None) -> QuantParams:
    """Typed parameters of strategy `kind` from raw values (strings from a command line are
    converted), with errors that name the strategy, the parameter and what is allowed."""
    found = STRATEGIES.get(kind) or PORTFOLIO_STRATEGIES.get(kind)
    if found is None:
        available = ", ".join(sorted(all_kinds()))
        raise ConfigError(f"unknown agent {kind!r}; available: {available}")
    try:
        return found.params.model_validate(dict(params or {}))
    except ValidationError as error:
        raise ConfigError(_explain(kind, found.params, error)) from None


def _explain(kind: str, params: type[QuantParams], error: ValidationError) -> str:
    valid = ", ".join(params.model_fields)
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown parameter {where!r}")
        elif where:
            problems.append(f"parameter {where!r}={item.get('input')!r}: {item['msg']}")
        else:
            problems.append(item["msg"].removeprefix("Value error, "))
    return f"agent {kind!r}: {'; '.join(problems)} (parameters: {valid})"
