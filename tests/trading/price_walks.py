"""Close series for the bar-to-bar signal trackers' tests: read-only, as a view's are."""

from __future__ import annotations

import numpy as np

from trading.running_strategy import Tracker
from trading.sma_cross_tracker import Closes


def frozen(values: Closes) -> Closes:
    """`values`, made read-only as the point-in-time view's closes are."""
    values.flags.writeable = False
    return values


def walk(seed: int, size: int, scale: float = 100.0) -> Closes:
    """A seeded geometric random walk of `size` closes starting near `scale`."""
    steps = np.random.default_rng(seed).normal(0.0, 0.01, size)
    return frozen(scale * np.exp(np.cumsum(steps)))


class BarByBar:
    """A tracker fed one close a bar, as `running_strategy` feeds it from `closes_since`:
    `restart` with the first close, `advance` with each next one, `resolve` where they leave
    the bar to the straightforward computation."""

    def __init__(self, tracker: Tracker, series: Closes) -> None:
        self.tracker, self.series = tracker, series
        self.values = series.tolist()
        self.seen = 0

    def signal(self, current: int = 0) -> int:
        """The signal at the next bar, with the position's direction `current`."""
        n = self.seen + 1
        new = self.values[self.seen : n]
        tracker = self.tracker
        decided = tracker.restart(new, current) if n == 1 else tracker.advance(new, current)
        self.seen = n
        return tracker.resolve(self.series[:n], current) if decided is None else decided


def restarted(tracker: Tracker, closes: Closes, current: int = 0) -> int:
    """The signal of a tracker started afresh on `closes` (a new series, or one that does not
    continue what it read)."""
    decided = tracker.restart(closes.tolist(), current)
    return tracker.resolve(closes, current) if decided is None else decided
