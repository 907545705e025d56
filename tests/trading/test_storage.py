"""Storage: a durable run's cycle is written whole or not at all, and a run config reads back
exactly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from tests.trading.storage_helpers import store_with_run
from trading.costs import CostModel
from trading.domain import EquityPoint, Instrument, Liquidity, Order, OrderFilled, OrderType, Side
from trading.errors import ConfigError, StorageError
from trading.ledger import MarginSettings
from trading.replay import ReplayConfig
from trading.replay_config import describe_instruments, instruments_from_description
from trading.risk import RiskLimits
from trading.storage import CycleRecord, DecisionRow, Store, fill_record_row
from trading.storage_checksum import fills_checksum

T = datetime(2020, 1, 2, tzinfo=UTC)


def fill(trade_id: str) -> OrderFilled:
    return OrderFilled(
        "o", T, trade_id, "SPX", Side.BUY, Decimal(1), Decimal("10.01"), Decimal(0), Liquidity.TAKER
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with store_with_run(tmp_path, "trade", T) as store:
        yield store


def test_a_cycle_is_committed_with_its_records_in_one_transaction(store: Store) -> None:
    order = Order("r-0-SPX", "SPX", Side.BUY, Decimal(1), OrderType.MARKET, T)
    store.commit_cycle(
        "r",
        0,
        T,
        bars=[{"symbol": "SPX", "close": "10"}],
        ledger={"cash": Decimal("9.99")},
        orders=[order],
        fills=[fill("t1")],
        equity=[EquityPoint(T, Decimal(1), Decimal(2))],
        decision=DecisionRow(T, "agent", {"SPX": Decimal(1)}, "why", [], {}),
        details={"score": 0.5},
        transcript={"said": "buy", "at": T},
        agent_state={"n": 1},
    )
    [cycle] = store.cycles("r")
    assert (cycle.cycle, cycle.time, cycle.ledger) == (0, T, {"cash": "9.99"})
    assert cycle.transcript == {"said": "buy", "at": T.isoformat()}
    assert cycle.details == {"score": 0.5}
    assert store.agent_state("r") == (0, {"n": 1})
    assert store.order_ids("r") == {"r-0-SPX"}
    assert [d.seq for d in store.decisions("r")] == [0]  # a decision's seq is its cycle

    # The same cycle again (a second process on the same run) fails as a whole.
    with pytest.raises(IntegrityError):
        store.commit_cycle("r", 0, T, bars=[], ledger={}, fills=[fill("t2")])
    assert [f.trade_id for f in store.fills("r")] == ["t1"]
    assert store.cycle("r", 0) is not None
    assert store.cycle("r", 1) is None


def test_the_agent_state_is_the_latest_one_given_and_stays_one_row(store: Store) -> None:
    assert store.agent_state("r") is None
    store.commit_cycle("r", 0, T, bars=[], ledger={}, agent_state={"n": 1})
    store.commit_cycle("r", 1, T, bars=[], ledger={}, agent_state={"n": 2})
    store.commit_cycle("r", 2, T, bars=[], ledger={})  # unchanged: nothing given
    assert store.agent_state("r") == (1, {"n": 2})
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM agent_states")).scalar_one() == 1
        stored = connection.execute(text("SELECT agent_state FROM cycles")).scalars().all()
    assert stored == [None, None, None]  # SQL's NULL, not the text "null"


def test_a_run_stored_with_a_state_per_cycle_reads_its_latest_one(store: Store) -> None:
    for cycle in range(3):
        store.commit_cycle("r", cycle, T, bars=[], ledger={})
    # As runs were stored before the states table: in the cycle rows, JSON null where none.
    with store.engine.begin() as connection:
        for cycle, state in [(0, '{"n": 1}'), (1, '{"n": 2}'), (2, "null")]:
            connection.execute(
                update(CycleRecord)
                .where(CycleRecord.cycle == cycle)
                .values(agent_state=text(repr(state)))
            )
    assert store.agent_state("r") == (1, {"n": 2})


def test_bars_are_stored_as_value_lists_and_read_back_as_dicts(store: Store) -> None:
    bar = {
        "symbol": "SPX",
        "time": T.isoformat(),
        "open": "1",
        "high": "2",
        "low": "0.5",
        "close": "1.5",
        "volume": "10",
    }
    store.commit_cycle("r", 0, T, bars=[bar], ledger={})
    with store.engine.connect() as connection:
        raw = connection.execute(text("SELECT bars FROM cycles")).scalar_one()
    assert raw == f'[["SPX","{T.isoformat()}","1","2","0.5","1.5","10"]]'
    assert store.cycles("r")[0].bars == [bar]
    assert store.cycles("r")[0].bar_time() == T


def test_a_status_change_needs_the_run(store: Store) -> None:
    store.set_status("r", "stopped")
    run = store.run("r")
    assert run is not None
    assert run.status == "stopped"
    with pytest.raises(ConfigError, match="no run 'x'"):
        store.set_status("x", "stopped")


def test_a_config_reads_back_from_its_description_exactly() -> None:
    config = ReplayConfig(
        symbols=("SPX", "IXIC"),
        start=date(2005, 1, 1),
        end=None,
        cash=Decimal("12345.67"),
        costs=CostModel(taker_fee_bps=Decimal("1.5"), borrow_rate=Decimal("0.03")),
        limits=RiskLimits(max_drawdown=Decimal("0.3"), stop_loss=Decimal("0.05")),
        margin=MarginSettings(allow_shorting=False, short_margin=Decimal("0.6")),
        rebalance_threshold=Decimal("0.05"),
        flatten_on_kill=False,
    )
    assert ReplayConfig.from_description({"agent": "x", **config.describe()}) == config
    lots = {"SPX": Instrument("SPX", quantity_increment=Decimal(1), price_increment=Decimal("0.1"))}
    assert instruments_from_description(describe_instruments(lots)) == lots


def test_an_unreadable_config_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="stored run config is unreadable"):
        ReplayConfig.from_description({"symbols": ["SPX"]})


def test_a_file_that_is_not_a_database_is_a_storage_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    path.write_bytes(b"these are not the bytes of a database " * 200)
    with pytest.raises(StorageError) as raised:
        Store(f"sqlite:///{path}")
    assert str(raised.value) == (
        f"database sqlite:///{path} cannot be used: file is not a database; is it a tradepit "
        "database? restore it from a backup or move it aside"
    )


def test_a_database_damaged_while_open_is_a_storage_error_at_the_next_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    store = Store(f"sqlite:///{path}")
    for n in range(200):
        store.create_run(f"r{n}", "trade", {"padding": "x" * 2000}, T)
    store.engine.dispose()  # no page is cached: the next read goes to the file
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)
    with pytest.raises(StorageError, match="database disk image is malformed"):
        store.runs()
    store.close()


def test_a_cycle_commits_the_checksum_of_its_fills_as_they_read_back(store: Store) -> None:
    east = timezone(timedelta(hours=5))
    odd = OrderFilled(
        "o", T.astimezone(east), "t9", "SPX", Side.SELL, Decimal("1.50"), Decimal("10.010"),
        Decimal("0.001"), Liquidity.MAKER,
    )  # fmt: skip
    store.commit_cycle("r", 0, T, bars=[], ledger={}, fills=[fill("t1"), odd])
    store.commit_cycle("r", 1, T, bars=[], ledger={})
    first, empty = store.fill_checksums("r")
    assert (first.cycle, first.trade_ids) == (0, ["t1", "t9"])
    assert first.sha256 == fills_checksum(fill_record_row(f) for f in store.fills("r"))
    assert (empty.trade_ids, empty.sha256) == ([], fills_checksum([]))
    assert first.sha256 != fills_checksum(fill_record_row(f) for f in store.fills("r")[:1])


def test_a_new_run_stores_no_summary_and_no_end_as_sql_null(store: Store) -> None:
    # Not JSON's "null" text: a run not yet finished has no summary at all.
    with store.engine.connect() as connection:
        row = connection.execute(
            text("SELECT summary IS NULL, finished_at IS NULL, created_at, config FROM runs")
        ).one()
    assert tuple(row) == (1, 1, "2020-01-02 00:00:00.000000", "{}")
    with pytest.raises(IntegrityError):
        store.create_run("r", "trade", {}, T)
