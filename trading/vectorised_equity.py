"""The floats of a vectorised run's equity curve (`float` of each point's Decimal value, as the
metrics read it), in bulk for the points the run writes down.

Between two fills the account holds a fixed cash c and fixed quantities q_k, and each point's
equity is c + sum q_k x close_k, the closes being integers n_k of 10**-d_k
(`BarSeries.price_units`). With E decimals enough for every term, the value is exactly the
integer N = c 10**E + sum q_k 10**(E - d_k) n_k over 10**E. Where every term is below 2**53
and E <= 22:

- the Decimal operations that wrote the point were exact (no partial sum has more than 16
  significant digits, and the context keeps at least 17), so N / 10**E is its value;
- N and 10**E are exact floats, and IEEE division rounds their quotient correctly, as
  `float(Decimal)` (through its shortest string and a correctly rounded parse) does.

So N / 10**E in numpy is that float, bit for bit. A point of any other run (more decimals, too
large, a zero, whose sign a Decimal keeps), and every point the engine itself records, is
converted one by one as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, getcontext
from typing import Any, Final, NamedTuple, cast

import numpy as np

from trading.domain import EquityPoint

Floats = np.ndarray[Any, np.dtype[np.float64]]
Ints = np.ndarray[Any, np.dtype[np.int64]]

_EXACT: Final = 2**53  # integers below this are exact floats
_POWERS: Final = [float(10**e) for e in range(23)]  # 10**22 is the last exact power of ten
_LEAST_PRECISION: Final = 17  # digits a context needs to add and multiply such terms exactly


class EquityRun(NamedTuple):
    """Points [start, stop) of the equity curve, written with this cash and these holdings
    (symbol index, quantity), in the order their values were summed."""

    start: int
    stop: int
    cash: Decimal
    held: tuple[tuple[int, Decimal], ...]


class _Scaled(NamedTuple):
    """A run's terms as integers of 10**-exponent: its cash, and its quantities as multiples of
    each symbol's price units."""

    exponent: int
    cash: int
    quantities: tuple[tuple[int, int], ...]  # (symbol index, scaled quantity)


class CloseUnits(NamedTuple):
    """One symbol's closes at every step as integers of 10**-decimals, and their largest size;
    None where its prices cannot be read so."""

    units: Ints | None
    decimals: int
    largest: int


def exact_context() -> bool:
    """Whether the current Decimal context adds and multiplies the runs' terms exactly."""
    return getcontext().prec >= _LEAST_PRECISION


def equity_floats(
    points: Sequence[EquityPoint], runs: Sequence[EquityRun], closes: Sequence[CloseUnits]
) -> Floats:
    """`float(point.equity)` of every point, those of `runs` (written down in an exact context)
    computed at once where they can be (see the module)."""
    values = np.empty(len(points), dtype=np.float64)
    done = np.zeros(len(points), dtype=bool)
    accepted = [(run, s) for run in runs if (s := _scaled(run, closes)) is not None]
    if accepted:
        lengths = np.array([run.stop - run.start for run, _ in accepted], dtype=np.int64)
        starts = np.array([run.start for run, _ in accepted], dtype=np.int64)
        # Each point's index: the runs' ranges laid end to end.
        at = np.arange(int(lengths.sum())) + np.repeat(
            starts - (np.cumsum(lengths) - lengths), lengths
        )
        numerators = np.repeat(np.array([s.cash for _, s in accepted], dtype=np.int64), lengths)
        for k in sorted({k for _, s in accepted for k, _ in s.quantities}):
            factor = [dict(s.quantities).get(k, 0) for _, s in accepted]
            units = cast(Ints, closes[k].units)  # `_scaled` accepts no run lacking them
            numerators += np.repeat(np.array(factor, dtype=np.int64), lengths) * units[at]
        powers = np.repeat(np.array([_POWERS[s.exponent] for _, s in accepted]), lengths)
        values[at] = numerators / powers
        done[at[numerators != 0]] = True
    for i in np.flatnonzero(~done).tolist():
        values[i] = float(points[i].equity)
    return values


def _scaled(run: EquityRun, closes: Sequence[CloseUnits]) -> _Scaled | None:
    """The run's terms as integers of one power of ten, or None where some term is not a finite
    Decimal of at most 22 decimals or the sum could reach 2**53."""
    exponent = _decimals(run.cash)
    if exponent is None:
        return None
    for k, quantity in run.held:
        decimals = _decimals(quantity)
        if decimals is None or closes[k].units is None:
            return None
        exponent = max(exponent, decimals + closes[k].decimals)
    if exponent >= len(_POWERS):
        return None
    cash = _times_power(run.cash, exponent)
    bound = abs(cash)
    quantities = []
    for k, quantity in run.held:
        scaled = _times_power(quantity, exponent - closes[k].decimals)
        quantities.append((k, scaled))
        bound += abs(scaled) * closes[k].largest
    return _Scaled(exponent, cash, tuple(quantities)) if bound < _EXACT else None


def _decimals(value: Decimal) -> int | None:
    """Digits after the point of a finite Decimal (0 for an integer), None for a special."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else None


def _times_power(value: Decimal, exponent: int) -> int:
    """value x 10**exponent, an integer because value has at most `exponent` decimals."""
    numerator, denominator = value.as_integer_ratio()
    scaled: int = numerator * 10**exponent // denominator
    return scaled
