"""Entrant-bars per second of an arena of 10 quant entrants: the vectorised path against the
replay in one process, and a process pool against one process where the replay must run.

The arena: the five quant baselines, each with its default parameters and one other set, on
the bundled S&P 500 and NASDAQ Composite daily bars, 1999-2018 (20 years, two symbols), with
fees and slippage. Each entrant's result is the full decision cycle's (point-in-time
snapshots, sizing, risk gate, paper fills, Decimal ledger, metrics): the vectorised path runs
that engine only at the bars where something can trade, and the replay at every bar (in one
process in lockstep). With a stop-loss, the vectorised path also runs the engine at every bar
whose close may cross a position's level. With a drawdown kill switch, which the vectorised
path does not replay, every entrant takes the replay, which the pool spreads over its workers
(start-up counted; it prints how they start: fork on Linux, spawn on macOS). Each pair must
give the same leaderboard, which is checked. An entrant-bar is one entrant going through one
bar.

    python bench/arena.py [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from typing import Any

from orchestration.arena.config import ArenaConfig
from orchestration.arena.pool import start_method
from orchestration.arena.results import ArenaResult
from orchestration.arena.runner import Arena
from trading.clock import LiveClock
from trading.data import Catalog

ENTRANTS = [
    {"quant": "buy_and_hold"},
    {"quant": "buy_and_hold", "name": "half-in", "params": {"weight": 0.5}},
    {"quant": "sma_cross"},
    {"quant": "sma_cross", "name": "sma-20-100", "params": {"fast": 20, "slow": 100}},
    {"quant": "momentum"},
    {"quant": "momentum", "name": "momentum-63", "params": {"lookback": 63}},
    {"quant": "mean_reversion"},
    {"quant": "mean_reversion", "name": "reversion-wide", "params": {"entry_z": 2.5}},
    {"quant": "rsi"},
    {"quant": "rsi", "name": "rsi-7", "params": {"period": 7}},
]


def run(workers: int, *, vectorised: bool, **fields: Any) -> tuple[float, ArenaResult]:
    config = ArenaConfig.model_validate(
        {
            "name": "bench",
            "symbols": ["SPX", "IXIC"],
            "start": "1999-01-01",
            "end": "2018-12-31",
            "workers": workers,
            "entrants": ENTRANTS,
            **fields,
        }
    )
    arena = Arena(
        config, run_id="bench", catalog=Catalog.default(), clock=LiveClock(), vectorised=vectorised
    )
    started = time.perf_counter()
    result = asyncio.run(arena.run())
    return time.perf_counter() - started, result


def summary(result: ArenaResult) -> dict[str, tuple[object, ...]]:
    return {r.entrant: (r.final_equity, len(r.fills)) for r in result.runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="pool size (default: CPUs)"
    )
    args = parser.parse_args()
    Catalog.default().load("SPX")  # read the bundled files once, outside every timing
    replay_seconds, replayed = run(0, vectorised=False)
    fast_seconds, fast = run(0, vectorised=True)
    stops = {"limits": {"stop_loss": "0.1"}}
    stop_replay_seconds, stop_replayed = run(0, vectorised=False, **stops)
    stop_fast_seconds, stop_fast = run(0, vectorised=True, **stops)
    drawdown = {"limits": {"max_drawdown": "0.5"}}
    one_seconds, one = run(0, vectorised=True, **drawdown)
    pool_seconds, pooled = run(args.workers, vectorised=True, **drawdown)
    bars = len(replayed.runs[0].equity)
    entrant_bars = bars * len(replayed.runs)

    def rate(seconds: float) -> str:
        return f"{entrant_bars / seconds:,.0f} entrant-bars/s ({seconds:.2f} s)"

    same = (
        summary(replayed) == summary(fast)
        and summary(stop_replayed) == summary(stop_fast)
        and summary(one) == summary(pooled)
    )
    print(f"entrants: {len(replayed.runs)}; bars: {bars} (SPX and IXIC, 1999-2018)")
    print(f"replay, one process:          {rate(replay_seconds)}")
    print(f"vectorised path, one process: {rate(fast_seconds)}")
    print(f"speed-up of the vectorised path: {replay_seconds / fast_seconds:.2f}x")
    print("with a stop-loss of 10%:")
    print(f"  replay, one process:          {rate(stop_replay_seconds)}")
    print(f"  vectorised path, one process: {rate(stop_fast_seconds)}")
    print(f"  speed-up of the vectorised path: {stop_replay_seconds / stop_fast_seconds:.2f}x")
    print("with a drawdown kill switch of 50% (the replay for every entrant):")
    print(f"  one process:          {rate(one_seconds)}")
    method = start_method(sys.platform, threading.active_count())
    print(f"  pool of {args.workers} processes ({method}): {rate(pool_seconds)}")
    print(f"  speed-up of the pool: {one_seconds / pool_seconds:.2f}x on {os.cpu_count()} CPUs "
          "(goal >= 1.6 with 2)")  # fmt: skip
    print(f"same results in each pair: {'yes' if same else 'NO'}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
