"""Entrant-bars per second of an arena of 10 quant entrants, in one process against a process
pool, in one run.

The arena: the five quant baselines, each with its default parameters and one other set, on
the bundled S&P 500 and NASDAQ Composite daily bars, 1999-2018 (20 years, two symbols), with
fees and slippage. Each entrant runs the full decision cycle (point-in-time snapshots, sizing,
risk gate, paper fills, Decimal ledger, metrics). In one process they move in lockstep; in the
pool each entrant replays in a worker (the pool's start-up is counted). Both must give the
same leaderboard, which is checked. An entrant-bar is one entrant going through one bar.

    python bench/arena.py [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from orchestration.arena.config import ArenaConfig
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


def run(workers: int) -> tuple[float, ArenaResult]:
    config = ArenaConfig.model_validate(
        {
            "name": "bench",
            "symbols": ["SPX", "IXIC"],
            "start": "1999-01-01",
            "end": "2018-12-31",
            "workers": workers,
            "entrants": ENTRANTS,
        }
    )
    arena = Arena(config, run_id="bench", catalog=Catalog.default(), clock=LiveClock())
    started = time.perf_counter()
    result = asyncio.run(arena.run())
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="pool size (default: CPUs)"
    )
    args = parser.parse_args()
    Catalog.default().load("SPX")  # read the bundled files once, outside both timings
    one_seconds, one = run(0)
    pool_seconds, pooled = run(args.workers)
    bars = len(one.runs[0].equity)
    entrant_bars = bars * len(one.runs)

    def summary(result: ArenaResult) -> dict[str, tuple[object, ...]]:
        return {r.entrant: (r.final_equity, len(r.fills)) for r in result.runs}

    same = summary(one) == summary(pooled)
    print(f"entrants: {len(one.runs)}; bars: {bars} (SPX and IXIC, 1999-2018)")
    print(f"one process:          {entrant_bars / one_seconds:,.0f} entrant-bars/s "
          f"({one_seconds:.1f} s)")  # fmt: skip
    print(f"pool of {args.workers} processes: {entrant_bars / pool_seconds:,.0f} entrant-bars/s "
          f"({pool_seconds:.1f} s)")  # fmt: skip
    print(f"speed-up: {one_seconds / pool_seconds:.2f}x on {os.cpu_count()} CPUs")
    print(f"same results in both: {'yes' if same else 'NO'}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
