"""Bars per second of `tradepit backtest`'s path against backtesting.py, in one run.

Both run an SMA crossover (10/50) on the bundled S&P 500 daily data (1999-2018), with no costs
and market orders filled at the next bar's open. tradepit runs what `tradepit backtest` runs:
`quant_backtest` with `--path auto`, which takes the vectorised path here (the same fills,
equity, metrics and stored rows as the event-driven replay), on a market prepared afresh each
time as for a command run. Its figures: the run alone, the run with the SQLite write of every
order, fill, decision and equity point the command makes, and the forced replay (`--path
replay`) alone and with that write: the full event-driven cycle, bar by bar. Goals: the
path's ratio >= 5, the replay's (with its write) >= 1.

    pip install -e '.[bench]' && python bench/replay.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import warnings
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from agents.quant import build_quant_agent
from trading.data import Catalog
from trading.replay import ReplayConfig
from trading.storage import Store
from trading.vectorised_replay import PathChoice, quant_backtest

FAST, SLOW = 10, 50


class TradepitRun(NamedTuple):
    seconds: float
    cpu_seconds: float  # the process's own time: what a busy machine's other work leaves out
    bars: int
    fills: int
    path: str


def run_tradepit(database: Path | None, path: PathChoice) -> TradepitRun:
    """Seconds, bars, fills and the path taken of one backtest as the command runs it."""
    catalog = Catalog.default()  # a new catalog: nothing prepared for it yet
    catalog.load("SPX")  # the file is read outside the timing, as backtesting.py's frame is
    agent = build_quant_agent("sma_cross", {"fast": FAST, "slow": SLOW})
    config = ReplayConfig(symbols=("SPX",), cash=Decimal(1_000_000))
    store = Store(f"sqlite:///{database}") if database is not None else None
    started, cpu_started = time.perf_counter(), time.process_time()
    run = asyncio.run(
        quant_backtest(
            agent, agent.kind, agent.params, catalog, config, run_id="bench", path=path,
            store=store,
        )
    )  # fmt: skip
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if store is not None:
        store.close()
    return TradepitRun(elapsed, cpu, len(run.result.equity), len(run.result.fills), run.describe())


def run_backtesting_py(frame: pd.DataFrame) -> tuple[float, int, int]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    def sma(values: np.ndarray, n: int) -> pd.Series:
        return pd.Series(values).rolling(n).mean()

    class SmaCross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    data = frame.rename(columns=str.capitalize)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(data, SmaCross, cash=1_000_000, commission=0.0).run()
    elapsed = time.perf_counter() - started
    return elapsed, len(frame), int(stats["# Trades"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the best counts")
    args = parser.parse_args()
    frame = Catalog.default().load("SPX").to_frame()
    frame.index = frame.index.tz_localize(None)
    runs: dict[str, list[float]] = {
        "path": [], "cpu": [], "stored": [], "replay_alone": [], "replay": [], "bt": [],
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.repeat):
            alone = run_tradepit(None, "auto")
            bars, fills, taken = alone.bars, alone.fills, alone.path
            runs["path"].append(bars / alone.seconds)
            runs["cpu"].append(bars / alone.cpu_seconds)
            stored = run_tradepit(Path(folder) / f"path{i}.db", "auto")
            runs["stored"].append(bars / stored.seconds)
            replay_alone = run_tradepit(None, "replay")
            runs["replay_alone"].append(bars / replay_alone.seconds)
            replay = run_tradepit(Path(folder) / f"replay{i}.db", "replay")
            runs["replay"].append(bars / replay.seconds)
            replay_fills = replay.fills
            seconds_bt, bars_bt, trades = run_backtesting_py(frame)
            runs["bt"].append(bars_bt / seconds_bt)
    best = {name: max(values) for name, values in runs.items()}
    theirs = best["bt"]
    print(f"bars: {bars} (tradepit), {bars_bt} (backtesting.py)")
    print(f"tradepit fills: {fills} (replay: {replay_fills}); backtesting.py trades: {trades} "
          "(a trade = entry + exit)")  # fmt: skip
    print(f"path `tradepit backtest` takes: {taken}")
    print(f"tradepit, that path:             {best['path']:,.0f} bars/s (best of {args.repeat})")
    print(f"tradepit, that path, CPU time:   {best['cpu']:,.0f} bars/s (the process's own time)")
    print(f"tradepit, that path and storing: {best['stored']:,.0f} bars/s")
    print(f"tradepit, the replay alone:      {best['replay_alone']:,.0f} bars/s")
    print(f"tradepit, the replay and storing: {best['replay']:,.0f} bars/s")
    print(f"backtesting.py:                  {theirs:,.0f} bars/s")
    print(
        f"ratio tradepit backtest's path / backtesting.py: {best['path'] / theirs:.2f} (goal >= 5)"
    )
    print(f"  with the database write: {best['stored'] / theirs:.2f}; "
          f"the replay with it: {best['replay'] / theirs:.2f}")  # fmt: skip
    print(f"ratio the full event-driven cycle / backtesting.py: alone "
          f"{best['replay_alone'] / theirs:.2f}, with storing {best['replay'] / theirs:.2f} "
          "(goal >= 1.0)")  # fmt: skip
    sys.exit(0 if fills == replay_fills else 1)


if __name__ == "__main__":
    main()
