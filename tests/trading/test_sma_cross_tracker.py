"""The incremental SMA crossover gives `sma_cross_signal`'s answer on every bar, near ties and
odd closes included."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from tests.trading.price_walks import frozen, walk
from trading.sma_cross_tracker import Closes, SmaCrossTracker, sma_cross_signal


def straightforward(closes: Closes, fast: int, slow: int) -> int:
    return 0 if closes.size < slow else sma_cross_signal(closes, fast, slow)


def signals_bar_by_bar(series: Closes, fast: int, slow: int) -> list[tuple[int, int]]:
    """(tracker, straightforward) signals at each prefix, as a point-in-time view shows them."""
    tracker = SmaCrossTracker(fast, slow)
    return [
        (tracker.signal(series[:n]), straightforward(series[:n], fast, slow))
        for n in range(1, series.size + 1)
    ]


@pytest.mark.parametrize(("fast", "slow"), [(2, 3), (5, 8), (10, 50), (7, 9), (20, 200), (3, 129)])
def test_random_walks_give_the_straightforward_signal_on_every_bar(fast: int, slow: int) -> None:
    for seed in range(3):
        pairs = signals_bar_by_bar(walk(seed, 800), fast, slow)
        assert [t for t, _ in pairs] == [s for _, s in pairs]


def test_ties_follow_numpys_rounding() -> None:
    # 0.1 repeated: the exact means are equal, numpy's computed ones differ in the last bits
    # by window length, so the signal is whatever numpy's comparison says, bar by bar.
    series = frozen(np.full(300, 0.1))
    outcomes = set()
    for fast, slow in [(2, 3), (3, 10), (10, 50), (7, 11), (13, 64)]:
        pairs = signals_bar_by_bar(series, fast, slow)
        assert [t for t, _ in pairs] == [s for _, s in pairs]
        outcomes.update(s for _, s in pairs[slow:])
    assert outcomes == {1, -1}  # both outcomes of a tie occur: the fallback was exercised


def test_near_ties_the_exact_sums_cannot_decide_follow_numpy() -> None:
    # Closes a few ulps apart: the exact means differ, by less than numpy's rounding errs.
    rng = np.random.default_rng(5)
    series = frozen(0.1 * (1.0 + rng.integers(-4, 5, 600) * 2.0**-52))
    disagreements = 0
    for fast, slow in [(2, 3), (4, 9), (10, 50), (16, 33)]:
        pairs = signals_bar_by_bar(series, fast, slow)
        assert [t for t, _ in pairs] == [s for _, s in pairs]
        exact = [exact_signal(series[:n], fast, slow) for n in range(slow, series.size + 1)]
        disagreements += sum(e != s for e, (_, s) in zip(exact, pairs[slow - 1 :], strict=True))
    assert disagreements > 0  # numpy's rounding decided some bars: the fallback was needed


def exact_signal(closes: Closes, fast: int, slow: int) -> int:
    means = [sum(map(Fraction, closes[-n:].tolist())) / n for n in (fast, slow)]
    return 1 if means[0] > means[1] else -1


def test_prices_far_below_the_first_widen_the_integer_scale() -> None:
    # A first close of 1e6, then a walk around 1e-3 across binades: 2**-40 of the first.
    series = frozen(np.concatenate([[1e6], walk(7, 800, scale=1e-3)]))
    pairs = signals_bar_by_bar(series, 5, 20)
    assert [t for t, _ in pairs] == [s for _, s in pairs]


@pytest.mark.parametrize("odd", [0.0, -1.5, np.nan, np.inf])
def test_a_close_that_is_not_finite_and_positive_falls_back_to_numpy(odd: float) -> None:
    values = np.array(walk(3, 200))
    values[120] = odd
    pairs = signals_bar_by_bar(frozen(values), 4, 15)
    assert [t for t, _ in pairs] == [s for _, s in pairs]


def test_other_series_and_jumps_start_it_afresh() -> None:
    first, second = walk(1, 300), walk(2, 300, scale=50.0)
    tracker = SmaCrossTracker(3, 12)
    for closes in [first[:100], first[:101], second[:102], second[:50], first[:51], first[:300]]:
        assert tracker.signal(closes) == straightforward(closes, 3, 12)
    # Arrays that own their data (no base to compare) are computed afresh each time.
    for n in range(12, 40):
        owned = np.array(first[:n])
        assert tracker.signal(owned) == straightforward(owned, 3, 12)
