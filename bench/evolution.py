"""Genome evaluations per second: the vectorised path against the event-driven replay and vectorbt.

An SMA-crossover genome (long while the fast mean is above the slow one) is scored over 20 years
of bundled daily S&P 500 bars (1999-2018) with 1,000,000 of cash, no costs and market orders
filled at the next bar's open, on a grid of fast x slow windows. The vectorised path scores the
whole grid (`vectorised_grid`, arrays shared); the replay (`run_replay`, the full decision cycle
without storage) scores a few genomes spread over the grid, from which its evaluations per
second are extrapolated, and its trades and metrics are checked against the vectorised ones.
vectorbt, when installed, runs the same grid with the same signal shifted to fill at the next
open (its fills, sizing and metrics are its own, so only its speed is compared). Times are CPU
seconds of this process, so that other load on a shared machine does not distort the figures.
Goal: the vectorised path >= 100x the replay.

    pip install -e '.[bench]' && python bench/evolution.py [--replays 3] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
import warnings
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from agents.quant import build_quant_agent
from trading.data import Catalog
from trading.replay import ReplayConfig, run_replay
from trading.strategies import QuantParams, validate_params
from trading.vectorised import vectorised_backtest, vectorised_grid

FASTS = (5, 10, 15, 20, 25, 30, 40, 50)
SLOWS = (60, 80, 100, 120, 150, 200)


def genomes() -> list[QuantParams]:
    return [validate_params("sma_cross", {"fast": f, "slow": s}) for f in FASTS for s in SLOWS]


def time_grid(catalog: Catalog, config: ReplayConfig, grid: list[QuantParams]) -> float:
    started = time.process_time()
    vectorised_grid("sma_cross", grid, catalog, config)
    return time.process_time() - started


def time_replay(catalog: Catalog, config: ReplayConfig, params: QuantParams) -> float:
    """CPU seconds of one replay; raises unless its trades, final equity and metrics are the
    vectorised path's (metrics to 1e-9 relative)."""
    agent = build_quant_agent("sma_cross", params.model_dump())
    started = time.process_time()
    replayed = asyncio.run(run_replay(agent, catalog, config, run_id="bench"))
    elapsed = time.process_time() - started
    vectorised = vectorised_backtest("sma_cross", params, catalog, config)
    fills = [(f.time, f.symbol, f.side, f.quantity, f.price, f.fee) for f in replayed.fills]
    if [tuple(t) for t in vectorised.trades] != fills:
        raise SystemExit(f"trades differ from the replay for {params!r}")
    if vectorised.final_equity != replayed.final_equity:
        raise SystemExit(f"final equity differs from the replay for {params!r}")
    ours, theirs = vectorised.metrics.model_dump(), replayed.metrics.model_dump()
    for name, value in theirs.items():
        if isinstance(value, float) and abs(ours[name] - value) > 1e-9 * max(abs(value), 1e-3):
            raise SystemExit(f"{name} differs from the replay for {params!r}")
    return elapsed


def time_vectorbt(frame: pd.DataFrame, repeat: int) -> float | str:
    """Best CPU seconds for the grid in vectorbt, or why it could not run."""
    try:
        import vectorbt as vbt
    except ImportError as error:
        return f"not installed ({error}); pip install vectorbt"

    pairs = [(f, s) for f in FASTS for s in SLOWS]

    def run() -> Any:
        close, open_ = frame["close"], frame["open"]
        fast = vbt.MA.run(close, window=[f for f, _ in pairs]).ma.to_numpy()
        slow = vbt.MA.run(close, window=[s for _, s in pairs]).ma.to_numpy()
        columns = pd.RangeIndex(len(pairs))
        # Decided at a close, filled at the next open: shift the signal one bar.
        entries = pd.DataFrame(fast > slow, index=frame.index, columns=columns)
        exits = pd.DataFrame(~(fast > slow), index=frame.index, columns=columns)
        entries = entries.shift(1, fill_value=False)
        exits = exits.shift(1, fill_value=False)
        portfolio = vbt.Portfolio.from_signals(
            close, entries, exits, price=open_, init_cash=1_000_000, fees=0.0, freq="1D"
        )
        return portfolio.total_return(), portfolio.sharpe_ratio()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run()  # numba compiles on first use; that is not the steady rate
        best = math.inf
        for _ in range(repeat):
            started = time.process_time()
            run()
            best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=3, help="genomes the replay scores")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds of each; best")
    args = parser.parse_args()
    catalog = Catalog.default()
    config = ReplayConfig(symbols=("SPX",), cash=Decimal(1_000_000))
    grid = genomes()
    bars = len(catalog.load("SPX"))
    print(f"SMA crossover on SPX, {bars} daily bars, a grid of {len(grid)} genomes")

    picks = np.linspace(0, len(grid) - 1, args.replays).round().astype(int)
    sample = [grid[i] for i in picks]
    vectorised_grid("sma_cross", grid, catalog, config)  # loads the data and builds its bars
    # Rounds interleave the two, so that a change of load on the machine meets both alike;
    # each keeps its best time.
    vectorised, replays = math.inf, [math.inf] * len(sample)
    for _ in range(args.repeat):
        vectorised = min(vectorised, time_grid(catalog, config, grid))
        replays = [
            min(best, time_replay(catalog, config, params))
            for best, params in zip(replays, sample, strict=True)
        ]
    vectorised_rate = len(grid) / vectorised
    replay = sum(replays)
    replay_rate = len(sample) / replay
    print(
        f"replay:     {len(sample)} genomes in {replay:.2f} CPU s: {replay_rate:.2f} evaluations/s "
        "(extrapolated to the grid)"
    )
    print(
        f"vectorised: {len(grid)} genomes in {vectorised:.2f} CPU s: "
        f"{vectorised_rate:.1f} evaluations/s"
    )
    ratio = vectorised_rate / replay_rate
    verdict = "met" if ratio >= 100 else "NOT met"
    print(f"ratio:      {ratio:.0f}x the replay (goal >= 100x: {verdict})")
    print(
        f"check:      the {len(sample)} replayed genomes' trades and final equity are identical, "
        "their metrics equal to 1e-9"
    )

    frame = catalog.load("SPX").to_frame()
    theirs = time_vectorbt(frame, args.repeat)
    if isinstance(theirs, str):
        print(f"vectorbt:   skipped, {theirs}")
    else:
        vbt_rate = len(grid) / theirs
        print(
            f"vectorbt:   {len(grid)} genomes in {theirs:.3f} CPU s: {vbt_rate:.0f} evaluations/s "
            f"(vectorised / vectorbt: {vectorised_rate / vbt_rate:.2f})"
        )


if __name__ == "__main__":
    main()
