"""Every source looks a symbol up the same way."""

from __future__ import annotations

import pytest

from trading.data import BundledSource, Catalog, MarketDataSource
from trading.data.symbols import known_symbol
from trading.data.universe import UniverseSource
from trading.errors import UnknownSymbolError


def test_a_symbol_is_matched_without_case_and_returned_as_offered() -> None:
    assert known_symbol("spx", {"SPX", "IXIC"}) == "SPX"


def test_an_unknown_symbol_names_the_source_and_what_it_offers_sorted() -> None:
    with pytest.raises(
        UnknownSymbolError, match=r"^unknown symbol 'x' in f\.csv; available: A, B$"
    ):
        known_symbol("x", ["B", "A"], "f.csv")
    with pytest.raises(UnknownSymbolError, match=r"^unknown symbol 'x'; available: A, B$"):
        known_symbol("x", ["B", "A"])


@pytest.mark.parametrize("source", [BundledSource(), UniverseSource()])
def test_bundled_sources_refuse_an_unknown_symbol_naming_themselves(
    source: MarketDataSource,
) -> None:
    with pytest.raises(UnknownSymbolError) as raised:
        source.load("NOPE")
    assert str(raised.value).startswith(f"unknown symbol 'NOPE' in {source.name}; available: ")


def test_the_catalog_lists_every_symbol_it_knows_when_one_is_unknown() -> None:
    catalog = Catalog.default()
    with pytest.raises(UnknownSymbolError) as raised:
        catalog.load("nope")
    assert str(raised.value) == f"unknown symbol 'nope'; available: {', '.join(catalog.symbols())}"
