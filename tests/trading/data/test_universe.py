"""The bundled stock universe: 20 S&P 500 constituents' adjusted closes from skfolio."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import numpy as np

from agents.quant import build_quant_agent
from trading.costs import CostModel
from trading.data import Catalog
from trading.data.universe import SP20, SURVIVORSHIP_NOTE, UniverseSource, dataset_notes
from trading.replay import ReplayConfig, run_replay


def test_the_universe_holds_twenty_real_stocks_with_closes_only() -> None:
    source = UniverseSource()
    assert source.symbols() == list(SP20)
    assert len(SP20) == 20
    aapl = source.load("aapl")
    assert aapl.close_only
    assert len(aapl) == 8313
    assert aapl.first_time.date() == date(1990, 1, 2)
    assert aapl.last_time.date() == date(2022, 12, 28)
    first = aapl.bar(0)
    assert first.close == Decimal("0.264")
    assert (first.open, first.high, first.low, first.volume) == (None, None, None, None)
    # Nothing invents the missing columns: they are NaN, not copies of the close.
    assert np.isnan(aapl.open).all()
    assert np.isnan(aapl.volume).all()


def test_the_default_catalog_lists_the_universe_beside_the_indices() -> None:
    catalog = Catalog.default()
    symbols = set(catalog.symbols())
    assert {"SPX", "IXIC", *SP20} <= symbols
    infos = {i.symbol: i for i in catalog.describe()}
    assert "survivorship-biased" in infos["MSFT"].description
    assert "closes only" in infos["MSFT"].description
    assert "S&P 500 index" in infos["SPX"].description
    assert dataset_notes([catalog.load("MSFT")])[0] == SURVIVORSHIP_NOTE
    assert dataset_notes([catalog.load("SPX")]) == []


def test_orders_on_closes_only_fill_at_the_next_close_with_the_same_costs() -> None:
    costs = CostModel(half_spread_bps=Decimal(10), taker_fee_bps=Decimal(5))
    config = ReplayConfig(
        symbols=("MSFT",), start=date(2020, 1, 2), end=date(2020, 1, 10), costs=costs
    )
    agent = build_quant_agent("buy_and_hold")
    result = asyncio.run(run_replay(agent, Catalog.default(), config, run_id="moc"))
    fill = result.fills[0]
    series = Catalog.default().load("MSFT")
    day = np.flatnonzero(series.times >= np.datetime64("2020-01-03", "ns").astype(np.int64))[0]
    # Decided on the 2020-01-02 close, filled at the 2020-01-03 close plus half the spread.
    assert fill.time.date() == date(2020, 1, 3)
    close = series.bar(int(day)).close
    assert fill.price == (close * Decimal("1.001") / Decimal("0.01")).to_integral_value(
        rounding="ROUND_CEILING"
    ) * Decimal("0.01")
    assert fill.fee == (fill.quantity * fill.price * Decimal(5) / Decimal(10_000))
    # No volume: the participation cap did not cut the order.
    assert fill.quantity == result.orders[0].quantity
