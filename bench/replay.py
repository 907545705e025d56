"""Bars per second of tradepit's full decision cycle against backtesting.py, in one run.

Both run an SMA crossover (10/50) on the bundled S&P 500 daily data (1999-2018), with no costs
and market orders filled at the next bar's open. tradepit's figure is the whole cycle: clock,
point-in-time snapshot, agent, sizing, risk gate, paper executor, Decimal ledger, metrics and a
SQLite write of every order, fill, decision and equity point. Goal: ratio >= 1.0.

    pip install -e '.[bench]' && python bench/replay.py [--repeat 3]
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

import numpy as np
import pandas as pd

from agents.quant import build_quant_agent
from trading.data import Catalog
from trading.replay import ReplayConfig, run_replay
from trading.storage import Store

FAST, SLOW = 10, 50


def run_tradepit(catalog: Catalog, database: Path) -> tuple[float, int, int]:
    agent = build_quant_agent("sma_cross", {"fast": FAST, "slow": SLOW})
    config = ReplayConfig(symbols=("SPX",), cash=Decimal(1_000_000))
    store = Store(f"sqlite:///{database}")
    started = time.perf_counter()
    result = asyncio.run(run_replay(agent, catalog, config, run_id="bench", store=store))
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed, len(result.equity), len(result.fills)


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
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    args = parser.parse_args()
    catalog = Catalog.default()
    frame = catalog.load("SPX").to_frame()
    frame.index = frame.index.tz_localize(None)
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.repeat):
            seconds, bars, fills = run_tradepit(catalog, Path(folder) / f"bench{i}.db")
            ours.append(bars / seconds)
            seconds_bt, bars_bt, trades = run_backtesting_py(frame)
            theirs.append(bars_bt / seconds_bt)
    best_ours, best_theirs = max(ours), max(theirs)
    print(f"bars: {bars} (tradepit), {bars_bt} (backtesting.py)")
    print(f"tradepit fills: {fills}; backtesting.py trades: {trades} (a trade = entry + exit)")
    print(f"tradepit full cycle: {best_ours:,.0f} bars/s (best of {args.repeat})")
    print(f"backtesting.py:      {best_theirs:,.0f} bars/s (best of {args.repeat})")
    print(f"ratio tradepit / backtesting.py: {best_ours / best_theirs:.2f} (goal >= 1.0)")
    sys.exit(0)


if __name__ == "__main__":
    main()
