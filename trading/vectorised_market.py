"""The arrays of one config's window for the vectorised path (`trading.vectorised`): closes,
volumes and unit costs at every step of the replay's timeline, prepared once per market and
shared by every genome scored on it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from operator import add
from typing import Any, Final

import numpy as np
import pandas as pd

from trading.costs import BPS
from trading.data import BarSeries, Catalog
from trading.data.series import from_ns
from trading.domain import Bar, Instrument
from trading.errors import ConfigError
from trading.metrics import equal_weight_buy_and_hold, infer_periods_per_year
from trading.replay_bars import _timeline
from trading.replay_config import ReplayConfig
from trading.sizing import SLACK  # one guard-band width for every float bound
from trading.vectorised_equity import CloseUnits

Floats = np.ndarray[Any, np.dtype[np.float64]]
Ints = np.ndarray[Any, np.dtype[np.int64]]
Signals = np.ndarray[Any, np.dtype[np.int8]]

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
        loaded = {symbol: catalog.load(symbol) for symbol in config.symbols}
        # The replay's own window (`ReplayBars.steps`, as integers) and its errors.
        steps = _timeline(loaded, config)
        self.step_times = steps
        self.config = config
        self.symbols = config.symbols
        given = instruments or {}
        # Every symbol's instrument, defaulted as the replay's sizing, gate and executor do, so
        # none of them builds a default per call.
        self.instruments = {s: given.get(s) or Instrument(s) for s in self.symbols}
        self.series = [loaded[s] for s in self.symbols]
        close_only = [s.symbol for s in self.series if s.close_only]
        if close_only:
            raise UnsupportedError(
                f"{', '.join(close_only)} {'has' if len(close_only) == 1 else 'have'} closes "
                "only, filled at the next close; the vectorised path fills at the next open"
            )
        self.positions = [_aligned_positions(s, steps) for s in self.series]
        self.steps = len(steps)
        self._windows = [
            slice(int(p[0]), int(p[-1]) + 1) if len(p) and p[-1] - p[0] == len(p) - 1 else None
            for p in self.positions
        ]
        # Closes at each step, one row per symbol, for equity and the candidate search.
        self.closes = np.vstack(
            [s.close[p] for s, p in zip(self.series, self.positions, strict=True)]
        )
        first = self.series[0]
        # Each step's label: its first symbol's bar's, as the replay stamps its equity points.
        labels = first.times[self.positions[0]]
        self.stamps = _datetimes(labels)
        # The index `pd.DatetimeIndex(self.stamps)` would be, from the integers.
        self.index = pd.DatetimeIndex(pd.to_datetime(labels // 1_000, unit="us", utc=True))
        self.index = self.index.as_unit("us")
        # The replay's benchmark: equal-weight buy and hold of the symbols, at each point.
        self.benchmark = pd.Series(
            equal_weight_buy_and_hold(self.closes), index=self.index, name="benchmark"
        )
        # What `compute_metrics` would infer from the index, which every genome shares.
        self.periods_per_year = infer_periods_per_year(self.index)
        # Sparse tables of closes: level j holds the extreme of 2**j steps from each step.
        self._lows = [_sparse_table(row, np.minimum) for row in self.closes]
        self._highs = [_sparse_table(row, np.maximum) for row in self.closes]
        self._cumsums: dict[int, Floats] = {}
        self._close_prices: dict[int, list[Decimal]] = {}
        self._close_units: list[CloseUnits] | None = None
        self._volume_sums = [np.concatenate(([0.0], np.cumsum(s.volume))) for s in self.series]
        self.participation_cap = float(config.costs.participation_cap)
        self._caps = [self._surely_under_cap(k) for k in range(len(self.symbols))]
        self._bar_at: list[list[int]] = [p.tolist() for p in self.positions]
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

    def at_steps(self, k: int, values: Signals) -> Signals:
        """The columns of a per-bar table of symbol k at each step (a view when the steps are
        a run of consecutive bars, as with one symbol)."""
        window = self._windows[k]
        return values[:, window] if window is not None else values[:, self.positions[k]]

    def extremes(self, start: int, stop: int) -> tuple[list[float], list[float]]:
        """Each symbol's lowest and highest close over steps [start, stop), from two entries of
        its sparse tables: exactly the minimum and maximum a reduction over the slice gives."""
        level = (stop - start).bit_length() - 1
        other = stop - (1 << level)
        lows = [float(min(table[level][start], table[level][other])) for table in self._lows]
        highs = [float(max(table[level][start], table[level][other])) for table in self._highs]
        return lows, highs

    def under_cap(self, k: int, step: int, quantity: float) -> bool:
        """Whether `quantity` is surely within the participation cap of the bar at `step` (the
        executor's average of the volumes before it): then the exact average need not be
        computed, unless impact pricing uses it."""
        return quantity * (1 + SLACK) < self._caps[k][step]

    def _surely_under_cap(self, k: int) -> list[float]:
        """Per step, a quantity below which an order surely fits the participation cap, judged
        from running sums of volume (infinite where no volume was seen: no cap)."""
        sums = self._volume_sums[k]
        end = self.positions[k]
        start = np.maximum(end - self.config.costs.volume_window, 0)
        # A running sum of m non-negative terms errs by at most m u times its value.
        error = 2 * (end + 1) * _U * sums[end]
        with np.errstate(divide="ignore", invalid="ignore"):
            lowest = (sums[end] - sums[start] - error) / (end - start)
        cap = self.participation_cap * lowest * (1 - SLACK)
        cap[(end == start) | (sums[end] == 0.0)] = np.inf
        caps: list[float] = cap.tolist()
        return caps

    def unit_cost(self, k: int, price: float) -> float:
        """One row of `per_unit` at another price (the same float operations)."""
        return (price * self.spread_rate + self.ticks[k]) * self.fee_rate + self.per_share

    def bar(self, k: int, step: int) -> Bar:
        return self.series[k].bar(self._bar_at[k][step])

    def instrument(self, symbol: str) -> Instrument:
        return self.instruments[symbol]

    def close_prices(self, k: int) -> list[Decimal]:
        """Symbol k's close at each step as its bar holds it (`BarSeries.price`), converted
        at once on first use: the equity between trades is written from these."""
        found = self._close_prices.get(k)
        if found is None:
            series = self.series[k]
            found = self._close_prices[k] = series.prices(series.close[self.positions[k]])
        return found

    def close_units(self) -> list[CloseUnits]:
        """Every symbol's closes at each step as integers of its price units, for the equity
        curve's floats (`trading.vectorised_equity`); prepared on first use."""
        if self._close_units is None:
            self._close_units = []
            for series, positions in zip(self.series, self.positions, strict=True):
                units = series.price_units(series.close[positions])
                largest = int(np.abs(units).max()) if units is not None and len(units) else 0
                self._close_units.append(CloseUnits(units, series.price_decimals or 0, largest))
        return self._close_units

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
            "the vectorised path needs one shared calendar"
        )
    if (series.times[index[1:]] < series.close_times[index[:-1]]).any():
        raise UnsupportedError(
            f"{series.symbol} bars overlap (a bar opens before the previous one closes), so a "
            "market order would not fill on the next bar as the vectorised path assumes"
        )
    return index.astype(np.int64)


def _sparse_table(values: Floats, pick: np.ufunc) -> list[Floats]:
    """Level j: pick (minimum or maximum) of values[i : i + 2**j] at each i where it fits. The
    search reads a few entries of a few levels: left as arrays, not converted to lists."""
    levels = [values]
    width = 1
    while 2 * width <= len(values):
        previous = levels[-1]
        levels.append(pick(previous[:-width], previous[width:]))
        width *= 2
    return levels


def _datetimes(ns: np.ndarray[Any, np.dtype[np.int64]]) -> list[datetime]:
    """`from_ns` of each time (floored to the microsecond, aware UTC), without a Python call
    and a timedelta per time: the first one's, then each the previous plus the gap between
    them, one timedelta per distinct gap. Datetime arithmetic on integers of microseconds is
    exact, and UTC has no offsets to change, so each sum is `from_ns` of its time."""
    if not len(ns):
        return []
    micros = ns // 1_000
    gaps = np.diff(micros)
    spans = {gap: timedelta(microseconds=gap) for gap in np.unique(gaps).tolist()}
    moments = accumulate(map(spans.__getitem__, gaps.tolist()), add, initial=from_ns(ns[0]))
    return list(moments)
