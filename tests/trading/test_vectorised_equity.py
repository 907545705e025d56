"""Equity points from integers: the Decimals `Ledger.equity()` computes and their floats, digit
for digit and bit for bit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.domain import ZERO, EquityPoint
from trading.vectorised_equity import CloseUnits, EquityRun, equity_floats, integer_run

START = datetime(2020, 1, 1, tzinfo=UTC)
Held = tuple[tuple[int, Decimal], ...]


def decimals(digits: int) -> st.SearchStrategy[Decimal]:
    """Decimals of up to `digits` digits and any exponent from 1E-14 to 1E+3, either sign."""
    return st.builds(
        lambda n, e: Decimal(n).scaleb(e),
        st.integers(-(10**digits), 10**digits),
        st.integers(-14, 3),
    )


def by_operations(cash: Decimal, held: Held, closes: list[list[Decimal]], i: int) -> Decimal:
    """The ledger's equity at step i: cash + (0 + sum of quantity x close), in that order."""
    total = ZERO
    for k, quantity in held:
        total += quantity * closes[k][i]
    return cash + total


@st.composite
def accounts(draw: st.DrawFn) -> tuple[Decimal, Held, list[CloseUnits], list[list[Decimal]]]:
    symbols = draw(st.integers(1, 3))
    length = draw(st.integers(1, 12))
    cash = draw(decimals(draw(st.integers(0, 17))))
    quantities = st.sampled_from([1, -1]).flatmap(
        lambda sign: decimals(draw(st.integers(1, 9))).filter(bool)
    )
    held = tuple((k, draw(quantities)) for k in range(symbols) if draw(st.booleans()))
    units, closes = [], []
    for _ in range(symbols):
        places = draw(st.integers(0, 4))
        ints = np.array(draw(st.lists(st.integers(0, 10**7), min_size=length, max_size=length)))
        units.append(CloseUnits(ints, places, int(ints.max())))
        closes.append([Decimal(n) * Decimal(1).scaleb(-places) for n in ints.tolist()])
    return cash, held, units, closes


@pytest.mark.parametrize("rounding", [ROUND_HALF_EVEN, ROUND_FLOOR])
@settings(max_examples=300, deadline=None)
@given(account=accounts())
def test_a_runs_decimals_and_floats_are_those_of_the_ledgers_operations(
    rounding: str, account: tuple[Decimal, Held, list[CloseUnits], list[list[Decimal]]]
) -> None:
    cash, held, units, closes = account
    length = len(closes[0])
    with localcontext(rounding=rounding):
        expected = [by_operations(cash, held, closes, i) for i in range(length)]
        run = integer_run(cash, held, units, 0, length)
    if run is None:
        return
    for value, given_value, bits in zip(expected, run.values, run.floats.tolist(), strict=True):
        if given_value is None:
            assert value.is_zero()  # left to the operations: the rounding decides its sign
        else:
            assert repr(given_value) == repr(value)
            assert bits.hex() == float(value).hex()


def test_a_run_of_cents_and_whole_shares_is_read_from_its_integers() -> None:
    closes = CloseUnits(np.array([123456, 125000, 99999]), 2, 125000)
    run = integer_run(Decimal("17.25"), [(0, Decimal(437))], [closes], 0, 3)
    assert run is not None
    assert [str(v) for v in run.values] == ["539519.97", "546267.25", "437012.88"]
    assert run.floats.tolist() == [539519.97, 546267.25, 437012.88]
    # Whole cash and a round close: the point keeps the cents' exponent, as the ledger's does.
    whole = integer_run(Decimal(17), [(0, Decimal(437))], [closes], 1, 2)
    assert whole is not None
    assert [str(v) for v in whole.values] == ["546267.00"]


def test_a_quantity_of_whole_thousands_keeps_the_exponent_of_the_sum() -> None:
    # 2E+3 x 7.00 is 1.400E+4: the sum with 5 is 14005, not 14005.00.
    closes = CloseUnits(np.array([700, 950]), 2, 950)
    quantity = Decimal("2E+3")
    run = integer_run(Decimal(5), [(0, quantity)], [closes], 0, 2)
    assert run is not None
    assert [str(v) for v in run.values] == ["14005", "19005"]
    assert [repr(v) for v in run.values] == [
        repr(Decimal(5) + (ZERO + quantity * Decimal("7.00"))),
        repr(Decimal(5) + (ZERO + quantity * Decimal("9.50"))),
    ]


def test_runs_that_cannot_be_shown_exact_are_left_to_the_operations() -> None:
    closes = CloseUnits(np.array([200, 200]), 2, 200)
    held = [(0, Decimal(1))]
    assert integer_run(Decimal("1E-23"), held, [closes], 0, 2) is None  # no exact 10**23
    assert integer_run(Decimal("NaN"), held, [closes], 0, 2) is None
    assert integer_run(Decimal(5), held, [CloseUnits(None, 2, 0)], 0, 2) is None
    beyond = CloseUnits(np.array([9007199254740993] * 2), 6, 9007199254740993)
    assert integer_run(Decimal(0), held, [beyond], 0, 2) is None  # past 2**53
    with localcontext(prec=16):
        assert integer_run(Decimal(5), held, [closes], 0, 2) is None


def test_the_curves_floats_are_the_runs_where_given_and_converted_elsewhere() -> None:
    points = [
        EquityPoint(START + timedelta(days=i), ZERO, Decimal(v))
        for i, v in enumerate(["1.5", "2.25", "3.1", "-0.0"])
    ]
    floats = equity_floats(points, [EquityRun(1, np.array([2.25, 3.1]))])
    assert floats.tobytes() == np.array([float(p.equity) for p in points]).tobytes()
