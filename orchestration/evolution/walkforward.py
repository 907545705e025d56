"""Walk-forward folds: training windows, each followed by an embargo and a validation window.

The folds are laid over the bars of the market between the config's start and end, anchored
at the end so the last validation window closes on the last bar (the most recent data judges
the final adoption). Validation windows follow each other without overlap; fold k trains on
bars that all lie before its validation window by at least `embargo_bars` bars. The first
training window is `train_bars` long in both modes; an expanding one then grows by a
validation window per fold (train_bars + k * validation_bars), a rolling one slides. Bars
before the first training window (more history than the folds need) are left out of both:

    expanding:  [train 0 ......][embargo][val 0]
                [train 1 ...............][embargo][val 1]
    rolling:    [train 0 ......][embargo][val 0]
                       [train 1 ......][embargo][val 1]

A replay takes whole days, so each window is also checked in dates: with intraday bars an
embargo shorter than a day would let a training day and a validation day coincide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from orchestration.evolution.config import Market, WalkForward
from trading.data import Catalog
from trading.data.series import from_ns
from trading.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Window:
    label: str
    first: int  # bar positions on the market's timeline, inclusive
    last: int
    start: date
    end: date

    @property
    def bars(self) -> int:
        return self.last - self.first + 1

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "bars": self.bars}


@dataclass(frozen=True, slots=True)
class Fold:
    index: int
    train: Window
    validation: Window


def timeline(catalog: Catalog, market: Market) -> list[int]:
    """Opening times (ns) of every bar of any symbol between start and end, in order: the
    same bars a replay over that range walks."""
    start_ns = np.datetime64(market.start, "ns").astype(np.int64)
    end_ns = np.datetime64(market.end, "ns").astype(np.int64) + 86_400 * 1_000_000_000
    stamps = []
    for symbol in market.symbols:
        times = catalog.load(symbol).times
        stamps.append(times[(times >= start_ns) & (times < end_ns)])
    return [int(t) for t in np.unique(np.concatenate(stamps))]


def lay_out(times: list[int], walk: WalkForward) -> list[Fold]:
    k, train, val, gap = walk.folds, walk.train_bars, walk.validation_bars, walk.embargo_bars
    needed = train + gap + k * val
    if needed > len(times):
        raise ConfigError(
            f"walk_forward: {k} folds of {val} validation bars after {train} training and "
            f"{gap} embargo bars need {needed} bars; market.start to market.end holds "
            f"{len(times)}"
        )
    offset = len(times) - needed
    folds = []
    for i in range(k):
        val_first = offset + train + gap + i * val
        train_last = val_first - gap - 1
        train_first = offset if walk.mode == "expanding" else train_last - train + 1
        folds.append(
            Fold(
                i,
                _window(f"f{i}-train", times, train_first, train_last),
                _window(f"f{i}-validation", times, val_first, val_first + val - 1),
            )
        )
    for fold in folds:
        if fold.train.end >= fold.validation.start:
            raise ConfigError(
                f"walk_forward.embargo_bars: fold {fold.index} would train on "
                f"{fold.train.end} and validate from {fold.validation.start}; replays take whole "
                "days, so with intraday bars the embargo must span at least a day"
            )
    return folds


def _window(label: str, times: list[int], first: int, last: int) -> Window:
    return Window(label, first, last, from_ns(times[first]).date(), from_ns(times[last]).date())
