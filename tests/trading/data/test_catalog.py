"""Catalog: one case-insensitive list of symbols over several sources; later sources win."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import FrameSource, daily_series
from trading.data import BarSeries, Catalog, MarketDataSource, SymbolInfo
from trading.data.universe import SP20
from trading.errors import UnknownSymbolError


class CountingSource(FrameSource):
    def __init__(self, series: dict[str, BarSeries], name: str = "counting") -> None:
        super().__init__(series, name)
        self.loads: list[str] = []

    def load(self, symbol: str) -> BarSeries:
        self.loads.append(symbol)
        return super().load(symbol)


def test_unknown_symbol_error_lists_the_available_symbols() -> None:
    with pytest.raises(UnknownSymbolError) as caught:
        Catalog.default().load("FOO")
    available = ", ".join(sorted(["IXIC", "SPX", *SP20]))
    assert str(caught.value) == f"unknown symbol 'FOO'; available: {available}"


def test_symbols_are_looked_up_case_insensitively() -> None:
    source = FrameSource({"Btc": daily_series("Btc", [1.0, 2.0])})
    catalog = Catalog([source])
    assert catalog.symbols() == ["BTC"]
    assert catalog.load("btc").symbol == "Btc"


def test_a_later_source_overrides_an_earlier_one_for_the_same_symbol() -> None:
    first = FrameSource({"SPX": daily_series("SPX", [1.0]), "A": daily_series("A", [2.0])})
    second = FrameSource({"SPX": daily_series("SPX", [9.0])})
    catalog = Catalog([first, second])
    assert catalog.symbols() == ["A", "SPX"]
    assert catalog.load("SPX").close.tolist() == [9.0]


def test_series_are_loaded_once_and_then_served_from_memory() -> None:
    source = CountingSource({"A": daily_series("A", [1.0, 2.0])})
    catalog = Catalog([source])
    assert catalog.load("A") is catalog.load("a")
    assert source.loads == ["A"]


def test_a_series_first_asked_for_in_another_case_is_the_one_its_own_name_finds() -> None:
    source = CountingSource({"Btc": daily_series("Btc", [1.0, 2.0])})
    catalog = Catalog([source])
    first = catalog.load("btc")
    assert catalog.load("BTC") is first
    assert catalog.load("Btc") is first
    assert catalog.load("btc") is first
    assert source.loads == ["Btc"]


def test_describe_summarises_each_symbol() -> None:
    catalog = Catalog([FrameSource({"A": daily_series("A", [1.0, 2.0, 3.0])}, name="mem")])
    assert catalog.describe() == [
        SymbolInfo(
            symbol="A",
            source="test",
            first=datetime(2020, 1, 1, tzinfo=UTC),
            last=datetime(2020, 1, 3, tzinfo=UTC),
            rows=3,
            timeframe=timedelta(days=1),
        )
    ]


def test_default_catalog_offers_the_bundled_symbols() -> None:
    infos = {info.symbol: info for info in Catalog.default().describe()}
    assert set(infos) == {"IXIC", "SPX", *SP20}
    assert infos["SPX"].rows == 5031
    assert infos["SPX"].source == "bundled:arch"


def test_a_data_file_adds_its_symbol_and_overrides_a_bundled_one(tmp_path: Path) -> None:
    text = "date,open,high,low,close\n2021-01-04,1,2,1,2\n2021-01-05,2,3,2,3\n"
    (tmp_path / "spx.csv").write_text(text)
    (tmp_path / "eth.csv").write_text(text)
    catalog = Catalog.default([tmp_path / "spx.csv", tmp_path / "eth.csv"])
    assert catalog.symbols() == sorted(["ETH", "IXIC", "SPX", *SP20])
    assert len(catalog.load("SPX")) == 2
    assert catalog.load("spx").source == str(tmp_path / "spx.csv")


def test_sources_satisfy_the_protocol() -> None:
    source: MarketDataSource = FrameSource({})
    assert Catalog([source]).symbols() == []
