"""The probability of backtest overfitting (CSCV): noise is overfit half the time, a truly
better strategy almost never."""

from __future__ import annotations

import numpy as np
import pytest

from orchestration.evolution.pbo import probability_of_overfitting


def test_pure_noise_strategies_are_overfit_about_half_the_time() -> None:
    values = []
    for seed in range(5):
        noise = np.random.default_rng(seed).normal(0.0, 0.01, size=(1000, 20))
        values.append(probability_of_overfitting(noise, blocks=10).pbo)
    assert 0.35 < float(np.mean(values)) < 0.65


def test_a_truly_better_strategy_gives_a_low_pbo() -> None:
    returns = np.random.default_rng(1).normal(0.0, 0.01, size=(1000, 20))
    returns[:, 7] += 0.004  # a Sharpe of 0.4 a bar: it wins in and out of sample
    found = probability_of_overfitting(returns, blocks=10)
    assert found.pbo < 0.05
    assert found.median_logit > 1.0


def test_the_in_sample_winner_that_loses_out_of_sample_ranks_last() -> None:
    # Strategy 0 wins the first half and loses the second; the rest are quiet noise. The split
    # whose in-sample half is the first crowns it, and out of sample it ranks last of five:
    # relative rank 1/6, logit ln(1/5).
    rng = np.random.default_rng(3)
    returns = rng.normal(0.0, 0.001, size=(400, 5))
    returns[:200, 0] += 0.01
    returns[200:, 0] -= 0.01
    found = probability_of_overfitting(returns, blocks=2)
    assert found.splits == 2
    assert found.logits[0] == pytest.approx(np.log(1 / 5))
    assert found.pbo >= 0.5


def test_splits_cover_every_half_of_the_blocks() -> None:
    found = probability_of_overfitting(np.random.default_rng(0).normal(size=(64, 3)), blocks=8)
    assert found.splits == 70  # C(8, 4)
    assert found.bars == 64
    assert found.logits.shape == (70,)


@pytest.mark.parametrize(
    ("shape", "blocks", "message"),
    [
        ((100, 1), 4, "compares trials"),
        ((100, 3), 5, "even"),
        ((7, 3), 4, "cannot fill"),
        ((100,), 4, "bars x trials"),
    ],
)
def test_unusable_input_is_refused(shape: tuple[int, ...], blocks: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        probability_of_overfitting(np.zeros(shape), blocks=blocks)
