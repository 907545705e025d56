"""Block-bootstrap intervals of Sharpe ratios, checked against cases whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trading.stats import (
    auto_block_length,
    bootstrap_indices,
    sharpe_intervals,
    sharpe_ratio,
    simple_returns,
    spread,
)

PPY = 252.0


def iid_returns(seed: int, n: int, daily_sharpe: float, sigma: float = 0.01) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(daily_sharpe * sigma, sigma, size=n)


def test_auto_block_length_is_the_cube_root_rounded_up() -> None:
    assert auto_block_length(1) == 1
    assert auto_block_length(8) == 2
    assert auto_block_length(252) == 7
    assert auto_block_length(1000) == 10
    assert auto_block_length(5000) == 18
    with pytest.raises(ValueError, match="at least one"):
        auto_block_length(0)


@pytest.mark.parametrize("method", ["stationary", "circular"])
def test_indices_are_blocks_of_consecutive_days_that_wrap(method: str) -> None:
    indices = bootstrap_indices(100, samples=50, seed=1, block_length=10, method=method)  # type: ignore[arg-type]
    assert indices.shape == (50, 100)
    assert indices.min() >= 0
    assert indices.max() <= 99
    steps = (np.diff(indices, axis=1) % 100) == 1
    # With mean block length 10, about 9 steps in 10 continue a block.
    assert 0.85 < steps.mean() < 0.95


def test_circular_blocks_have_exactly_the_given_length() -> None:
    indices = bootstrap_indices(30, samples=20, seed=3, block_length=5, method="circular")
    for row in indices:
        for block in row.reshape(6, 5):
            assert list((block - block[0]) % 30) == [0, 1, 2, 3, 4]


def test_the_same_seed_gives_the_same_indices_and_another_seed_others() -> None:
    first = bootstrap_indices(200, samples=100, seed=7)
    assert np.array_equal(first, bootstrap_indices(200, samples=100, seed=7))
    assert not np.array_equal(first, bootstrap_indices(200, samples=100, seed=8))


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown bootstrap method 'moving'"):
        bootstrap_indices(10, samples=2, seed=0, method="moving")  # type: ignore[arg-type]


def test_sharpe_ratio_is_the_annualised_mean_over_std_and_zero_without_risk() -> None:
    returns = np.array([0.01, -0.005, 0.02, 0.0])
    expected = returns.mean() / returns.std(ddof=1) * math.sqrt(PPY)
    assert sharpe_ratio(returns, PPY) == pytest.approx(expected)
    assert sharpe_ratio(np.full(10, 0.001), PPY) == 0.0
    both = sharpe_ratio(np.vstack([returns, returns * 2]), PPY)
    assert both == pytest.approx([expected, expected])


def test_iid_normal_returns_give_an_interval_around_the_true_sharpe_of_the_right_width() -> None:
    # Daily Sharpe 0.1, so annualised 0.1 x sqrt(252) = 1.587; the standard error of a Sharpe
    # estimate from n iid normal returns is sqrt((1 + SR^2 / 2) / n) per day (Lo, 2002).
    n, daily = 2000, 0.1
    returns = iid_returns(11, n, daily)
    indices = bootstrap_indices(n, samples=2000, seed=5)
    interval, _ = sharpe_intervals(returns, indices, periods_per_year=PPY, confidence=0.95)
    true = daily * math.sqrt(PPY)
    assert interval.lower < true < interval.upper
    assert interval.lower < interval.estimate < interval.upper
    expected_width = 2 * 1.96 * math.sqrt((1 + daily**2 / 2) / n) * math.sqrt(PPY)
    assert interval.upper - interval.lower == pytest.approx(expected_width, rel=0.2)
    assert interval.excludes_zero


def test_intervals_cover_the_true_sharpe_about_as_often_as_they_claim() -> None:
    n, daily, trials = 250, 0.05, 120
    true = daily * math.sqrt(PPY)
    indices = bootstrap_indices(n, samples=600, seed=2, block_length=1)
    covered = 0
    for trial in range(trials):
        interval, _ = sharpe_intervals(
            iid_returns(1000 + trial, n, daily), indices, periods_per_year=PPY, confidence=0.9
        )
        covered += interval.lower <= true <= interval.upper
    assert 0.8 <= covered / trials <= 0.97


def test_blocks_widen_the_interval_of_positively_autocorrelated_returns() -> None:
    rng = np.random.default_rng(4)
    noise = rng.normal(0.0005, 0.01, size=1500)
    returns = np.empty_like(noise)
    returns[0] = noise[0]
    for t in range(1, len(noise)):  # AR(1) with phi = 0.6: days carry on yesterday's move
        returns[t] = 0.6 * returns[t - 1] + noise[t]
    days = bootstrap_indices(1500, samples=1500, seed=9, block_length=1)
    blocks = bootstrap_indices(1500, samples=1500, seed=9, block_length=30)
    iid, _ = sharpe_intervals(returns, days, periods_per_year=PPY)
    blocked, _ = sharpe_intervals(returns, blocks, periods_per_year=PPY)
    assert blocked.upper - blocked.lower > 1.4 * (iid.upper - iid.lower)


def test_an_entrant_identical_to_its_benchmark_differs_by_exactly_zero() -> None:
    returns = iid_returns(3, 500, 0.05)
    indices = bootstrap_indices(500, samples=300, seed=1)
    _, difference = sharpe_intervals(returns, indices, periods_per_year=PPY, benchmark=returns)
    assert difference is not None
    assert (difference.estimate, difference.lower, difference.upper) == (0.0, 0.0, 0.0)
    assert not difference.excludes_zero


def test_pairing_detects_a_small_lead_over_a_shared_market() -> None:
    # Both hold the same volatile market; the entrant earns a steady extra 4 bp a day. Alone,
    # neither Sharpe is distinguishable from zero; paired, the lead clearly is.
    rng = np.random.default_rng(8)
    market = rng.normal(0.0, 0.02, size=750)
    entrant = market + 0.0004 + rng.normal(0.0, 0.001, size=750)
    indices = bootstrap_indices(750, samples=2000, seed=4)
    own, difference = sharpe_intervals(entrant, indices, periods_per_year=PPY, benchmark=market)
    assert difference is not None
    assert not own.excludes_zero
    assert difference.excludes_zero
    assert difference.lower > 0


def test_repeated_runs_are_scored_by_their_mean_sharpe() -> None:
    runs = np.vstack([iid_returns(s, 300, 0.05) for s in (1, 2, 3)])
    indices = bootstrap_indices(300, samples=200, seed=0)
    interval, _ = sharpe_intervals(runs, indices, periods_per_year=PPY)
    assert interval.estimate == pytest.approx(float(sharpe_ratio(runs, PPY).mean()))


def test_the_same_seed_gives_the_same_interval() -> None:
    returns = iid_returns(6, 400, 0.05)

    def interval() -> tuple[float, float]:
        indices = bootstrap_indices(400, samples=500, seed=21)
        result, _ = sharpe_intervals(returns, indices, periods_per_year=PPY)
        return result.lower, result.upper

    assert interval() == interval()


def test_mismatched_shapes_are_refused() -> None:
    indices = bootstrap_indices(10, samples=5, seed=0)
    with pytest.raises(ValueError, match="do not resample 12 periods"):
        sharpe_intervals(np.zeros(12), indices, periods_per_year=PPY)
    with pytest.raises(ValueError, match="benchmark"):
        sharpe_intervals(np.zeros(10), indices, periods_per_year=PPY, benchmark=np.zeros(9))


def test_spread_of_repeated_runs() -> None:
    result = spread([1.0, 2.0, 3.0])
    assert (result.mean, result.std, result.minimum, result.maximum, result.runs) == (
        2.0,
        1.0,
        1.0,
        3.0,
        3,
    )
    assert spread([0.5]).std == 0.0
    with pytest.raises(ValueError, match="at least one run"):
        spread([])


def test_simple_returns_treat_a_ruined_account_as_standing_still() -> None:
    assert list(simple_returns(np.array([100.0, 110.0, 0.0, 5.0]))) == pytest.approx(
        [0.1, -1.0, 0.0]
    )
