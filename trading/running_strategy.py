"""One agent's per-symbol strategy across the bars of a run: on every bar the decision
`Decision(strategy_targets(kind, params, snapshot))`, for the cost of what changed.

A replay asks a quant agent for a decision on every bar, and most bars change nothing: the
same signals give the same targets. What `strategy_targets` looks up per call (the strategy,
its share of the weight, whether it rebalances or shorts) is looked up once here; a bar whose
signals equal the previous bar's gets the previous `Decision` object back (frozen, and its
targets are never written to once built); the SMA crossover keeps its sums from bar to bar
(`trading.sma_cross_tracker`, with a bound that proves numpy's answer or asks numpy), and RSI
its Wilder averages (`trading.rsi_tracker`, TA-Lib's floats). The closes still come from the
snapshot's point-in-time view on every bar, the only door to market data: a tracker reads only
the closes new since its last bar (`PointInTimeView.closes_since`), whose token says whether
they continue the ones it read; the other strategies take the visible closes' array.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from trading.data.view import PointInTimeView
from trading.decision import Decision, Snapshot
from trading.domain import ZERO
from trading.rsi_tracker import RsiTracker
from trading.sma_cross_tracker import Closes, SmaCrossTracker
from trading.strategies import (
    STRATEGIES,
    QuantParams,
    RsiParams,
    SmaCrossParams,
    share_of_weight,
)

# A symbol's signal from its visible closes and the position's direction (+1, -1, 0).
SymbolSignal = Callable[[Closes, int], int]


class Tracker(Protocol):
    """A signal kept from close to close (`SmaCrossTracker`, `RsiTracker`): None from
    `restart` or `advance` asks for `resolve` on the closes array."""

    def restart(self, values: list[float], current: int) -> int | None: ...
    def advance(self, new: list[float], current: int) -> int | None: ...
    def resolve(self, closes: Closes, current: int) -> int: ...


class _Fed:
    """One symbol's tracker and how far its closes have been read: `token` and `count` as
    `PointInTimeView.closes_since` gave them (one continuity check for either tracker)."""

    __slots__ = ("count", "symbol", "token", "tracker")

    def __init__(self, symbol: str, tracker: Tracker) -> None:
        self.symbol, self.tracker = symbol, tracker
        self.token: object = None
        self.count = 0

    def signal(self, view: PointInTimeView, current: int) -> int:
        symbol, tracker = self.symbol, self.tracker
        token, count, new = view.closes_since(symbol, self.count)
        if token is self.token and count >= self.count:
            signal = tracker.advance(new, current)
        else:  # a new view or series, or a clock that went back: read them all
            token, count, new = view.closes_since(symbol, 0)
            signal = tracker.restart(new, current)
            self.token = token
        self.count = count
        return tracker.resolve(view.closes(symbol), current) if signal is None else signal


class _Sliced:
    """One symbol's signal from the whole array of its visible closes, every bar."""

    __slots__ = ("signal_of", "symbol")

    def __init__(self, symbol: str, signal_of: SymbolSignal) -> None:
        self.symbol, self.signal_of = symbol, signal_of

    def signal(self, view: PointInTimeView, current: int) -> int:
        return self.signal_of(view.closes(self.symbol), current)


class RunningStrategy:
    """`strategy_targets` of a per-symbol strategy as a `Decision`, bar after bar."""

    def __init__(self, kind: str, params: QuantParams) -> None:
        strategy = STRATEGIES[kind]
        self._kind, self._params = kind, params
        self._rebalances = strategy.rebalances
        self._allow_short = params.allow_short
        self._symbols: tuple[str, ...] | None = None
        self._signals: list[_Fed | _Sliced] = []
        self._share = ZERO
        # Per symbol of the last decision: its signal, or None where the target is left out
        # (a strategy that does not rebalance, already on the side its signal says).
        self._key: list[int | None] | None = None
        self._last: Decision | None = None

    def decision(self, snapshot: Snapshot) -> Decision:
        symbols = snapshot.symbols
        if symbols is not self._symbols and symbols != self._symbols:
            self._track(symbols)
        view, positions = snapshot.view, snapshot.portfolio.positions
        allow_short, rebalances = self._allow_short, self._rebalances
        key: list[int | None] = []
        for symbol_signal in self._signals:
            position = positions.get(symbol_signal.symbol)  # `Portfolio.quantity`, no call
            if position is None:  # flat: no Decimal to compare
                current = 0
            else:
                held = position.quantity
                current = 1 if held > ZERO else -1 if held < ZERO else 0
            signal = symbol_signal.signal(view, current)
            if signal < 0 and not allow_short:
                signal = 0
            key.append(signal if rebalances or not signal == current != 0 else None)
        last = self._last
        if last is not None and key == self._key:
            return last
        share = self._share
        targets: dict[str, Decimal] = {
            symbol_signal.symbol: share * signal
            for symbol_signal, signal in zip(self._signals, key, strict=True)
            if signal is not None
        }
        self._key, self._last = key, Decision(targets)
        return self._last

    def _track(self, symbols: tuple[str, ...]) -> None:
        """Signals and share for a (new) set of symbols; nothing of the last one is kept."""
        self._symbols = symbols
        self._signals = [_symbol_signal(symbol, self._kind, self._params) for symbol in symbols]
        self._share = share_of_weight(self._params.weight, len(symbols))
        self._key = self._last = None


def _symbol_signal(symbol: str, kind: str, params: QuantParams) -> _Fed | _Sliced:
    """One symbol's signal: a tracker of its own where the strategy keeps one."""
    if isinstance(params, SmaCrossParams):
        return _Fed(symbol, SmaCrossTracker(params.fast, params.slow))
    if isinstance(params, RsiParams):
        return _Fed(symbol, RsiTracker(params.period, params.lower, params.upper))
    return _Sliced(symbol, functools.partial(STRATEGIES[kind].signal, params))
