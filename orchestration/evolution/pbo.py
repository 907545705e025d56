"""The probability of backtest overfitting, by combinatorially symmetric cross-validation
(CSCV; Bailey, Borwein, Lopez de Prado and Zhu, "The Probability of Backtest Overfitting",
Journal of Computational Finance, 2017).

Given the per-bar returns of N trials (every genome a search evaluated) over the same T bars:

1. cut the T bars into S equal blocks (S even);
2. for every way of choosing S/2 blocks as in-sample (the rest out-of-sample), pick the trial
   with the best in-sample Sharpe ratio and find its relative rank w among all trials
   out-of-sample (rank / (N + 1), so w lies strictly between 0 and 1);
3. the logit l = ln(w / (1 - w)) is at most 0 when the in-sample winner ranks at or below the
   median out-of-sample. PBO is the share of splits where it does.

Pure noise gives PBO near 0.5 (the in-sample winner is a random draw out of sample); a trial
that is truly better keeps winning out of sample and PBO falls toward 0. The Sharpe ratio of
each half comes from per-block sums, so the C(S, S/2) splits cost one matrix product each.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PboResult:
    pbo: float
    splits: int
    trials: int
    bars: int
    logits: Floats  # one per split: the out-of-sample logit of the in-sample winner

    @property
    def median_logit(self) -> float:
        return float(np.median(self.logits))


def probability_of_overfitting(returns: Floats, blocks: int = 8) -> PboResult:
    """PBO of a T x N matrix of per-bar returns (bars in rows, trials in columns).

    Bars past the last whole block are left out (the most recent ones are kept: the blocks
    are taken from the end). Raises ValueError when there are fewer than two trials, an odd
    or too small number of blocks, or fewer than two bars per block.
    """
    matrix = np.asarray(returns, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"returns must be a bars x trials matrix, got shape {matrix.shape}")
    bars, trials = matrix.shape
    if trials < 2:
        raise ValueError(f"PBO compares trials; got {trials}")
    if blocks < 2 or blocks % 2:
        raise ValueError(f"blocks must be even and at least 2, got {blocks}")
    size = bars // blocks
    if size < 2:
        raise ValueError(f"{bars} bars cannot fill {blocks} blocks of at least 2 bars")
    if not np.isfinite(matrix).all():
        raise ValueError("returns must be finite")
    used = matrix[bars - size * blocks :].reshape(blocks, size, trials)
    sums = used.sum(axis=1)  # blocks x trials
    squares = (used**2).sum(axis=1)
    half = blocks // 2
    chosen = np.array(list(itertools.combinations(range(blocks), half)), dtype=np.intp)
    in_sample = np.zeros((len(chosen), blocks), dtype=np.float64)
    np.put_along_axis(in_sample, chosen, 1.0, axis=1)
    out_sample = 1.0 - in_sample
    n = float(size * half)
    is_sharpe = _sharpe(in_sample @ sums, in_sample @ squares, n)
    oos_sharpe = _sharpe(out_sample @ sums, out_sample @ squares, n)
    # The in-sample winner; ties go to the first trial, as argmax does.
    best = np.argmax(is_sharpe, axis=1)
    winner_oos = oos_sharpe[np.arange(len(chosen)), best]
    # Rank 1 is the worst out of sample; ties share the average of their ranks.
    below = (oos_sharpe < winner_oos[:, None]).sum(axis=1)
    equal = (oos_sharpe == winner_oos[:, None]).sum(axis=1)
    rank = below + (equal + 1) / 2.0
    relative = rank / (trials + 1.0)
    logits = np.log(relative / (1.0 - relative))
    return PboResult(
        pbo=float(np.mean(logits <= 0.0)),
        splits=len(chosen),
        trials=trials,
        bars=size * blocks,
        logits=logits,
    )


def _sharpe(total: Floats, squares: Floats, n: float) -> Floats:
    mean = total / n
    variance = np.maximum(squares / n - mean**2, 0.0) * n / (n - 1.0)
    std = np.sqrt(variance)
    # A trial that never moved has no risk to reward: Sharpe 0, as the metrics report it.
    safe = np.where(std > 1e-12, std, 1.0)
    return np.where(std > 1e-12, mean / safe, 0.0)
