"""The vectorised path against the event-driven replay: the same trades, cash and final equity to
the last Decimal digit, the same equity curve and metrics to float rounding, or a refusal."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.quant import build_quant_agent
from tests.helpers import catalog_of, daily_series
from trading.costs import CostModel
from trading.data import Catalog
from trading.data.series import from_ns
from trading.domain import Instrument, OrderCanceled, Side
from trading.ledger import MarginSettings
from trading.metrics import ClosedTrade, compute_metrics
from trading.replay import ReplayBars, ReplayConfig, ReplayResult, run_replay
from trading.risk import RiskLimits, Verdict
from trading.strategies import STRATEGIES, validate_params
from trading.vectorised import (
    UnsupportedError,
    VectorisedResult,
    _Run,
    supports,
    vectorised_backtest,
    vectorised_grid,
)
from trading.vectorised_market import _datetimes
from trading.vectorised_signals import signal_table

BUNDLED = Catalog.default()
# The command line's default costs: 1 bp fee and 1 bp half-spread.
USUAL = CostModel(taker_fee_bps=Decimal(1), half_spread_bps=Decimal(1))
LOTS = {s: Instrument(s, quantity_increment=Decimal(1)) for s in ("SPX", "IXIC", "AAA", "BBB")}

GENOMES: list[tuple[str, dict[str, object]]] = [
    ("buy_and_hold", {}),
    ("buy_and_hold", {"weight": 0.5}),  # drifts off half and is left to drift
    ("sma_cross", {"fast": 3, "slow": 10}),
    ("sma_cross", {"fast": 5, "slow": 20, "allow_short": True, "weight": 0.8}),
    ("momentum", {"lookback": 5}),
    ("momentum", {"lookback": 20, "threshold": 0.02, "allow_short": True}),
    ("mean_reversion", {"window": 10, "entry_z": 1.5, "exit_z": 0.5, "allow_short": True}),
    ("mean_reversion", {"window": 20, "entry_z": 1.0, "exit_z": 0.2, "weight": 0.6}),
    ("rsi", {"period": 5, "lower": 40, "upper": 60}),
    ("rsi", {"period": 14, "lower": 45, "upper": 55, "allow_short": True}),
]
# One symbol over a crash, two over a calm spring: each window sees entries, exits and flips.
MARKETS = [
    (("SPX",), date(2008, 9, 1), date(2008, 11, 30)),
    (("SPX", "IXIC"), date(2013, 3, 1), date(2013, 5, 31)),
]


async def replay(
    kind: str,
    raw: Mapping[str, object],
    catalog: Catalog,
    config: ReplayConfig,
    instruments: dict[str, Instrument] | None = None,
) -> ReplayResult:
    agent = build_quant_agent(kind, raw)
    return await run_replay(agent, catalog, config, run_id="r", instruments=instruments)


def assert_same(replayed: ReplayResult, vectorised: VectorisedResult) -> None:
    fills = [(f.time, f.symbol, f.side, f.quantity, f.price, f.fee) for f in replayed.fills]
    assert [tuple(t) for t in vectorised.trades] == fills
    # Cash and equity are Decimal-equal: the same Decimal operations, in the same order.
    assert vectorised.final_cash == replayed.final_cash
    assert vectorised.final_equity == replayed.final_equity
    expected = replayed.equity_series()
    assert vectorised.equity.index.equals(expected.index)
    # Between trades the curve is cash + quantity x close in float64, where the replay rounds
    # the exact Decimal sum to float once: a few ulps apart (~1e-16 relative, more only through
    # cancellation of a short's proceeds against its value), far inside 1e-12.
    np.testing.assert_allclose(vectorised.equity.to_numpy(), expected.to_numpy(), rtol=1e-12)
    ours, theirs = vectorised.metrics.model_dump(), replayed.metrics.model_dump()
    for name, value in theirs.items():
        if value is None or isinstance(value, int):
            assert ours[name] == value, name
        else:
            # Statistics of those curves: means and deviations of returns move by ~1e-13.
            assert ours[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize(("kind", "raw"), GENOMES)
@pytest.mark.parametrize(("symbols", "start", "end"), MARKETS)
async def test_every_strategy_trades_exactly_as_the_replay(
    kind: str, raw: dict[str, object], symbols: tuple[str, ...], start: date, end: date
) -> None:
    config = ReplayConfig(symbols=symbols, start=start, end=end, costs=USUAL)
    replayed = await replay(kind, raw, BUNDLED, config)
    assert replayed.fills, "a case that never trades would prove nothing"
    assert_same(replayed, vectorised_backtest(kind, validate_params(kind, raw), BUNDLED, config))


async def test_a_long_window_of_sma_crossings_matches_the_replay() -> None:
    config = ReplayConfig(
        symbols=("SPX",), start=date(2006, 1, 1), end=date(2009, 12, 31), costs=USUAL
    )
    raw = {"fast": 10, "slow": 50, "allow_short": True}
    replayed = await replay("sma_cross", raw, BUNDLED, config)
    assert len(replayed.fills) > 20
    assert_same(
        replayed,
        vectorised_backtest("sma_cross", validate_params("sma_cross", raw), BUNDLED, config),
    )


async def test_commissions_impact_and_whole_lots_on_two_symbols_match_the_replay() -> None:
    costs = CostModel(
        taker_fee_bps=Decimal(5),
        half_spread_bps=Decimal(3),
        impact_coefficient=Decimal("0.5"),
        commission_per_share=Decimal("0.01"),
        min_commission=Decimal(5),
    )
    config = ReplayConfig(
        symbols=("SPX", "IXIC"),
        start=date(2008, 1, 1),
        end=date(2008, 12, 31),
        cash=Decimal(50_000),
        costs=costs,
        rebalance_threshold=Decimal("0.01"),
    )
    raw = {"window": 10, "entry_z": 1.2, "exit_z": 0.3, "allow_short": True, "weight": 0.9}
    replayed = await replay("mean_reversion", raw, BUNDLED, config, LOTS)
    commissions = [f.fee - f.quantity * f.price * 5 / 10_000 for f in replayed.fills]
    assert Decimal(5) in commissions, "the minimum commission applies to small rebalances"
    params = validate_params("mean_reversion", raw)
    assert_same(
        replayed, vectorised_backtest("mean_reversion", params, BUNDLED, config, instruments=LOTS)
    )


# The cap is half the average volume: 200 units a bar, or 0.5, less than the one-unit lot.
@pytest.mark.parametrize("volume", [400.0, 1.0])
async def test_fills_under_the_participation_cap_match_the_replay(volume: float) -> None:
    closes = [100 + 5 * np.sin(i / 3) for i in range(80)]
    series = daily_series("AAA", opens=closes, closes=closes, volumes=[volume] * 80)
    catalog = catalog_of(series)
    costs = CostModel(participation_cap=Decimal("0.5"), half_spread_bps=Decimal(2))
    config = ReplayConfig(symbols=("AAA",), costs=costs)
    raw = {"fast": 2, "slow": 6, "allow_short": True}
    replayed = await replay("sma_cross", raw, catalog, config, LOTS)
    capped = [e for e in replayed.events if isinstance(e, OrderCanceled) and "cap" in e.reason]
    assert capped, "the cap must bind: 100,000 of cash buys ~1,000 units"
    params = validate_params("sma_cross", raw)
    assert_same(
        replayed, vectorised_backtest("sma_cross", params, catalog, config, instruments=LOTS)
    )


async def test_orders_the_cash_cannot_pay_for_are_cut_as_the_executor_cuts_them() -> None:
    # Fully invested with no costs: whenever the next open is above the deciding close, the
    # order is more than the cash pays for and the executor bisects down to what it does.
    config = ReplayConfig(symbols=("SPX",), start=date(2011, 6, 1), end=date(2011, 12, 31))
    raw = {"lookback": 3}
    replayed = await replay("momentum", raw, BUNDLED, config)
    cut = [e for e in replayed.events if isinstance(e, OrderCanceled) and "cash" in e.reason]
    assert cut
    assert_same(
        replayed, vectorised_backtest("momentum", validate_params("momentum", raw), BUNDLED, config)
    )


@pytest.mark.parametrize("symbols", [("SPX",), ("SPX", "IXIC")])
async def test_orders_the_risk_gate_caps_match_the_replay(symbols: tuple[str, ...]) -> None:
    limits = RiskLimits(max_position_weight=Decimal("0.3"), max_gross_exposure=Decimal("0.5"))
    config = ReplayConfig(
        symbols=symbols, start=date(2008, 9, 1), end=date(2008, 12, 31), limits=limits
    )
    raw = {"lookback": 5, "allow_short": True}
    replayed = await replay("momentum", raw, BUNDLED, config)
    verdicts = {r.verdict for d in replayed.decisions for r in d.reviews}
    assert Verdict.CAPPED in verdicts
    assert_same(
        replayed, vectorised_backtest("momentum", validate_params("momentum", raw), BUNDLED, config)
    )


async def test_a_long_only_genome_under_a_borrow_rate_is_exact() -> None:
    costs = CostModel(borrow_rate=Decimal("0.05"))
    config = ReplayConfig(
        symbols=("SPX",), start=date(2010, 1, 1), end=date(2010, 6, 30), costs=costs
    )
    params = validate_params("rsi", {"period": 5, "lower": 40, "upper": 60})
    assert supports(config, params) is None
    replayed = await replay("rsi", params.model_dump(), BUNDLED, config)
    assert_same(replayed, vectorised_backtest("rsi", params, BUNDLED, config))


async def test_a_genome_of_weight_zero_stays_in_cash_as_in_the_replay() -> None:
    config = ReplayConfig(symbols=("SPX",), start=date(2008, 9, 1), end=date(2008, 11, 30))
    raw = {"fast": 3, "slow": 10, "weight": 0.0}
    replayed = await replay("sma_cross", raw, BUNDLED, config)
    assert not replayed.fills
    assert_same(
        replayed,
        vectorised_backtest("sma_cross", validate_params("sma_cross", raw), BUNDLED, config),
    )


async def test_metrics_are_compute_metrics_of_the_curve_with_the_replays_benchmark() -> None:
    config = ReplayConfig(
        symbols=("SPX", "IXIC"), start=date(2008, 1, 1), end=date(2008, 12, 31), costs=USUAL
    )
    raw = {"fast": 5, "slow": 20, "allow_short": True}
    replayed = await replay("sma_cross", raw, BUNDLED, config)
    ours = vectorised_backtest("sma_cross", validate_params("sma_cross", raw), BUNDLED, config)
    expected = compute_metrics(
        ours.equity,
        benchmark=ReplayBars(BUNDLED, config).benchmark(replayed.equity),
        closed_trades=[
            ClosedTrade(t.symbol, t.opened_at, t.closed_at, float(t.pnl))
            for t in replayed.round_trips
        ],
        traded_notional=float(sum((f.notional for f in replayed.fills), Decimal(0))),
    )
    # Exactly: the same function on the same curve, with the market's benchmark prepared once.
    assert ours.metrics == expected
    assert expected.beta  # a benchmark that moved, so the figures were computed


@pytest.mark.parametrize(
    ("config", "quoted"),
    [
        (
            ReplayConfig(symbols=("SPX",), limits=RiskLimits(max_drawdown=Decimal("0.2"))),
            "max_drawdown",
        ),
        (
            ReplayConfig(symbols=("SPX",), limits=RiskLimits(daily_loss_limit=Decimal("0.05"))),
            "daily_loss_limit",
        ),
        (ReplayConfig(symbols=("SPX",), limits=RiskLimits(stop_loss=Decimal("0.1"))), "stop_loss"),
        (
            ReplayConfig(symbols=("SPX",), limits=RiskLimits(take_profit=Decimal("0.1"))),
            "take_profit",
        ),
        (
            ReplayConfig(symbols=("SPX",), costs=CostModel(borrow_rate=Decimal("0.03"))),
            "borrow_rate",
        ),
    ],
)
def test_configs_it_cannot_reproduce_are_refused_with_the_reason(
    config: ReplayConfig, quoted: str
) -> None:
    shorting = validate_params("sma_cross", {"allow_short": True})
    reason = supports(config, shorting)
    assert reason is not None
    assert quoted in reason
    with pytest.raises(UnsupportedError, match=quoted):
        vectorised_backtest("sma_cross", shorting, BUNDLED, config)
    with pytest.raises(UnsupportedError, match=quoted):
        vectorised_grid("sma_cross", [shorting], BUNDLED, config)


def test_a_borrow_rate_is_refused_without_knowing_the_genome_but_not_when_shorting_is_off() -> None:
    costs = CostModel(borrow_rate=Decimal("0.03"))
    assert supports(ReplayConfig(symbols=("SPX",), costs=costs)) is not None
    no_shorts = ReplayConfig(
        symbols=("SPX",), costs=costs, margin=MarginSettings(allow_shorting=False)
    )
    assert supports(no_shorts) is None


def test_symbols_without_one_shared_calendar_are_refused() -> None:
    every_day = daily_series("AAA", opens=[10.0] * 10)
    later = daily_series("BBB", opens=[10.0] * 8, start=date(2020, 1, 3))
    config = ReplayConfig(symbols=("AAA", "BBB"))
    with pytest.raises(UnsupportedError, match="BBB has no bar"):
        vectorised_backtest(
            "buy_and_hold", validate_params("buy_and_hold"), catalog_of(every_day, later), config
        )


def test_the_grid_gives_each_genomes_own_metrics_in_order() -> None:
    config = ReplayConfig(
        symbols=("SPX",), start=date(2008, 1, 1), end=date(2008, 12, 31), costs=USUAL
    )
    grid = [validate_params("sma_cross", {"fast": f, "slow": 20}) for f in (3, 5, 10)]
    alone = [vectorised_backtest("sma_cross", p, BUNDLED, config).metrics for p in grid]
    assert vectorised_grid("sma_cross", grid, BUNDLED, config) == alone
    assert len({m.total_return for m in alone}) == 3


TIES = [("sma_cross", {"fast": 5, "slow": 10}), ("sma_cross", {"fast": 10, "slow": 20})]


@pytest.mark.parametrize(("kind", "raw"), GENOMES + TIES)
def test_signal_tables_equal_the_strategy_function_at_every_bar_and_direction(
    kind: str, raw: dict[str, object]
) -> None:
    # A pattern repeating every 5 bars gives moving averages over 5, 10 and 20 bars that tie in
    # exact arithmetic, where the running-sum shortcut and the replay's sums round apart (without
    # the fallback to the strategy's function, 15 to 54 bars here would differ); a flat stretch
    # makes the deviation vanish.
    rng = np.random.default_rng(7)
    walk = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 100))), 2)
    pattern = np.tile([101.37, 99.12, 100.55, 98.76, 102.01], 12)
    closes = np.concatenate([walk[:50], pattern, np.full(30, 100.55), walk[50:]])
    params = validate_params(kind, {**raw, "allow_short": True})
    table = signal_table(kind, params, closes, np.concatenate(([0.0], np.cumsum(closes))))
    signal = STRATEGIES[kind].signal
    for t in range(len(closes)):
        for row, direction in enumerate((-1, 0, 1)):
            assert table[row, t] == signal(params, closes[: t + 1], direction), (t, direction)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fast=st.integers(2, 15),
    gap=st.integers(1, 30),
    weight=st.sampled_from([0.25, 0.5, 1.0]),
    allow_short=st.booleans(),
    fee_bps=st.sampled_from(["0", "1", "7.5"]),
)
def test_random_sma_genomes_match_the_replay(
    fast: int, gap: int, weight: float, allow_short: bool, fee_bps: str
) -> None:
    raw = {"fast": fast, "slow": fast + gap, "weight": weight, "allow_short": allow_short}
    costs = CostModel(taker_fee_bps=Decimal(fee_bps), half_spread_bps=Decimal(1))
    config = ReplayConfig(
        symbols=("IXIC",), start=date(2001, 1, 1), end=date(2001, 3, 31), costs=costs
    )
    replayed = asyncio.run(replay("sma_cross", raw, BUNDLED, config))
    assert_same(
        replayed,
        vectorised_backtest("sma_cross", validate_params("sma_cross", raw), BUNDLED, config),
    )


async def test_fills_the_gate_cuts_at_a_gap_match_the_replay() -> None:
    # Opens 3% away from the previous close: orders reviewed at the close under a weight cap
    # of 0.5 are reviewed again at the open when it is higher, in both paths alike.
    closes = [100 + 8 * np.sin(i / 4) for i in range(120)]
    opens = [closes[0]] + [c * (1.03 if i % 2 else 0.97) for i, c in enumerate(closes[:-1])]
    series = daily_series("AAA", opens=opens, closes=closes)
    catalog = catalog_of(series)
    limits = RiskLimits(max_position_weight=Decimal("0.5"))
    config = ReplayConfig(symbols=("AAA",), limits=limits)
    raw = {"fast": 2, "slow": 6, "allow_short": True}
    replayed = await replay("sma_cross", raw, catalog, config, LOTS)
    cut = [e for e in replayed.events if isinstance(e, OrderCanceled) and "at fill" in e.reason]
    assert cut, "the fill-time check must bind on the gaps up"
    params = validate_params("sma_cross", raw)
    assert_same(
        replayed, vectorised_backtest("sma_cross", params, catalog, config, instruments=LOTS)
    )


async def test_buys_that_share_the_cash_at_a_gap_match_the_replay() -> None:
    # Two symbols that open 3% above the deciding close on entry days: the buys cannot both be
    # paid in full and share the cash, in the replay and in the vectorised path alike.
    closes = [100 + 8 * np.sin(i / 5) for i in range(150)]
    opens = [closes[0]] + [c * 1.03 for c in closes[:-1]]
    a = daily_series("AAA", opens=opens, closes=closes)
    b = daily_series("BBB", opens=opens, closes=[c * 1.001 for c in closes])
    catalog = catalog_of(a, b)
    lots = {s: Instrument(s, quantity_increment=Decimal(1)) for s in ("AAA", "BBB")}
    costs = CostModel(taker_fee_bps=Decimal(10))
    config = ReplayConfig(symbols=("BBB", "AAA"), costs=costs)
    raw = {"fast": 3, "slow": 9}
    replayed = await replay("sma_cross", raw, catalog, config, lots)
    shared = [e for e in replayed.events if isinstance(e, OrderCanceled) and "shared" in e.reason]
    assert shared, "the buys must have shared the cash"
    params = validate_params("sma_cross", raw)
    assert_same(
        replayed, vectorised_backtest("sma_cross", params, catalog, config, instruments=lots)
    )


def test_a_strategy_that_does_not_rebalance_is_checked_only_where_its_signal_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Buy and hold leaves its positions out of its targets once bought: however far they
    # drift, nothing can trade, and the exact code need not be asked (it was, ~3,300 times).
    checked: list[int] = []
    exact = _Run._decide

    def counted(run: _Run, step: int) -> list[tuple[str, Side, Decimal]]:
        checked.append(step)
        return exact(run, step)

    monkeypatch.setattr(_Run, "_decide", counted)
    config = ReplayConfig(symbols=("SPX", "IXIC"), costs=USUAL)
    params = validate_params("buy_and_hold", {"weight": 0.5})
    result = vectorised_backtest("buy_and_hold", params, BUNDLED, config)
    assert len(result.trades) == 2
    assert checked == [0]


def test_the_markets_datetimes_are_from_ns_of_every_time() -> None:
    # Gaps that repeat and gaps that do not, times before 1970 and below a microsecond: each is
    # the replay's own conversion, digit for digit.
    rng = np.random.default_rng(3)
    daily = np.arange(-400, 400, dtype=np.int64) * 86_400 * 10**9
    irregular = np.sort(rng.integers(-(10**18), 10**18, 300))
    for times in (daily, irregular, daily[:1], daily[:0]):
        moments = _datetimes(times)
        assert [repr(m) for m in moments] == [repr(from_ns(t)) for t in times.tolist()]
