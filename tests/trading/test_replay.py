"""The full cycle over small histories, checked against numbers worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import event

from agents.quant import build_quant_agent
from tests.helpers import catalog_of, daily_series, hold
from trading.costs import CostModel
from trading.data import Catalog
from trading.decision import Decision, Snapshot
from trading.domain import Instrument, OrderFilled, Side
from trading.errors import ConfigError
from trading.metrics import benchmark_name
from trading.replay import ReplayConfig, ReplayResult, run_replay
from trading.risk import RiskLimits
from trading.storage import DecisionColumns, Store
from trading.strategies import STRATEGIES

BUNDLED = Catalog.default()
LOTS = {"SPX": Instrument("SPX", quantity_increment=Decimal(1))}


def day(n: int) -> datetime:
    return datetime(2020, 1, n, tzinfo=UTC)


async def test_buy_and_hold_without_costs_fills_at_the_second_open_and_tracks_closes() -> None:
    series = daily_series("SPX", opens=[10, 10, 11, 12], closes=[10, 11, 12, 9])
    config = ReplayConfig(symbols=("SPX",), cash=Decimal(1000))
    agent = build_quant_agent("buy_and_hold")
    result = await run_replay(agent, catalog_of(series), config, run_id="r", instruments=LOTS)
    # Decided at day 1's close (10): 1000 / 10 = 100 units, filled at day 2's open (10).
    [fill] = result.fills
    assert (fill.time, fill.side, fill.quantity, fill.price, fill.fee) == (
        day(2),
        Side.BUY,
        100,
        10,
        0,
    )
    assert [e for _, _, e in result.equity] == [1000, 1100, 1200, 900]
    assert result.metrics.total_return == pytest.approx(-0.1)
    assert result.metrics.max_drawdown == pytest.approx(0.25)  # 1200 -> 900
    assert result.final_cash == 0


async def test_fees_and_spread_are_paid_on_every_fill() -> None:
    series = daily_series("SPX", opens=[10, 10, 10], closes=[10, 10, 10])
    costs = CostModel(taker_fee_bps=Decimal(10), half_spread_bps=Decimal(50))
    config = ReplayConfig(symbols=("SPX",), cash=Decimal(1000), costs=costs)
    result = await hold(series, config)
    # Sized for (10 * 1.005 + 0.01 tick) * 1.001 = 10.070 per unit: 99 units.
    [fill] = result.fills
    assert (fill.quantity, fill.price) == (99, Decimal("10.05"))
    assert fill.fee == Decimal("0.99495")  # 10 bps of 994.95
    assert result.final_equity == Decimal(1000) - Decimal("4.95") - Decimal("0.99495")


async def test_sma_cross_trades_on_the_bar_after_each_signal() -> None:
    closes = [10, 10, 10, 11, 12, 11, 9, 8, 9, 10]
    opens = [10, 10, 10, 10, 11, 12, 11, 9, 8, 9]
    series = daily_series("SPX", opens=opens, closes=closes)
    agent = build_quant_agent("sma_cross", {"fast": 2, "slow": 3})
    config = ReplayConfig(symbols=("SPX",), cash=Decimal(1000))
    result = await run_replay(agent, catalog_of(series), config, run_id="r", instruments=LOTS)
    # fast(2) vs slow(3) at each close: day 4 (11): 10.5 > 10.33 -> long; day 6 (11):
    # 11.5 > 11.33 still long; day 7 (9): 10 < 10.67 -> flat. Orders fill at the next open:
    # buy 1000 / 11 = 90 units at day 5's open 11; sell 90 at day 8's open 9.
    assert [(f.time, f.side, f.quantity, f.price) for f in result.fills] == [
        (day(5), Side.BUY, 90, 11),
        (day(8), Side.SELL, 90, 9),
    ]
    assert result.final_equity == Decimal(1000) - 90 * 2
    assert len(result.round_trips) == 1
    assert result.metrics.win_rate == 0.0


class Spy:
    """Records the last close each decision could see, to prove nothing came from later."""

    name = "spy"

    def __init__(self) -> None:
        self.seen: list[tuple[datetime, datetime]] = []

    async def decide(self, snapshot: Snapshot) -> Decision:
        last = snapshot.view.last_bar("SPX")
        self.seen.append((snapshot.now, last.close_time))
        return Decision({"SPX": Decimal(0)})


async def test_no_decision_sees_a_bar_closing_after_now() -> None:
    series = daily_series("SPX", opens=[float(10 + i) for i in range(30)])
    spy = Spy()
    await run_replay(spy, catalog_of(series), ReplayConfig(symbols=("SPX",)), run_id="r")
    assert len(spy.seen) == 29  # the last bar decides nothing: nothing could fill
    assert all(close_time <= now for now, close_time in spy.seen)
    assert all(close_time == now for now, close_time in spy.seen)


async def test_window_uses_earlier_history_for_warm_up_but_trades_only_inside() -> None:
    closes = [float(x) for x in range(10, 40)]
    series = daily_series("SPX", opens=closes, closes=closes)
    agent = build_quant_agent("sma_cross", {"fast": 2, "slow": 5})
    config = ReplayConfig(symbols=("SPX",), start=date(2020, 1, 20), end=date(2020, 1, 25))
    result = await run_replay(agent, catalog_of(series), config, run_id="r", instruments=LOTS)
    assert result.equity[0][0] == day(20)
    assert result.equity[-1][0] == day(25)
    assert result.fills[0].time == day(21)  # long from the first decision, thanks to warm-up


async def test_kill_switch_flattens_and_stays_flat() -> None:
    closes = [100, 100, 70, 60, 80, 120, 130]
    series = daily_series("SPX", opens=closes, closes=closes)
    config = ReplayConfig(
        symbols=("SPX",), cash=Decimal(1000), limits=RiskLimits(max_drawdown=Decimal("0.2"))
    )
    result = await hold(series, config)
    # Bought 10 at 100 on day 2; day 3 closes at 70: -30% trips the switch; sold at day 4's open.
    sides = [(f.time, f.side, f.quantity) for f in result.fills]
    assert sides == [(day(2), Side.BUY, 10), (day(4), Side.SELL, 10)]
    assert "kill switch" in result.kill_switch
    assert result.final_equity == Decimal(1000) - 10 * 40


async def test_empty_window_is_a_clear_error() -> None:
    series = daily_series("SPX", opens=[10, 11, 12])
    config = ReplayConfig(symbols=("SPX",), start=date(2021, 1, 1), end=date(2021, 2, 1))
    with pytest.raises(ConfigError, match="no SPX bars between 2021-01-01 and 2021-02-01"):
        await run_replay(build_quant_agent("buy_and_hold"), catalog_of(series), config, run_id="r")


async def test_an_empty_window_open_at_its_end_says_so_in_words() -> None:
    series = daily_series("SPX", opens=[10, 11, 12])
    config = ReplayConfig(symbols=("SPX",), start=date(2030, 1, 1))
    with pytest.raises(ConfigError, match="no SPX bars between 2030-01-01 and the last bar;"):
        await run_replay(build_quant_agent("buy_and_hold"), catalog_of(series), config, run_id="r")


async def store_buy_and_hold(store: Store) -> ReplayResult:
    """Buy and hold SPX over four bars (10, 11, 12, 9 at the close) as run "run-1" into `store`."""
    series = daily_series("SPX", opens=[10, 10, 11, 12], closes=[10, 11, 12, 9])
    return await run_replay(
        build_quant_agent("buy_and_hold"),
        catalog_of(series),
        ReplayConfig(symbols=("SPX",), cash=Decimal(1000)),
        run_id="run-1",
        store=store,
        instruments=LOTS,
    )


async def test_a_run_is_stored_with_orders_fills_equity_and_decisions(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    result = await store_buy_and_hold(store)
    run = store.run("run-1")
    assert run is not None
    assert run.status == "finished"
    assert run.summary is not None
    assert Decimal(run.summary["final_equity"]) == 900
    assert [f.price for f in store.fills("run-1")] == [Decimal(10)]
    assert [e.equity for e in store.equity("run-1")] == [e for _, _, e in result.equity]
    assert len(store.decisions("run-1")) == 3
    [order] = store.orders("run-1")
    assert (order.order_id, order.status) == ("run-1-0-SPX", "filled")
    store.close()


async def test_a_backtest_stores_its_records_and_its_end_in_one_commit(tmp_path) -> None:
    # The run's row is committed first ("running"); then everything else at once: before,
    # the records and the finish were two transactions, and a crash between them left a
    # run with all its rows still "running".
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda connection: commits.append(1))
    await store_buy_and_hold(store)
    assert len(commits) == 2
    run = store.run("run-1")
    assert run is not None
    assert run.status == "finished"
    assert run.finished_at == day(5)  # the last bar's close
    assert len(store.equity("run-1")) == 4
    store.close()


async def test_a_backtests_empty_reviews_are_given_as_one_value(tmp_path, monkeypatch) -> None:
    # One empty list for every decision without reviews, not one per bar for the store to
    # encode and tell apart.
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    given: list[DecisionColumns] = []
    original = Store.save_records

    def spying(self: Store, run_id: str, **records: Any) -> None:
        given.append(records["decisions"])
        original(self, run_id, **records)

    monkeypatch.setattr(Store, "save_records", spying)
    await store_buy_and_hold(store)
    [columns] = given
    empty = [risk for risk in columns.risks if not risk]
    assert len(empty) == 2  # the first bar's decision bought, with the gate's review
    assert len(set(map(id, empty))) == 1
    assert [(d.risk, d.abstentions) for d in store.decisions("run-1")][1:] == [([], {})] * 2
    store.close()


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
async def test_the_order_the_symbols_are_typed_in_does_not_change_any_result(kind: str) -> None:
    # SPX,IXIC ended at 139,354.13 and IXIC,SPX at 140,613.91 for momentum: the first symbol
    # bought in full and the second was squeezed by the fees and the gap to the open.
    results = []
    for symbols in (("SPX", "IXIC"), ("IXIC", "SPX")):
        config = ReplayConfig(
            symbols=symbols,
            start=date(2014, 1, 1),
            end=date(2018, 12, 31),
            costs=CostModel(taker_fee_bps=Decimal(10), half_spread_bps=Decimal(2)),
        )
        results.append(await run_replay(build_quant_agent(kind), BUNDLED, config, run_id="r"))
    first, second = results
    assert first.final_equity == second.final_equity
    assert sorted(map(_fill_row, first.fills)) == sorted(map(_fill_row, second.fills))
    assert first.fills, "the strategy must trade for the comparison to mean anything"


def _fill_row(fill: OrderFilled) -> tuple[object, ...]:
    return (fill.time, fill.symbol, fill.side, fill.quantity, fill.price, fill.fee)


async def test_buy_and_hold_buys_each_symbol_once_and_holds() -> None:
    # It made 7 fills on SPX,IXIC over 2014-2018, selling one to buy the other as they drifted.
    config = ReplayConfig(symbols=("SPX", "IXIC"), start=date(2014, 1, 1), end=date(2018, 12, 31))
    result = await run_replay(build_quant_agent("buy_and_hold"), BUNDLED, config, run_id="r")
    assert sorted((f.symbol, f.side) for f in result.fills) == [
        ("IXIC", Side.BUY),
        ("SPX", Side.BUY),
    ]
    assert len({f.time for f in result.fills}) == 1


async def test_the_benchmark_of_two_symbols_is_both_bought_in_equal_parts_and_held() -> None:
    config = ReplayConfig(symbols=("SPX", "IXIC"), start=date(2014, 1, 1), end=date(2018, 12, 31))
    result = await run_replay(build_quant_agent("buy_and_hold"), BUNDLED, config, run_id="r")
    closes = {s: BUNDLED.load(s).to_frame()["close"] for s in config.symbols}
    times = pd.DatetimeIndex([t for t, _, _ in result.equity])
    spx, ixic = (closes[s].reindex(times).to_numpy() for s in ("SPX", "IXIC"))
    held = (spx / spx[0] + ixic / ixic[0]) / 2
    assert result.metrics.benchmark_total_return == pytest.approx(held[-1] - 1, rel=1e-12)
    # Not the first symbol alone, which it was: SPX's 36.8% where both in equal parts made 48.5%.
    assert result.metrics.benchmark_total_return != pytest.approx(spx[-1] / spx[0] - 1, rel=1e-3)
    swapped = ReplayConfig(symbols=("IXIC", "SPX"), start=config.start, end=config.end)
    again = await run_replay(build_quant_agent("buy_and_hold"), BUNDLED, swapped, run_id="r")
    assert again.metrics.benchmark_total_return == result.metrics.benchmark_total_return


def test_the_benchmark_is_named_for_what_it_holds() -> None:
    assert benchmark_name(["SPX"]) == "buy and hold of SPX"
    assert benchmark_name(["SPX", "IXIC"]) == benchmark_name(["IXIC", "SPX"])
    assert benchmark_name(["SPX", "IXIC"]).startswith("equal-weight buy and hold of IXIC, SPX")


async def test_bars_from_before_1970_are_replayed() -> None:
    series = daily_series("SPX", opens=[80, 80, 88], closes=[80, 88, 84], start=date(1965, 1, 4))
    config = ReplayConfig(symbols=("SPX",), cash=Decimal(800))
    result = await hold(series, config)
    [fill] = result.fills
    assert (fill.time, fill.quantity, fill.price) == (datetime(1965, 1, 5, tzinfo=UTC), 10, 80)
    assert [(t.date(), e) for t, _, e in result.equity] == [
        (date(1965, 1, 4), 800),
        (date(1965, 1, 5), 880),
        (date(1965, 1, 6), 840),
    ]


async def test_a_result_has_a_short_repr_whatever_its_length() -> None:
    # `asyncio.run` formats its task's result when it restores the SIGINT handler: a repr of
    # every equity point and decision cost ~0.06 s on 5k bars.
    closes = [10 + (i % 7) for i in range(400)]
    series = daily_series("SPX", opens=closes, closes=closes)
    config = ReplayConfig(symbols=("SPX",), cash=Decimal(1000))
    agent = build_quant_agent("sma_cross", {"fast": 2, "slow": 3})
    result = await run_replay(agent, catalog_of(series), config, run_id="r", instruments=LOTS)
    assert len(result.equity) == 400
    assert len(repr(result)) < 300
    assert "run_id='r'" in repr(result)
