"""The incremental SMA crossover gives `sma_cross_signal`'s answer on every bar, near ties and
odd closes included."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.trading.price_walks import BarByBar, frozen, restarted, walk
from trading.sma_cross_tracker import Closes, SmaCrossTracker, sma_cross_signal


def straightforward(closes: Closes, fast: int, slow: int) -> int:
    return 0 if closes.size < slow else sma_cross_signal(closes, fast, slow)


def signals_bar_by_bar(series: Closes, fast: int, slow: int) -> list[tuple[int, int]]:
    """(tracker, straightforward) signals at each prefix, the tracker fed a close a bar."""
    fed = BarByBar(SmaCrossTracker(fast, slow), series)
    bars = range(1, series.size + 1)
    return [(fed.signal(), straightforward(series[:n], fast, slow)) for n in bars]


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
        assert restarted(tracker, closes) == straightforward(closes, 3, 12)
    for n in range(12, 40):
        owned = np.array(first[:n])
        assert restarted(tracker, owned) == straightforward(owned, 3, 12)


# Adversarial closes: exact ties, sums that a huge close leaves (the running sums' error is
# then as large as that close's last bits), closes a few ulps apart, prices at both ends of
# the range the running sums take in and past it, many decimals, and odd values.
TIE_PRONE = [0.1, 0.2, 0.3, 0.7, 1.0, 3.0, 1e16, 1e-3, 2.0**-30]
ADVERSARIAL = st.one_of(
    st.lists(st.sampled_from(TIE_PRONE), min_size=1, max_size=120),
    st.lists(st.integers(-4, 4), min_size=1, max_size=120).map(
        lambda ks: [0.1 * (1.0 + k * 2.0**-52) for k in ks]
    ),
    st.lists(
        st.sampled_from([1e-99, 1e-101, 1e99, 1e101, 1e300, 1e-300, 5e-324, 1.5]),
        min_size=1,
        max_size=80,
    ),
    st.lists(
        st.decimals(min_value=0, max_value=10**6, places=9, allow_nan=False).map(float),
        min_size=1,
        max_size=120,
    ),
    st.lists(st.floats(min_value=1e-6, max_value=1e6), min_size=1, max_size=120),
    # NaN, infinity, zero, negatives (no sum that overflows: numpy would warn, an error here).
    st.lists(st.floats(-1e300, 1e300) | st.sampled_from([np.nan, np.inf]), min_size=1, max_size=60),
)


@given(
    values=ADVERSARIAL,
    fast=st.integers(2, 9),
    longer=st.integers(1, 20),
    jumps=st.lists(st.integers(1, 4), min_size=1, max_size=8),
)
@settings(max_examples=400, deadline=None)
@example(values=[1e16] + [1.0] * 60, fast=2, longer=1, jumps=[1])
@example(values=[0.1] * 40, fast=3, longer=7, jumps=[1])
def test_adversarial_closes_give_the_straightforward_signal_one_by_one_or_in_jumps(
    values: list[float], fast: int, longer: int, jumps: list[int]
) -> None:
    slow = fast + longer
    series = frozen(np.array(values, dtype=np.float64))
    one_by_one, fed = BarByBar(SmaCrossTracker(fast, slow), series), SmaCrossTracker(fast, slow)
    for n in range(1, series.size + 1):
        assert one_by_one.signal() == straightforward(series[:n], fast, slow), n
    # Fed as `closes_since` feeds it: a first batch, then jumps of one close or several.
    seen = min(jumps[0], len(values))
    decided = fed.restart(values[:seen])
    while True:
        closes = series[:seen]
        got = fed.resolve(closes) if decided is None else decided
        assert got == straightforward(closes, fast, slow), seen
        if seen == len(values):
            break
        step = jumps[seen % len(jumps)]
        decided = fed.advance(values[seen : seen + step])
        seen = min(seen + step, len(values))


def test_ties_and_near_ties_are_left_to_numpy_and_clear_crossings_are_not() -> None:
    tracker = SmaCrossTracker(3, 10)
    assert [tracker.advance([0.1]) for _ in range(9)] == [0] * 9
    assert [tracker.advance([0.1]) for _ in range(50)] == [None] * 50  # a tie, every bar
    # A few ulps apart: inside the margin numpy's rounding needs, so numpy decides.
    assert tracker.advance([0.1 * (1 + 2.0**-51)]) is None
    assert tracker.advance([0.2]) == 1  # a clear crossing: the running sums decide it
    assert tracker.restart([0.2] * 9 + [0.1]) == -1


def test_a_huge_close_leaving_the_window_is_left_to_numpy_until_the_sums_restart() -> None:
    # 1e16 in the sums: after it leaves, their error is ~1 (its last bits), more than the
    # difference of the small closes' means: the bound cannot decide, and numpy does.
    tracker = SmaCrossTracker(2, 4)
    decided = [tracker.advance([close]) for close in [1e16, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0]]
    assert decided[:3] == [0, 0, 0]
    assert None in decided[3:]
    assert decided[-1] == 1  # the sums restarted from fsum: tight again
