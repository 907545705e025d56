"""The equal-weight baseline on the bundled 20-stock universe over ten years (2010-2019): the
event-driven replay against the same rules in plain pandas (tests/trading/pandas_equal_weight.py),
with the speed ratio. Both must give the same fills and final equity (checked here too).

    python bench/universe.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.quant import build_quant_agent
from tests.trading.pandas_equal_weight import closes_frame, equal_weight_reference
from trading.data import Catalog
from trading.data.universe import SP20
from trading.replay import ReplayConfig, run_replay

START, END = date(2010, 1, 1), date(2019, 12, 31)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    catalog = Catalog.default()
    config = ReplayConfig(symbols=SP20, start=START, end=END)
    closes = closes_frame(catalog, SP20)  # loaded once, outside both timings
    replay_s, pandas_s = [], []
    for _ in range(repeat):
        agent = build_quant_agent("equal_weight", {"weight": 0.95})
        began = time.perf_counter()
        result = asyncio.run(run_replay(agent, catalog, config, run_id="bench"))
        replay_s.append(time.perf_counter() - began)
        began = time.perf_counter()
        reference = equal_weight_reference(
            closes,
            START,
            END,
            cash=config.cash,
            weight=Decimal("0.95"),
            threshold=config.rebalance_threshold,
        )
        pandas_s.append(time.perf_counter() - began)
    assert result.final_equity == reference.final_equity, "the two computations disagree"
    assert len(result.fills) == len(reference.fills), "the two computations disagree"
    bars = len(result.equity)
    print(
        f"equal weight, {len(SP20)} symbols, {START} to {END}: {bars} bars, "
        f"{len(result.fills)} fills, final equity {result.final_equity:.2f} in both"
    )
    print(f"replay: {min(replay_s):.3f} s ({bars / min(replay_s):,.0f} bars/s)")
    print(f"plain pandas: {min(pandas_s):.3f} s ({bars / min(pandas_s):,.0f} bars/s)")
    print(f"speed ratio (pandas time / replay time): {min(pandas_s) / min(replay_s):.2f}")


if __name__ == "__main__":
    main()
