"""The bundled stock universe: daily adjusted closes of 20 S&P 500 constituents that the
`skfolio` package ships (BSD-3), 1990-01-02 to 2022-12-28, as the catalog symbols AAPL, AMD, ...

The data has closes only, so its series are close-only (`BarSeries.close_only`): orders fill at
the next bar's close (market on close) with the same cost model, and no participation cap
applies, there being no volume. The 20 names were picked with hindsight (all of them survive
today), so anything measured on them is survivorship-biased; `dataset_notes` says so for every
report and leaderboard that trades them.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import pandas as pd

from trading.data.series import BarSeries, close_only_series
from trading.data.symbols import known_symbol
from trading.errors import DataError

SP20: Final = (
    "AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO",
    "LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM",
)  # fmt: skip
# Named universes: `tradepit arena --universe sp20` trades all of these at once.
UNIVERSES: Final = {"sp20": SP20}
SOURCE_NAME: Final = "bundled:skfolio"

SURVIVORSHIP_NOTE: Final = (
    "survivorship-biased universe: the 20 S&P 500 stocks bundled with skfolio were picked with "
    "hindsight (all still listed in 2022), so returns on them overstate what a strategy could "
    "have earned choosing among the stocks of 1990"
)
CLOSE_ONLY_NOTE: Final = (
    "closes only: orders on close-only series fill at the next bar's close (market on close) "
    "with the same costs; the data has no open, high, low or volume, so the participation cap "
    "is off"
)


class UniverseSource:
    """Offline real data: the 20 S&P 500 constituents' daily adjusted closes that `skfolio`
    ships. Bars are labelled at 00:00 UTC of their date and close a day later."""

    name = SOURCE_NAME

    def symbols(self) -> list[str]:
        return list(SP20)

    def describe(self, symbol: str) -> str:
        """A human description of one symbol of the universe."""
        return (
            f"{self._known(symbol)}: daily adjusted close 1990-01-02 to 2022-12-28, one of 20 "
            "S&P 500 stocks bundled with skfolio (BSD-3); closes only, survivorship-biased"
        )

    def load(self, symbol: str) -> BarSeries:
        return _load(self._known(symbol))

    def _known(self, symbol: str) -> str:
        return known_symbol(symbol, SP20, self.name)


@functools.cache
def _closes() -> pd.DataFrame:
    # The file `skfolio.datasets.load_sp500_dataset` reads, read directly: importing skfolio
    # pulls in scikit-learn and takes seconds, while the file is all we need.
    spec = importlib.util.find_spec("skfolio")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the bundled stock universe needs the 'skfolio' package: pip install skfolio"
        )
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "sp500_dataset.csv.gz"
    frame = pd.read_csv(path, index_col="Date", parse_dates=True)
    missing = [s for s in SP20 if s not in frame.columns]
    if missing:
        raise DataError(f"{path}: the skfolio dataset lacks {missing!r}")
    return frame


@functools.cache
def _load(symbol: str) -> BarSeries:
    # Stored with three decimals (0.264 for AAPL in 1990, split-adjusted): that is its tick.
    return close_only_series(symbol, SOURCE_NAME, _closes()[symbol], price_decimals=3)


def dataset_notes(series: Iterable[BarSeries]) -> list[str]:
    """What a report must say about the series it traded: the survivorship bias of the bundled
    universe, and the market-on-close fills of any close-only series."""
    chosen = list(series)
    notes = []
    if any(s.source == SOURCE_NAME for s in chosen):
        notes.append(SURVIVORSHIP_NOTE)
    if any(s.close_only for s in chosen):
        notes.append(CLOSE_ONLY_NOTE)
    return notes
