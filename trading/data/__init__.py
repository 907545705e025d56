"""Market data: bar series, their sources (bundled, files and the sp20 stock universe) with one
symbol lookup (`symbols`), a catalog over them, and the point-in-time view through which a run
reads them without seeing the future."""

from trading.data.series import EARLIEST, LATEST, BarSeries
from trading.data.sources import (
    BundledSource,
    Catalog,
    FileSource,
    MarketDataSource,
    SymbolInfo,
)
from trading.data.view import PointInTimeView, VisibleArrays

__all__ = [
    "EARLIEST",
    "LATEST",
    "BarSeries",
    "BundledSource",
    "Catalog",
    "FileSource",
    "MarketDataSource",
    "PointInTimeView",
    "SymbolInfo",
    "VisibleArrays",
]
