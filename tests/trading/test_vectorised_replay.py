"""The vectorised path's whole result against `run_replay`: the same `ReplayResult` (equity, fills,
orders with their reasons, decisions, events, metrics), the same strings, the same stored rows."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.quant import build_quant_agent
from tests.helpers import catalog_of, daily_series
from trading.costs import CostModel
from trading.data import Catalog
from trading.data.series import from_ns
from trading.domain import Instrument, OrderCanceled, OrderRejected
from trading.replay import ReplayConfig, ReplayResult, run_replay
from trading.risk import RiskLimits
from trading.storage import Store
from trading.vectorised import UnsupportedError
from trading.vectorised_market import _datetimes
from trading.vectorised_replay import PathChoice, quant_backtest, vectorised_replay

BUNDLED = Catalog.default()
USUAL = CostModel(taker_fee_bps=Decimal(1), half_spread_bps=Decimal(1))
LOTS = {s: Instrument(s, quantity_increment=Decimal(1)) for s in ("SPX", "IXIC", "AAA", "BBB")}


def strings(result: ReplayResult) -> dict[str, Any]:
    """What the documents and the store read of a result, as text: Decimal equality alone
    would let 1E+5 pass for 100000."""
    return {
        "equity": [(t.isoformat(), str(c), str(v)) for t, c, v in result.equity],
        "fills": [(f.trade_id, f.order_id, f.trade_json()) for f in result.fills],
        "orders": [
            (o.id, o.status.value, o.reason, str(o.filled_quantity), str(o.fees))
            for o in result.orders
        ],
        "decisions": [
            (d.time.isoformat(), d.agent, {s: str(w) for s, w in d.decision.targets.items()})
            for d in result.decisions
        ],
        "final": (str(result.final_cash), str(result.final_equity)),
    }


async def both(
    kind: str,
    raw: Mapping[str, object],
    catalog: Catalog,
    config: ReplayConfig,
    instruments: dict[str, Instrument] | None = None,
) -> tuple[ReplayResult, ReplayResult]:
    agent = build_quant_agent(kind, raw)
    replayed = await run_replay(agent, catalog, config, run_id="r", instruments=instruments)
    ours = await vectorised_replay(
        agent, agent.kind, agent.params, catalog, config, run_id="r", instruments=instruments
    )
    return replayed, ours


def assert_identical(replayed: ReplayResult, ours: ReplayResult) -> None:
    assert ours.equity == replayed.equity
    assert ours.fills == replayed.fills
    assert ours.orders == replayed.orders
    assert ours.decisions == replayed.decisions
    assert ours.events == replayed.events
    assert ours.round_trips == replayed.round_trips
    assert ours.metrics == replayed.metrics  # exactly: the same curve through the same code
    assert strings(ours) == strings(replayed)
    assert ours == replayed


CASES: list[tuple[str, dict[str, object], tuple[str, ...], date, date]] = [
    ("buy_and_hold", {"weight": 0.5}, ("SPX",), date(2008, 9, 1), date(2008, 11, 30)),
    ("sma_cross", {"fast": 10, "slow": 50, "allow_short": True}, ("SPX",), date(2006, 1, 1),
     date(2009, 12, 31)),
    ("momentum", {"lookback": 20, "threshold": 0.02, "allow_short": True}, ("SPX", "IXIC"),
     date(2013, 3, 1), date(2013, 5, 31)),
    ("mean_reversion", {"window": 10, "entry_z": 1.5, "exit_z": 0.5, "allow_short": True},
     ("SPX", "IXIC"), date(2008, 1, 1), date(2008, 12, 31)),
    ("rsi", {"period": 5, "lower": 40, "upper": 60}, ("SPX",), date(2010, 1, 1),
     date(2010, 6, 30)),
    ("sma_cross", {"fast": 3, "slow": 10, "weight": 0.0, "allow_short": True}, ("SPX",),
     date(2008, 9, 1), date(2008, 11, 30)),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "raw", "symbols", "start", "end"), CASES)
async def test_the_whole_result_equals_the_replays(
    kind: str, raw: dict[str, object], symbols: tuple[str, ...], start: date, end: date
) -> None:
    config = ReplayConfig(symbols=symbols, start=start, end=end, costs=USUAL)
    replayed, ours = await both(kind, raw, BUNDLED, config)
    assert len(replayed.decisions) == len(replayed.equity) - 1
    assert_identical(replayed, ours)


async def test_orders_cut_by_the_cap_the_cash_and_the_lots_keep_the_executors_reasons() -> None:
    closes = [100 + 5 * np.sin(i / 3) for i in range(80)]
    series = daily_series("AAA", opens=closes, closes=closes, volumes=[400.0] * 80)
    config = ReplayConfig(
        symbols=("AAA",), costs=CostModel(participation_cap=Decimal("0.5"), taker_fee_bps=1)
    )
    replayed, ours = await both(
        "sma_cross", {"fast": 2, "slow": 6, "allow_short": True}, catalog_of(series), config, LOTS
    )
    assert any(isinstance(e, OrderCanceled) and "cap" in e.reason for e in replayed.events)
    assert_identical(replayed, ours)
    cash_cut = ReplayConfig(symbols=("SPX",), start=date(2011, 6, 1), end=date(2011, 12, 31))
    replayed, ours = await both("momentum", {"lookback": 3}, BUNDLED, cash_cut)
    assert any(isinstance(e, OrderCanceled) and "cash" in e.reason for e in replayed.events)
    assert_identical(replayed, ours)


async def test_orders_rejected_at_submission_are_recorded_as_the_replay_records_them() -> None:
    # A quantity increment of 3 with sizing that rounds to 1: every order breaks the lot size.
    closes = [100 + 5 * np.sin(i / 3) for i in range(60)]
    series = daily_series("AAA", opens=closes, closes=closes)
    odd = {"AAA": Instrument("AAA", quantity_increment=Decimal(1))}
    config = ReplayConfig(
        symbols=("AAA",), cash=Decimal(1_000), costs=CostModel(min_commission=2000)
    )
    replayed, ours = await both(
        "sma_cross", {"fast": 2, "slow": 6}, catalog_of(series), config, odd
    )
    assert any(isinstance(e, OrderRejected) for e in replayed.events)
    assert_identical(replayed, ours)


async def test_a_long_only_genome_under_a_borrow_rate_keeps_the_cash_digits() -> None:
    # Cash written 1E+5: the replay's borrow accrual subtracts a zero from it on every bar.
    config = ReplayConfig(
        symbols=("SPX",),
        start=date(2010, 1, 1),
        end=date(2010, 6, 30),
        cash=Decimal("1E+5"),
        costs=CostModel(borrow_rate=Decimal("0.05")),
    )
    replayed, ours = await both("rsi", {"period": 5, "lower": 40, "upper": 60}, BUNDLED, config)
    assert_identical(replayed, ours)


async def test_the_store_gets_the_same_rows(tmp_path: Path) -> None:
    config = ReplayConfig(symbols=("SPX",), start=date(2007, 1, 1), end=date(2009, 12, 31))
    agent = build_quant_agent("sma_cross", {"fast": 5, "slow": 20})
    when = datetime(2026, 1, 1, tzinfo=UTC)
    stores = [Store(f"sqlite:///{tmp_path / name}.db") for name in ("replay", "vectorised")]
    await run_replay(agent, BUNDLED, config, run_id="x", store=stores[0], created_at=when)
    await vectorised_replay(
        agent, agent.kind, agent.params, BUNDLED, config, run_id="x", store=stores[1],
        created_at=when,
    )  # fmt: skip

    def rows(store: Store) -> dict[str, Any]:
        def plain(records: Any) -> list[dict[str, Any]]:
            return [{k: v for k, v in vars(r).items() if not k.startswith("_")} for r in records]

        run = store.run("x")
        assert run is not None
        return {
            "run": (run.kind, run.status, run.config, run.summary, run.created_at, run.finished_at),
            "orders": plain(store.orders("x")),
            "fills": plain(store.fills("x")),
            "equity": plain(store.equity("x")),
            "decisions": plain(store.decisions("x")),
        }

    stored = [rows(store) for store in stores]
    assert len(stored[0]["fills"]) > 10
    assert len(stored[0]["decisions"]) == len(stored[0]["equity"]) - 1
    assert stored[1] == stored[0]
    for store in stores:
        store.close()


async def test_the_path_is_chosen_and_a_refusal_is_said() -> None:
    agent = build_quant_agent("sma_cross", {"fast": 5, "slow": 20})
    plain = ReplayConfig(symbols=("SPX",), start=date(2008, 1, 1), end=date(2008, 12, 31))
    stopped = ReplayConfig(
        symbols=("SPX",),
        start=date(2008, 1, 1),
        end=date(2008, 12, 31),
        limits=RiskLimits(max_drawdown=Decimal("0.05")),
    )

    async def run(config: ReplayConfig, path: str) -> Any:
        return await quant_backtest(
            agent, agent.kind, agent.params, BUNDLED, config, run_id="p", path=path
        )

    fast, slow = await run(plain, "auto"), await run(plain, "replay")
    assert (fast.path, fast.reason, slow.path, slow.reason) == ("vectorised", None, "replay", None)
    assert fast.result == slow.result
    fallback = await run(stopped, "auto")
    assert fallback.path == "replay"
    assert fallback.reason is not None
    assert "max_drawdown" in fallback.reason
    assert fallback.result == await run_replay(agent, BUNDLED, stopped, run_id="p")
    with pytest.raises(UnsupportedError, match="max_drawdown"):
        await run(stopped, "vectorised")


def test_the_markets_stamps_are_the_replays_datetimes() -> None:
    # Labels before 1970, with nanoseconds under a microsecond, and near the end of the range.
    labels = np.array([-(10**17) - 1, -1, 0, 999, 1_000, 2**62 + 1_234_567], dtype=np.int64)
    stamps = _datetimes(labels)
    assert stamps == [from_ns(t) for t in labels.tolist()]
    assert all(s.tzinfo is UTC for s in stamps)


@pytest.mark.parametrize(
    "labels",
    [
        [0, 86_400 * 10**9, 951_782_400 * 10**9, 9_000_000_001 * 10**9],  # whole seconds
        [-86_400 * 10**9, 0],  # whole seconds, one before 1970
    ],
)
def test_the_markets_stamps_of_whole_seconds_are_the_replays_datetimes(labels: list[int]) -> None:
    stamps = _datetimes(np.array(labels, dtype=np.int64))
    assert stamps == [from_ns(t) for t in labels]
    assert all(s.tzinfo is UTC for s in stamps)


async def test_the_benchmarks_run_equals_the_replays() -> None:
    # What bench/replay.py times: SMA 10/50 over all of the bundled S&P 500, default costs.
    config = ReplayConfig(symbols=("SPX",), cash=Decimal(1_000_000))
    replayed, ours = await both("sma_cross", {"fast": 10, "slow": 50}, Catalog.default(), config)
    assert len(ours.fills) > 100
    assert_identical(replayed, ours)


@pytest.mark.parametrize("path", ["vectorised", "replay"])
async def test_the_collector_is_paused_only_while_the_run_writes_and_as_it_was_after(
    path: PathChoice,
) -> None:
    config = ReplayConfig(symbols=("SPX",), start=date(2008, 1, 1), end=date(2008, 12, 31))
    agent = build_quant_agent("sma_cross", {"fast": 5, "slow": 20})
    seen: list[bool] = []

    async def run(progress: Any = None) -> None:
        run = await quant_backtest(
            agent, agent.kind, agent.params, BUNDLED, config, run_id="g", path=path,
            progress=progress,
        )  # fmt: skip
        assert run.path == path

    assert gc.isenabled()
    await run(lambda done, total: seen.append(gc.isenabled()))
    assert seen
    assert not any(seen)
    assert gc.isenabled()

    def fails(done: int, total: int) -> None:
        raise RuntimeError("stopped halfway")

    with pytest.raises(RuntimeError, match="halfway"):
        await run(fails)
    assert gc.isenabled()
    gc.disable()
    try:
        await run()
        assert not gc.isenabled()  # whoever turned it off turns it on
    finally:
        gc.enable()
