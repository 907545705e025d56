"""The equity curve's floats from integers: `float` of every point's Decimal, bit for bit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.domain import ZERO, EquityPoint
from trading.vectorised_equity import CloseUnits, EquityRun, _scaled, equity_floats

START = datetime(2020, 1, 1, tzinfo=UTC)


def decimals(places: int, digits: int) -> st.SearchStrategy[Decimal]:
    """Decimals of up to `digits` digits with `places` decimals, either sign, zeros included."""
    return st.integers(-(10**digits), 10**digits).map(lambda n: Decimal(n).scaleb(-places))


def written(
    runs: list[tuple[int, Decimal, tuple[tuple[int, Decimal], ...]]],
    closes: list[list[Decimal]],
) -> tuple[list[EquityPoint], list[EquityRun]]:
    """Points as the vectorised path writes them down (its Decimal operations, in its order),
    each run followed by one point the engine records itself (here: a round number)."""
    points: list[EquityPoint] = []
    records = []
    for length, cash, held in runs:
        first = len(points)
        for _ in range(length):
            i = len(points)
            if len(held) == 1:
                k, quantity = held[0]
                value = cash + (ZERO + quantity * closes[k][i])
            else:
                total = ZERO
                for k, quantity in held:
                    total += quantity * closes[k][i]
                value = cash + total
            points.append(EquityPoint(START + timedelta(days=i), cash, value))
        records.append(EquityRun(first, len(points), cash, held))
        points.append(EquityPoint(START + timedelta(days=len(points)), cash, Decimal("1E+3")))
    return points, records


@st.composite
def curves(draw: st.DrawFn) -> tuple[list[EquityPoint], list[EquityRun], list[CloseUnits]]:
    symbols = draw(st.integers(1, 3))
    places = [draw(st.integers(0, 4)) for _ in range(symbols)]
    runs = []
    for _ in range(draw(st.integers(1, 6))):
        cash = draw(decimals(draw(st.integers(0, 14)), draw(st.integers(0, 17))))
        held = tuple(
            (k, draw(decimals(draw(st.integers(0, 6)), draw(st.integers(1, 9)))))
            for k in draw(st.permutations(range(symbols)))[: draw(st.integers(0, symbols))]
        )
        runs.append((draw(st.integers(1, 12)), cash, held))
    total = sum(length + 1 for length, _, _ in runs)
    units = [
        np.array(draw(st.lists(st.integers(0, 10**7), min_size=total, max_size=total)))
        for _ in range(symbols)
    ]
    pairs = list(zip(units, places, strict=True))
    closes = [[Decimal(n).scaleb(-d) for n in u.tolist()] for u, d in pairs]
    points, records = written(runs, closes)
    known = [CloseUnits(u, d, int(u.max())) for u, d in pairs]
    return points, records, known


@settings(max_examples=300, deadline=None)
@given(curves())
def test_the_floats_are_those_of_every_points_decimal(
    curve: tuple[list[EquityPoint], list[EquityRun], list[CloseUnits]],
) -> None:
    points, runs, closes = curve
    expected = np.array([float(p.equity) for p in points])
    assert equity_floats(points, runs, closes).tobytes() == expected.tobytes()


def test_a_run_of_cents_and_whole_shares_is_read_from_its_integers() -> None:
    closes = [[Decimal("1234.56"), Decimal("1250.00"), Decimal("999.99")]]
    units = CloseUnits(np.array([123456, 125000, 99999]), 2, 125000)
    points, runs = written([(3, Decimal("17.25"), ((0, Decimal(437)),))], closes)
    assert _scaled(runs[0], [units]) is not None
    assert equity_floats(points, runs, [units]).tolist() == [float(p.equity) for p in points]


@pytest.mark.parametrize("rounding", [ROUND_HALF_EVEN, ROUND_FLOOR])
def test_zeros_too_many_decimals_and_symbols_without_units_are_converted_one_by_one(
    rounding: str,
) -> None:
    # A zero keeps its sign as a Decimal (rounding down, -4 + 4 is -0); 10**-23 is no exact
    # float; a symbol whose prices are not integers of its units has no integers to sum.
    closes = [[Decimal("2.00")] * 3]
    units = CloseUnits(np.array([200] * 3), 2, 200)
    firsts = []
    with localcontext(rounding=rounding):
        for cash, quantity, known in [
            (Decimal("-0.00"), ZERO, units),
            (Decimal("-4.00"), Decimal(2), units),
            (Decimal("1E-23"), Decimal(1), units),
            (Decimal(5), Decimal(1), CloseUnits(None, 2, 0)),
        ]:
            points, runs = written([(3, cash, ((0, quantity),))], closes)
            expected = np.array([float(p.equity) for p in points])
            assert equity_floats(points, runs, [known]).tobytes() == expected.tobytes()
            firsts.append(expected[0])
    assert np.signbit(firsts[1]) == (rounding == ROUND_FLOOR)


def test_values_past_2_to_the_53_are_converted_one_by_one() -> None:
    with localcontext() as context:
        context.prec = 40
        closes = [[Decimal("9007199254.740993")] * 2]
        units = CloseUnits(np.array([9007199254740993] * 2), 6, 9007199254740993)
        points, runs = written([(2, Decimal(0), ((0, Decimal(1)),))], closes)
        assert _scaled(runs[0], [units]) is None
        assert equity_floats(points, runs, [units])[0] == float(points[0].equity)
