"""Point-in-time factor series: the VIX and the Fama-French factors that `arch` ships.

Each value carries the moment it became known. A VIX close is known when its day ends (as a
daily bar closes a day after its label); a Fama-French month is known at the month's end, the
first moment its return could have been measured (Ken French publishes later still, so this
errs towards knowing too early, never by more than his lag). `PointInTimeFactors` cuts every
series at the clock's now, as `PointInTimeView` does for bars: nothing after now exists.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from trading.clock import Clock
from trading.data.series import to_ns
from trading.errors import DataError, UnknownSymbolError

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]

# The Fama-French columns of arch's file, in percent, under the names tools use.
_FRENCH: Final = {"Mkt-RF": "MKT_RF", "SMB": "SMB", "HML": "HML", "RF": "RF"}
FAMA_FRENCH: Final = ("MKT_RF", "SMB", "HML")
_DESCRIPTIONS: Final = {
    "VIX": "CBOE VIX index, daily close 2014-01-03 to 2019-01-03 (bundled with arch)",
    "MKT_RF": "Fama-French market excess return, monthly 1926-07 to 2018-11, as a fraction",
    "SMB": "Fama-French size factor (small minus big), monthly, as a fraction",
    "HML": "Fama-French value factor (high minus low book-to-market), monthly, as a fraction",
    "RF": "One-month Treasury bill rate, monthly, as a fraction",
}


@dataclass(frozen=True, slots=True)
class FactorSeries:
    """One factor: `periods` label what each value measures (a day, a month), `known_at` is
    when it became known, both int64 ns since the epoch, oldest first."""

    name: str
    description: str
    frequency: str  # "daily" or "monthly"
    periods: IntArray
    known_at: IntArray
    values: FloatArray


class PointInTimeFactors:
    """Factor series as known at `clock.now()`: a value exists once its `known_at` <= now."""

    def __init__(self, factors: dict[str, FactorSeries], clock: Clock) -> None:
        self._factors = factors
        self._clock = clock

    def names(self) -> list[str]:
        return list(self._factors)

    def info(self, name: str) -> FactorSeries:
        """The factor's description and frequency (its arrays are whole: use `series`)."""
        return self._known(name)

    def series(self, name: str, limit: int | None = None) -> pd.Series:
        """The last `limit` known values (all when None), indexed by their period label."""
        factor = self._known(name)
        count = int(factor.known_at.searchsorted(to_ns(self._clock.now()), side="right"))
        start = 0 if limit is None else max(0, count - limit)
        index = pd.DatetimeIndex(pd.to_datetime(factor.periods[start:count], unit="ns", utc=True))
        return pd.Series(factor.values[start:count], index=index, name=name, copy=True)

    def _known(self, name: str) -> FactorSeries:
        factor = self._factors.get(name.upper())
        if factor is None:
            raise UnknownSymbolError(
                f"unknown factor {name!r}; available: {', '.join(self._factors)}"
            )
        return factor


def _arch_file(folder: str) -> Path:
    # Read directly, as the bundled bars are: importing arch takes over a second.
    spec = importlib.util.find_spec("arch")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the bundled factors need the 'arch' package: pip install arch")
    return Path(spec.submodule_search_locations[0]) / "data" / folder / f"{folder}.csv.gz"


@functools.cache
def bundled_factors() -> dict[str, FactorSeries]:
    """VIX (daily) and the Fama-French factors (monthly), as `arch` ships them."""
    # FRED's layout: month/day/year, and "." on holidays (no close), which are left out.
    raw = pd.read_csv(_arch_file("vix"), index_col="Date", na_values=".")
    vix = raw["vix"].dropna()
    vix.index = pd.to_datetime(vix.index, format="%m/%d/%Y")
    days = np.asarray(pd.DatetimeIndex(vix.index).tz_localize(UTC).as_unit("ns").asi8)
    one_day = to_ns(datetime(1970, 1, 2, tzinfo=UTC))
    factors = {
        "VIX": FactorSeries(
            "VIX", _DESCRIPTIONS["VIX"], "daily", days, days + one_day, vix.to_numpy(float)
        )
    }
    french = pd.read_csv(_arch_file("frenchdata"), index_col="Date")
    months = [datetime(int(m) // 100, int(m) % 100, 1, tzinfo=UTC) for m in french.index]
    periods = np.array([to_ns(m) for m in months], dtype=np.int64)
    ends = np.array([to_ns(_next_month(m)) for m in months], dtype=np.int64)
    for column, name in _FRENCH.items():
        values = french[column].to_numpy(float) / 100.0
        factors[name] = FactorSeries(name, _DESCRIPTIONS[name], "monthly", periods, ends, values)
    return factors


def _next_month(month: datetime) -> datetime:
    return (month + timedelta(days=32)).replace(day=1)
