"""Bytes per cycle a quant-only `tradepit trade` run writes to its SQLite database, in one run.

A team of one quant member (sma_cross 10/30, deciding on every fifth bar as teams do by
default), or the team in `--team`, trades the bundled S&P 500 daily bars 2000-2018 (4,779
cycles) through the durable trading loop, in process, into a fresh database; the figure is the
file's size (page_count x page_size) over the cycles committed. Every cycle is stored whole:
orders, fills, equity, decision, the cycle row with its bars, accounts and transcript, and the
team's state. Goal: under 2 KB per cycle.

    python bench/db_size.py [--team FILE] [--symbols SPX] [--start 2000-01-01] [--end 2018-12-31]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from orchestration.loop import TradingLoop
from orchestration.team.config import TeamConfig, load_team
from orchestration.team.runtime import build_team
from trading.data import Catalog
from trading.replay import ReplayConfig
from trading.storage import Store

GOAL_BYTES = 2048
# As long as the ids `tradepit trade` gives: every row and index entry repeats it.
RUN_ID = "tr-0123456789ab"
ONE_QUANT: dict[str, Any] = {
    "name": "one-quant",
    "mode": "vote",
    "members": [{"quant": "sma_cross", "params": {"fast": 10, "slow": 30}}],
}


def bytes_per_cycle(team: TeamConfig, config: ReplayConfig, database: Path) -> tuple[int, int]:
    """The database's size in bytes after the run, and the cycles it committed."""
    catalog = Catalog.default()
    store = Store(f"sqlite:///{database}")
    # Size, not speed, is measured: no sync to disk after each commit, which only takes time.
    event.listen(store.engine, "connect", _no_sync)
    store.engine.dispose()  # the pool's connection predates the listener
    try:
        trading = TradingLoop(build_team(team, catalog=catalog), catalog, store)
        result = asyncio.run(trading.start(config, run_id=RUN_ID))
        with store.engine.connect() as connection:
            pages = connection.execute(text("PRAGMA page_count")).scalar_one()
            page_size = connection.execute(text("PRAGMA page_size")).scalar_one()
    finally:
        store.close()
    return int(pages) * int(page_size), result.cycles


def _no_sync(connection: Any, record: object) -> None:
    connection.execute("PRAGMA synchronous=OFF")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--team", type=Path, help="a team YAML; default one sma_cross member")
    parser.add_argument("--symbols", default="SPX", help="comma-separated, default SPX")
    parser.add_argument("--start", default="2000-01-01")
    parser.add_argument("--end", default="2018-12-31")
    args = parser.parse_args()
    team = load_team(args.team) if args.team else TeamConfig.model_validate(ONE_QUANT)
    config = ReplayConfig(
        symbols=tuple(args.symbols.split(",")),
        start=date.fromisoformat(args.start),
        end=date.fromisoformat(args.end),
    )
    with tempfile.TemporaryDirectory() as folder:
        size, cycles = bytes_per_cycle(team, config, Path(folder) / "bench.db")
    per_cycle = size / cycles
    print(f"team {team.name}: {cycles} cycles, {size:,} bytes in the database")
    print(f"bytes per cycle: {per_cycle:,.0f} (goal < {GOAL_BYTES})")
    sys.exit(0 if per_cycle < GOAL_BYTES else 1)


if __name__ == "__main__":
    main()
