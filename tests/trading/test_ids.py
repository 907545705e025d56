"""Order ids: the loop's (run, cycle, symbol) key has one spelling and one parse."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trading.ids import OrderId

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
