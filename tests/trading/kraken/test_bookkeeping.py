"""A run's bookkeeping at Kraken, on its own: which order ids are the run's, and what Kraken
should hold after the run's fills."""

from __future__ import annotations

from decimal import Decimal

from trading.domain import Side
from trading.kraken import Pair
from trading.kraken.bookkeeping import expected_balances, run_owns


def pair(symbol: str) -> Pair:
    base, quote = symbol.split("/")
    return Pair(
        symbol=symbol,
        id=f"X{base}Z{quote}",
        altname=f"{base}{quote}",
        base=base,
        quote=quote,
        base_asset=f"X{base}",
        quote_asset=f"Z{quote}",
        price_decimals=1,
        price_increment=Decimal("0.1"),
        quantity_increment=Decimal("0.00000001"),
        minimum_quantity=Decimal("0.0001"),
        minimum_cost=Decimal("0.5"),
        taker_fee_bps=None,
        maker_fee_bps=None,
    )


def test_a_run_owns_its_own_keys_on_its_symbols_and_not_a_longer_run_ids() -> None:
    owns = run_owns("a", ["BTC/USD"])
    assert owns("a-0-BTC/USD")
    assert owns("a-12-BTC/USD")
    assert not owns("a-1-0-BTC/USD")  # run "a-1"'s cycle 0
    assert not owns("a-0-ETH/USD")
    assert not owns("b-0-BTC/USD")


def test_expected_balances_add_each_fill_and_take_its_fee_from_the_quote() -> None:
    pairs = [pair("BTC/USD")]
    start = {"USD": Decimal(1000)}
    fills = [
        ("BTC/USD", Side.BUY, Decimal("0.01"), Decimal(50000), Decimal("1.30")),
        ("BTC/USD", Side.SELL, Decimal("0.004"), Decimal(51000), Decimal("0.53")),
    ]
    assert expected_balances(start, pairs, fills) == {
        "BTC": Decimal("0.006"),
        "USD": Decimal(1000) - Decimal(500) - Decimal("1.30") + Decimal(204) - Decimal("0.53"),
    }
