"""Where bars come from: the dataset bundled with `arch`, the user's files, and a catalog over
both. Sources load whole series; only `PointInTimeView` decides what a run may see of them."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Protocol

import pandas as pd

from trading.data._files import read_bar_file
from trading.data.series import BarSeries
from trading.data.symbols import known_symbol
from trading.data.universe import UniverseSource
from trading.errors import DataError


class MarketDataSource(Protocol):
    """Anything that can list its symbols and load one symbol's whole history."""

    name: str

    def symbols(self) -> list[str]: ...

    def load(self, symbol: str) -> BarSeries: ...


@dataclass(frozen=True)
class SymbolInfo:
    """What a catalog holds for one symbol."""

    symbol: str
    source: str
    first: datetime
    last: datetime
    rows: int
    timeframe: timedelta
    description: str = ""  # what a bundled dataset is (its origin and caveats); "" for files


# ---- the bundled dataset ------------------------------------------------------------------------

# `arch` ships these as real daily history (Yahoo Finance), 1999-01-04 to 2018-12-31.
_BUNDLED: Final = {
    "SPX": ("sp500", "S&P 500 index, daily OHLCV 1999-01-04 to 2018-12-31 (bundled with arch)"),
    "IXIC": (
        "nasdaq",
        "NASDAQ Composite index (not the NASDAQ-100), daily OHLCV 1999-01-04 to 2018-12-31 "
        "(bundled with arch)",
    ),
}


class BundledSource:
    """Offline real data: the S&P 500 (`SPX`) and NASDAQ Composite (`IXIC`) daily bars that the
    `arch` package ships. Bars are labelled at 00:00 UTC of their date and close a day later."""

    name = "bundled:arch"

    def symbols(self) -> list[str]:
        return sorted(_BUNDLED)

    def describe(self, symbol: str) -> str:
        """A human description of one bundled symbol."""
        return _BUNDLED[self._known(symbol)][1]

    def load(self, symbol: str) -> BarSeries:
        return _load_bundled(self._known(symbol))

    def _known(self, symbol: str) -> str:
        return known_symbol(symbol, _BUNDLED, self.name)


@functools.cache
def _load_bundled(symbol: str) -> BarSeries:
    name = _BUNDLED[symbol][0]
    # Read arch's file directly: importing arch itself pulls in statsmodels and scipy and takes
    # over a second, while the file is all we need.
    spec = importlib.util.find_spec("arch")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the bundled dataset needs the 'arch' package: pip install arch")
    path = Path(spec.submodule_search_locations[0]) / "data" / name / f"{name}.csv.gz"
    raw = pd.read_csv(path, index_col="Date", parse_dates=True)
    # Adj Close is left out: these are price indices, and OHLC must describe one and the same bar.
    frame = raw[["Open", "High", "Low", "Close", "Volume"]].rename(columns=str.lower)
    frame.index = pd.DatetimeIndex(frame.index).tz_localize("UTC")
    # The prices were stored as float32 (1229.229980 for 1229.23): two decimals is the real tick.
    # In arch 8.0 no row breaks low <= open, close <= high, before or after rounding (checked in
    # tests), so nothing is repaired; `from_frame` raises if a future release differs.
    return BarSeries.from_frame(symbol, "bundled:arch", frame, timedelta(days=1), price_decimals=2)


# ---- files --------------------------------------------------------------------------------------


class FileSource:
    """Bars from one OHLCV file: CSV (`.csv`, `.csv.gz`) or Parquet (`.parquet`, `.pq`).

    Columns are matched case-insensitively: a time column (date, datetime, time or timestamp; or
    a Parquet DatetimeIndex), open, high, low, close, optional volume (zeros when missing) and an
    optional symbol column for files holding several symbols. A file of closes only, long (time,
    symbol, close) or wide (time, then one column per symbol), gives close-only daily series
    that fill at the next close (`trading.data._files`). A single-symbol file is named by
    `symbol`, or else by its file name upper-cased. Times are ISO dates or datetimes (naive ones
    are UTC), YYYYMMDD, or integer epoch seconds or milliseconds. The file is read on first use;
    any bad cell raises `DataError` naming the file, row, column and value."""

    def __init__(
        self, path: Path, symbol: str | None = None, *, timeframe: timedelta | None = None
    ) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self._symbol = symbol
        self._timeframe = timeframe
        self._series: dict[str, BarSeries] | None = None

    def symbols(self) -> list[str]:
        return sorted(self._read())

    def load(self, symbol: str) -> BarSeries:
        series = self._read()
        return series[known_symbol(symbol, series, self.name)]

    def _read(self) -> dict[str, BarSeries]:
        if self._series is None:
            self._series = read_bar_file(self.path, self._symbol, self._timeframe)
        return self._series


# ---- catalog ------------------------------------------------------------------------------------


class Catalog:
    """All symbols of several sources, looked up case-insensitively. When two sources offer the
    same symbol the later one wins, so a user's file can replace a bundled series."""

    def __init__(self, sources: Sequence[MarketDataSource]) -> None:
        self.sources = tuple(sources)
        self._index: dict[str, tuple[MarketDataSource, str]] | None = None
        self._loaded: dict[str, BarSeries] = {}

    @classmethod
    def default(cls, data_files: Sequence[Path] = ()) -> Catalog:
        """The bundled data (indices and the stock universe) plus one `FileSource` per file
        (files override bundled symbols)."""
        bundled: list[MarketDataSource] = [BundledSource(), UniverseSource()]
        return cls([*bundled, *(FileSource(Path(f)) for f in data_files)])

    def symbols(self) -> list[str]:
        return sorted(self._symbol_index())

    def load(self, symbol: str) -> BarSeries:
        """A symbol's whole history; loaded once, then served from memory."""
        # Kept by the upper-case name; one asked for by it (a replay's view, on every bar)
        # is found without upper-casing it again.
        series = self._loaded.get(symbol)
        if series is not None:
            return series
        key = symbol.upper()
        series = self._loaded.get(key)
        if series is None:
            index = self._symbol_index()
            source, own_name = index[known_symbol(symbol, index)]
            series = self._loaded[key] = source.load(own_name)
        return series

    def describe(self) -> list[SymbolInfo]:
        """One line per symbol, in symbol order (this loads every series)."""
        infos = []
        index = self._symbol_index()
        for symbol in self.symbols():
            series = self.load(symbol)
            source, own_name = index[symbol]
            describe = getattr(source, "describe", None)
            infos.append(
                SymbolInfo(
                    symbol=symbol,
                    source=series.source,
                    first=series.first_time,
                    last=series.last_time,
                    rows=len(series),
                    timeframe=series.timeframe,
                    description=describe(own_name) if callable(describe) else "",
                )
            )
        return infos

    def _symbol_index(self) -> dict[str, tuple[MarketDataSource, str]]:
        # Built on first use: listing a file's symbols means reading the file.
        if self._index is None:
            index: dict[str, tuple[MarketDataSource, str]] = {}
            for source in self.sources:
                for name in source.symbols():
                    index[name.upper()] = (source, name)
            self._index = index
        return self._index
