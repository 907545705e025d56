"""The equity points a vectorised run writes down between two fills, from integers: their
Decimal values as `Ledger.equity()` gives them and their floats as the metrics read them.

Between two fills the account holds a fixed cash c and fixed quantities q_k, and each point's
equity is c + (0 + sum q_k x close_k), the closes being integers n_k of 10**-d_k
(`BarSeries.price_units`). Decimal addition and multiplication, where exact, give the exponent
the operands' exponents fix (a sum the least of its terms', a product the sum of its factors'),
so every point of the run has the exponent -E, E = max(-exp(c), 0, d_k - exp(q_k)) over the
held symbols, and the value N / 10**E with N = c 10**E + sum q_k 10**(E - d_k) n_k an integer.
Where every term is below 2**53 and E <= 22:

- the Decimal operations are exact (no partial sum has more than 16 significant digits, and
  the context keeps at least 17), so the point's Decimal is N x 1E-E, coefficient, sign and
  exponent alike, except a zero, whose sign depends on the rounding: zeros are computed by
  the operations themselves;
- N and 10**E are exact floats, and IEEE division rounds their quotient correctly, as
  `float(Decimal)` (through its shortest string and a correctly rounded parse) does.

A run outside these bounds, and every point the engine records itself, is computed and
converted one by one as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, getcontext
from itertools import repeat
from operator import mul
from typing import Any, Final, NamedTuple

import numpy as np

from trading.domain import EquityPoint

Floats = np.ndarray[Any, np.dtype[np.float64]]
Ints = np.ndarray[Any, np.dtype[np.int64]]

_EXACT: Final = 2**53  # integers below this are exact floats
_POWERS: Final = [float(10**e) for e in range(23)]  # 10**22 is the last exact power of ten
_UNITS: Final = [Decimal(1).scaleb(-e) for e in range(23)]
_LEAST_PRECISION: Final = 17  # digits a context needs to add and multiply such terms exactly


class CloseUnits(NamedTuple):
    """One symbol's closes at every step as integers of 10**-decimals, and their largest size;
    `units` None where its prices cannot be read so."""

    units: Ints | None
    decimals: int
    largest: int


class EquityRun(NamedTuple):
    """Points [start, stop) of the equity curve and `float` of each one's value."""

    start: int
    floats: Floats


class IntegerRun(NamedTuple):
    """A run's points as integers of 10**-exponent (see the module), with their floats and
    the Decimals of those that are not zero (None at a zero)."""

    numerators: Ints
    floats: Floats
    values: list[Decimal | None]


def integer_run(
    cash: Decimal,
    held: Sequence[tuple[int, Decimal]],
    closes: Sequence[CloseUnits],
    start: int,
    stop: int,
) -> IntegerRun | None:
    """Steps [start, stop) of a run with this cash and these holdings (symbol index, nonzero
    quantity) from integers, or None where they cannot be shown exact (see the module)."""
    if getcontext().prec < _LEAST_PRECISION:
        return None
    places = _places(cash)
    if places is None:
        return None
    exponent = max(0, places)  # the zero in c + (0 + ...)
    for k, quantity in held:
        decimals = _places(quantity)
        if decimals is None or closes[k].units is None:
            return None
        exponent = max(exponent, closes[k].decimals + decimals)
    if exponent >= len(_POWERS):
        return None
    scaled_cash = _times_power(cash, exponent)
    bound = abs(scaled_cash)
    terms = []
    for k, quantity in held:
        scaled = _times_power(quantity, exponent - closes[k].decimals)
        units = closes[k].units
        if units is None:  # checked above; here for the type checker
            return None
        terms.append((scaled, units[start:stop]))
        bound += abs(scaled) * closes[k].largest
    if bound >= _EXACT:
        return None
    numerators = np.full(stop - start, scaled_cash, dtype=np.int64)
    for scaled, units in terms:
        numerators += scaled * units
    unit = _UNITS[exponent]
    values: list[Decimal | None]
    if numerators.all():  # no zero: every point is N x 1E-E, built in one pass in C
        values = list(map(mul, map(Decimal, numerators.tolist()), repeat(unit)))
    else:
        values = [Decimal(n) * unit if n else None for n in numerators.tolist()]
    return IntegerRun(numerators, numerators / _POWERS[exponent], values)


def equity_floats(points: Sequence[EquityPoint], runs: Sequence[EquityRun]) -> Floats:
    """`float(point.equity)` of every point: the runs' floats where given, else converted."""
    values = np.empty(len(points), dtype=np.float64)
    done = np.zeros(len(points), dtype=bool)
    for run in runs:
        stop = run.start + len(run.floats)
        values[run.start : stop] = run.floats
        done[run.start : stop] = True
    for i in np.flatnonzero(~done).tolist():
        values[i] = float(points[i].equity)
    return values


def _places(value: Decimal) -> int | None:
    """Minus the exponent of a finite Decimal (its digits after the point, negative for one
    such as 1E+3); None for a special (not finite)."""
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) else None


def _times_power(value: Decimal, exponent: int) -> int:
    """value x 10**exponent, an integer because `exponent` >= `_places(value)`."""
    numerator, denominator = value.as_integer_ratio()
    if exponent < 0:
        denominator *= 10**-exponent
        exponent = 0
    scaled: int = numerator * 10**exponent // denominator
    return scaled
