"""A whole backtest's result, stored by `Store.save_records` (the bulk path a replay takes), is
byte for byte what SQLAlchemy's own inserts of the same records store."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, update

from agents.quant import build_quant_agent
from trading.data import Catalog
from trading.replay import ReplayConfig, ReplayResult, run_replay
from trading.storage import (
    DecisionRecord,
    EquityRecord,
    FillRecord,
    OrderRecord,
    RunRecord,
    Store,
    fill_row,
)
from trading.storage_write import jsonable

STARTED = datetime(1999, 1, 4, tzinfo=UTC)


def _dump(path: Path) -> list[str]:
    """The database's every row as SQL literals, which tell apart a text from a number."""
    connection = sqlite3.connect(path)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def _stored_by_sqlalchemy(
    path: Path, result: ReplayResult, config: ReplayConfig, end: RunRecord
) -> None:
    """The result's run and records through SQLAlchemy's Core statements, one dict per row,
    the run ended as `end` says."""
    store = Store(f"sqlite:///{path}")
    try:
        with store.engine.begin() as connection:
            connection.execute(
                insert(RunRecord),
                [
                    {
                        "id": result.run_id,
                        "kind": "backtest",
                        "status": "running",
                        "created_at": STARTED,
                        "finished_at": None,
                        "config": jsonable({"agent": result.agent, **config.describe()}),
                    }
                ],
            )
        with store.engine.begin() as connection:
            run = result.run_id
            connection.execute(
                insert(OrderRecord),
                [
                    {
                        "run_id": run,
                        "order_id": o.id,
                        "symbol": o.symbol,
                        "side": o.side.value,
                        "type": o.type.value,
                        "quantity": o.quantity,
                        "limit_price": o.limit_price,
                        "status": o.status.value,
                        "reason": o.reason,
                        "filled_quantity": o.filled_quantity,
                        "fees": o.fees,
                        "created_at": o.created_at,
                    }
                    for o in result.orders
                ],
            )
            connection.execute(insert(FillRecord), [fill_row(run, f) for f in result.fills])
            connection.execute(
                insert(EquityRecord),
                [
                    {"run_id": run, "time": p.time, "cash": p.cash, "equity": p.equity}
                    for p in result.equity
                ],
            )
            connection.execute(
                insert(DecisionRecord),
                [
                    {
                        "run_id": run,
                        "seq": seq,
                        "time": log.time,
                        "agent": log.agent,
                        "targets": {s: str(w) for s, w in log.decision.targets.items()},
                        "rationale": log.decision.rationale,
                        "risk": log.risk_json(),
                        "abstentions": dict(log.decision.abstentions),
                    }
                    for seq, log in enumerate(result.decisions)
                ],
            )
            connection.execute(
                update(RunRecord)
                .where(RunRecord.id == run)
                .values(status=end.status, summary=end.summary, finished_at=end.finished_at)
            )
    finally:
        store.close()


async def test_a_stored_backtest_holds_the_rows_sqlalchemy_stores(tmp_path: Path) -> None:
    catalog = Catalog.default()
    agent = build_quant_agent("sma_cross", {"fast": 10, "slow": 50})
    config = ReplayConfig(symbols=("SPX",), cash=Decimal(1_000_000))
    stored = Store(f"sqlite:///{tmp_path / 'bulk.db'}")
    try:
        result = await run_replay(
            agent, catalog, config, run_id="r", store=stored, created_at=STARTED
        )
        summary = stored.run("r")
        assert summary is not None
        assert summary.finished_at is not None
    finally:
        stored.close()
    assert len(result.equity) > 5000
    assert len(result.fills) > 100
    _stored_by_sqlalchemy(tmp_path / "core.db", result, config, summary)
    bulk, core = _dump(tmp_path / "bulk.db"), _dump(tmp_path / "core.db")
    assert len(bulk) > 10_000
    assert bulk == core
