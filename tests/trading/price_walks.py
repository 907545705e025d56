"""Close series for the bar-to-bar signal trackers' tests: read-only, as a view's are."""

from __future__ import annotations

import numpy as np

from trading.sma_cross_tracker import Closes


def frozen(values: Closes) -> Closes:
    """`values`, made read-only as the point-in-time view's closes are."""
    values.flags.writeable = False
    return values


def walk(seed: int, size: int, scale: float = 100.0) -> Closes:
    """A seeded geometric random walk of `size` closes starting near `scale`."""
    steps = np.random.default_rng(seed).normal(0.0, 0.01, size)
    return frozen(scale * np.exp(np.cumsum(steps)))
