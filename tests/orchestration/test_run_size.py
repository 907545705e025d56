"""What a durable run costs on disk: a quant team's cycle stays under 2 KB in SQLite (the file's
page_count x page_size over the cycles committed), where the team's state once took 10 KB and
more of every cycle."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import text

from orchestration.loop import TradingLoop
from orchestration.team.config import TeamConfig
from orchestration.team.runtime import build_team
from trading.data import Catalog
from trading.replay import ReplayConfig
from trading.storage import Store

ONE_QUANT = TeamConfig.model_validate(
    {
        "name": "one-quant",
        "mode": "vote",
        "members": [{"quant": "sma_cross", "params": {"fast": 10, "slow": 30}}],
    }
)


def database_bytes(store: Store) -> int:
    with store.engine.connect() as connection:
        pages = connection.execute(text("PRAGMA page_count")).scalar_one()
        size = connection.execute(text("PRAGMA page_size")).scalar_one()
    return int(pages) * int(size)


async def test_a_quant_team_run_stores_under_2_kb_per_cycle(tmp_path: Path) -> None:
    catalog = Catalog.default()
    store = Store(f"sqlite:///{tmp_path / 'size.db'}")
    try:
        config = ReplayConfig(symbols=("SPX",), start=date(2017, 6, 1), end=date(2018, 12, 31))
        trading = TradingLoop(build_team(ONE_QUANT, catalog=catalog), catalog, store)
        # As long an id as `tradepit trade` gives: every row and index entry repeats it.
        result = await trading.start(config, run_id="tr-0123456789ab")
        per_cycle = database_bytes(store) / result.cycles
        state = store.agent_state("tr-0123456789ab")
    finally:
        store.close()
    assert result.cycles == 399
    assert per_cycle < 2048, f"{per_cycle:.0f} bytes per cycle"
    assert state is not None
    assert state[1]["bars_seen"] == 398  # the latest state is kept, once
