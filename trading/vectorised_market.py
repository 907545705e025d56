"""The arrays of one config's window for the vectorised path (`trading.vectorised`): closes,
volumes and unit costs at every step of the replay's timeline, prepared once per market and
shared by every genome scored on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import pandas as pd

from trading.costs import BPS
from trading.data import BarSeries, Catalog
from trading.data.series import from_ns
from trading.domain import Bar, Instrument
from trading.errors import ConfigError
from trading.metrics import infer_periods_per_year
from trading.replay import ReplayBars, ReplayConfig

Floats = np.ndarray[Any, np.dtype[np.float64]]
Ints = np.ndarray[Any, np.dtype[np.int64]]

# Widening of float bounds, far beyond float error (~1e-15 relative): too wide only costs an
# exact check, too narrow could skip a trade.
SLACK: Final = 1e-9
# Unit roundoff of float64: the bound on the relative error of one rounded operation.
_U: Final = float(np.finfo(np.float64).eps) / 2


class UnsupportedError(ConfigError):
    """A config (or data) the vectorised path cannot reproduce exactly; run the replay instead."""


class Market:
    """The arrays of one config's window, prepared once and shared by every genome scored on it."""

    def __init__(
        self,
        catalog: Catalog,
        config: ReplayConfig,
        instruments: Mapping[str, Instrument] | None = None,
    ) -> None:
        bars = ReplayBars(catalog, config)  # the replay's own window and its errors
        self.config = config
        self.symbols = config.symbols
        given = instruments or {}
        # Every symbol's instrument, defaulted as the replay's sizing, gate and executor do, so
        # none of them builds a default per call.
        self.instruments = {s: given.get(s) or Instrument(s) for s in self.symbols}
        self.series = [bars.series[s] for s in self.symbols]
        steps = np.asarray(bars.steps, dtype=np.int64)
        self.positions = [_aligned_positions(s, steps) for s in self.series]
        self.steps = len(steps)
        # Closes at each step, one row per symbol, for equity and the candidate search.
        self.closes = np.vstack(
            [s.close[p] for s, p in zip(self.series, self.positions, strict=True)]
        )
        first = self.series[0]
        self.index = pd.DatetimeIndex([from_ns(t) for t in first.times[self.positions[0]]])
        # What `compute_metrics` would infer from the index, which every genome shares.
        self.periods_per_year = infer_periods_per_year(self.index)
        self._cumsums: dict[int, Floats] = {}
        self._volume_sums = [np.concatenate(([0.0], np.cumsum(s.volume))) for s in self.series]
        self.participation_cap = float(config.costs.participation_cap)
        # `proposals_for_targets`' cost of one unit at each step's close, in float, for the search.
        costs = config.costs
        fee_rate = float(1 + (costs.taker_fee_bps + costs.commission_bps) / BPS)
        self.spread_rate = float(1 + costs.half_spread_bps / BPS)
        self.ticks = [
            float(self.instrument(s).price_increment) if costs.half_spread_bps else 0.0
            for s in self.symbols
        ]
        self.lots = [float(self.instrument(s).quantity_increment) for s in self.symbols]
        self.fee_rate = fee_rate
        self.per_share = float(costs.commission_per_share)
        self.per_unit = np.vstack(
            [
                (self.closes[k] * self.spread_rate + self.ticks[k]) * fee_rate + self.per_share
                for k in range(len(self.symbols))
            ]
        )

    def under_cap(self, k: int, step: int, quantity: float) -> bool:
        """Whether `quantity` is surely within the participation cap of the bar at `step` (the
        executor's average of the volumes before it), judged from running sums of volume:
        then the exact average need not be computed, unless impact pricing uses it."""
        sums = self._volume_sums[k]
        end = int(self.positions[k][step])
        start = max(0, end - self.config.costs.volume_window)
        if end == start or sums[end] == 0.0:
            return True  # no volume seen (none traded, or no data): no cap
        # A running sum of m non-negative terms errs by at most m u times its value.
        error = 2 * (end + 1) * _U * sums[end]
        lowest = (sums[end] - sums[start] - error) / (end - start)
        return bool(quantity * (1 + SLACK) < self.participation_cap * lowest * (1 - SLACK))

    def unit_cost(self, k: int, price: float) -> float:
        """One row of `per_unit` at another price (the same float operations)."""
        return (price * self.spread_rate + self.ticks[k]) * self.fee_rate + self.per_share

    def bar(self, k: int, step: int) -> Bar:
        return self.series[k].bar(int(self.positions[k][step]))

    def instrument(self, symbol: str) -> Instrument:
        return self.instruments[symbol]

    def cumsum(self, k: int) -> Floats:
        """Running sums of symbol k's closes with a leading zero (for rolling means)."""
        found = self._cumsums.get(k)
        if found is None:
            found = self._cumsums[k] = np.concatenate(([0.0], np.cumsum(self.series[k].close)))
        return found


def _aligned_positions(series: BarSeries, steps: Ints) -> Ints:
    """Which bar of `series` closes at each step; every step must have one, and each bar must
    open no earlier than the previous one closed (else an order would wait a bar)."""
    index = np.searchsorted(series.close_times, steps)
    inside = index < len(series)
    if not inside.all() or not (series.close_times[index] == steps).all():
        raise UnsupportedError(
            f"{series.symbol} has no bar at some close times of the other symbols in the window; "
            "the vectorised path needs one shared calendar (use run_replay)"
        )
    if (series.times[index[1:]] < series.close_times[index[:-1]]).any():
        raise UnsupportedError(
            f"{series.symbol} bars overlap (a bar opens before the previous one closes), so a "
            "market order would not fill on the next bar; use run_replay"
        )
    return index.astype(np.int64)
