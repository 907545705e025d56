"""Order and trade ids: the loop's (run, cycle, symbol) key and a fill's (order, fill) key,
each with one spelling and one parse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading.ids import OrderId, TradeId

names = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)


def test_an_order_id_is_spelt_run_cycle_symbol() -> None:
    assert str(OrderId("arena-7", 12, "BTC/USD")) == "arena-7-12-BTC/USD"


@given(run_id=names, cycle=st.integers(0, 10**6), symbol=names)
def test_parse_reads_back_what_str_spells_for_the_same_run(
    run_id: str, cycle: int, symbol: str
) -> None:
    key = OrderId(run_id, cycle, symbol)
    assert OrderId.parse(str(key), run_id) == key


def test_parse_refuses_another_runs_keys_even_when_they_share_a_prefix() -> None:
    assert OrderId.parse("a-1-0-BTC/USD", "a") != OrderId("a", 1, "BTC/USD")
    assert OrderId.parse("a-1-0-BTC/USD", "a-1") == OrderId("a-1", 0, "BTC/USD")
    assert OrderId.parse("b-0-BTC/USD", "a") is None
    assert OrderId.parse("a-x-BTC/USD", "a") is None
    assert OrderId.parse("a-01-BTC/USD", "a") is None


def test_a_trade_id_is_spelt_order_colon_fill() -> None:
    assert str(TradeId("arena-7-12-BTC/USD", "2")) == "arena-7-12-BTC/USD:2"
    assert str(TradeId("OQCLML-BW3P3-BUCMWZ", "0.5")) == "OQCLML-BW3P3-BUCMWZ:0.5"


@given(order=names, fill=st.text(st.characters(min_codepoint=33, max_codepoint=57), min_size=1))
def test_trade_id_parse_reads_back_what_str_spells(order: str, fill: str) -> None:
    key = TradeId(order, fill)
    assert TradeId.parse(str(key)) == key


def test_trade_id_parse_refuses_text_that_is_not_one() -> None:
    assert TradeId.parse("r-0-SPX-2") is None  # how paper fills were spelt before TradeId
    assert TradeId.parse(":2") is None
    assert TradeId.parse("r-0-SPX:") is None
    with pytest.raises(ValueError, match="without ':'"):
        TradeId("r-0-SPX", "1:2")


@given(order=names, count=st.integers(0, 10**6))
def test_a_trade_id_spelt_from_a_fill_count_is_the_one_str_spells(order: str, count: int) -> None:
    assert TradeId.spell(order, count) == str(TradeId(order, str(count)))


def test_a_trade_id_spelt_without_an_order_is_refused() -> None:
    with pytest.raises(ValueError, match="needs an order"):
        TradeId.spell("", 2)


@given(run_id=names, cycle=st.integers(0, 10**6), symbol=names)
def test_an_order_id_spelt_directly_is_the_one_str_spells(
    run_id: str, cycle: int, symbol: str
) -> None:
    assert OrderId.spell(run_id, cycle, symbol) == str(OrderId(run_id, cycle, symbol))
