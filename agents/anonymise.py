"""Against memorisation: the universe as an LLM agent sees it under `anonymise: true`.

A model may remember 1990-2022. Anonymised, it is shown symbols renamed `ASSET_01`, ...
(assigned by a seeded shuffle, so the names' order says nothing about the tickers), prices
rebased to 100 at the run's first bar, and times as day offsets from that bar. The ledger
still trades the real series: only what reaches the model changes, and its answer is mapped
back to the real symbols before anyone weighs it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from trading.data import PointInTimeView
from trading.data.series import to_ns
from trading.errors import ConfigError

REBASED_TO = 100.0


@dataclass(slots=True)
class Anonymiser:
    """The renaming and rebasing of one run: `start` is its first bar's time."""

    symbols: tuple[str, ...]
    start: datetime
    seed: int = 0
    aliases: dict[str, str] = field(init=False)  # real -> alias
    _bases: dict[str, float] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if len(set(self.symbols)) != len(self.symbols):
            raise ConfigError(f"anonymise: symbols are listed twice: {list(self.symbols)!r}")
        # A seeded shuffle of names, not a secret.
        chooser = random.Random(self.seed)  # noqa: S311
        shuffled = chooser.sample(sorted(self.symbols), len(self.symbols))
        width = max(2, len(str(len(shuffled))))
        self.aliases = {s: f"ASSET_{n:0{width}d}" for n, s in enumerate(shuffled, start=1)}

    def alias(self, symbol: str) -> str:
        return self.aliases[symbol]

    def real(self) -> dict[str, str]:
        """alias -> real symbol."""
        return {alias: symbol for symbol, alias in self.aliases.items()}

    def day(self, time: datetime) -> str:
        """`time` as the model sees it: calendar days from the run's first bar."""
        return f"day {(time.date() - self.start.date()).days:+d} of the run"

    def factor(self, view: PointInTimeView, symbol: str) -> float:
        """What multiplies `symbol`'s closes to put its close at the run's first bar at 100;
        before the first bar has closed, its latest close is the base."""
        base = self._bases.get(symbol)
        if base is not None:
            return REBASED_TO / base
        arrays = view.arrays(symbol)
        at = int(np.searchsorted(arrays.times, to_ns(self.start)))
        if at < len(arrays.close):
            base = float(arrays.close[at])
            self._bases[symbol] = base  # closed, so it never changes
        else:
            base = float(arrays.close[-1])
        return REBASED_TO / base


def presented(symbols: Sequence[str], anonymiser: Anonymiser | None) -> dict[str, str]:
    """real symbol -> the name the model is shown."""
    if anonymiser is None:
        return {s: s for s in symbols}
    return {s: anonymiser.alias(s) for s in symbols}
