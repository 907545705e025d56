"""Quant baselines: signals from the closes visible at "now", typed bounded parameters."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from agents.quant import STRATEGIES, build_quant_agent
from tests.helpers import catalog_of, daily_series
from trading.clock import ReplayClock
from trading.data import PointInTimeView
from trading.decision import Snapshot
from trading.errors import ConfigError
from trading.ledger import Ledger


async def targets_at(kind: str, closes: list[float], day: int, held: str = "0", **params: object):
    series = daily_series("SPX", closes)
    clock = ReplayClock(datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=day + 1))
    view = PointInTimeView(catalog_of(series), clock)
    ledger = Ledger(cash=Decimal(1000))
    if held != "0":
        from trading.domain import Liquidity, OrderFilled, Side

        side = Side.BUY if Decimal(held) > 0 else Side.SELL
        ledger.apply_fill(
            OrderFilled(
                "o",
                clock.now(),
                "t",
                "SPX",
                side,
                abs(Decimal(held)),
                Decimal(1),
                Decimal(0),
                Liquidity.TAKER,
            )
        )
    agent = build_quant_agent(kind, params)
    decision = await agent.decide(Snapshot(clock.now(), ("SPX",), view, ledger.portfolio()))
    return decision.targets["SPX"]


async def test_sma_cross_is_long_only_when_fast_average_is_above_slow() -> None:
    closes = [10, 10, 10, 11, 12, 11, 9, 8]
    # Day 4 (close 12): fast(2) = 11.5 > slow(3) = 11 -> long.
    assert await targets_at("sma_cross", closes, 4, fast=2, slow=3) == 1
    # Day 6 (close 9): fast = 10 < slow = 10.67 -> flat (long only).
    assert await targets_at("sma_cross", closes, 6, fast=2, slow=3) == 0
    # With shorting allowed the same signal is a short.
    assert await targets_at("sma_cross", closes, 6, fast=2, slow=3, allow_short=True) == -1


async def test_sma_cross_waits_for_enough_history() -> None:
    assert await targets_at("sma_cross", [10, 11, 12], 1, fast=2, slow=3) == 0


async def test_sma_cross_sees_no_future_close() -> None:
    rising_later = [10, 10, 10, 9, 9, 50, 60]
    # At day 4 the later spike must not matter: fast 9 < slow 9.33.
    assert await targets_at("sma_cross", rising_later, 4, fast=2, slow=3) == 0


async def test_momentum_follows_the_lookback_return() -> None:
    assert await targets_at("momentum", [10, 11, 12], 2, lookback=2) == 1
    assert await targets_at("momentum", [12, 11, 10], 2, lookback=2, allow_short=True) == -1
    assert await targets_at("momentum", [10, 10, 10.1], 2, lookback=2, threshold=0.05) == 0


async def test_mean_reversion_buys_low_z_and_holds_until_inside_exit() -> None:
    closes = [10, 10, 10, 10, 6]
    # z of 6 in [10, 10, 10, 10, 6]: mean 9.2, sd 1.789 -> z = -1.789 <= -1.5 -> long.
    assert await targets_at("mean_reversion", closes, 4, window=5, entry_z=1.5, exit_z=0.5) == 1
    between = [10, 9, 11, 10, 9]  # z = -0.96: not an entry (1.5), not an exit (0.5): keep
    assert await targets_at("mean_reversion", between, 4, held="5", window=5, entry_z=1.5) == 1
    assert await targets_at("mean_reversion", between, 4, held="0", window=5, entry_z=1.5) == 0


async def test_rsi_buys_oversold_and_exits_overbought() -> None:
    falling = [float(x) for x in range(30, 10, -1)]
    assert await targets_at("rsi", falling, 19, period=5) == 1
    rising = [float(x) for x in range(10, 30)]
    assert await targets_at("rsi", rising, 19, held="5", period=5) == 0


async def test_buy_and_hold_splits_its_weight_across_symbols() -> None:
    spx, ixic = daily_series("SPX", [10, 11]), daily_series("IXIC", [20, 21])
    clock = ReplayClock(datetime(2020, 1, 3, tzinfo=UTC))
    view = PointInTimeView(catalog_of(spx, ixic), clock)
    agent = build_quant_agent("buy_and_hold", {"weight": "0.8"})
    snapshot = Snapshot(clock.now(), ("SPX", "IXIC"), view, Ledger(Decimal(1)).portfolio())
    decision = await agent.decide(snapshot)
    assert decision.targets == {"SPX": Decimal("0.4"), "IXIC": Decimal("0.4")}


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        (
            "nope",
            {},
            "unknown agent 'nope'; available: buy_and_hold, equal_weight, factor_rank, "
            "low_volatility",
        ),
        ("sma_cross", {"fats": "3"}, "unknown parameter 'fats'"),
        ("sma_cross", {"fast": "x"}, "parameter 'fast'='x'"),
        ("sma_cross", {"fast": "60", "slow": "50"}, "fast (60) must be shorter than slow (50)"),
        ("rsi", {"period": "1"}, "greater than or equal to 2"),
    ],
)
def test_bad_agent_or_parameter_is_a_clear_config_error(
    kind: str, params: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        build_quant_agent(kind, params)
    assert message in str(error.value)


def test_every_strategy_parameter_has_bounds_for_evolution() -> None:
    for strategy in STRATEGIES.values():
        for name, field in strategy.params.model_fields.items():
            if field.annotation is bool:
                continue
            bounds = {type(m).__name__ for m in field.metadata}
            assert {"Ge", "Le"} <= bounds, f"{strategy.params.__name__}.{name} lacks bounds"


@pytest.mark.parametrize("size", [5, 20, 37, 250])
def test_mean_reversions_z_score_is_numpys_mean_and_std_to_the_last_bit(size: int) -> None:
    from trading.strategies import _z_score

    rng = np.random.default_rng(size)
    windows = [100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, size))) for _ in range(300)]
    windows += [np.full(size, 0.1) + rng.integers(-2, 3, size) * 2.0**-55 for _ in range(100)]
    for window in windows:
        deviation = window.std(ddof=1)
        expected = None if deviation == 0.0 else float((window[-1] - window.mean()) / deviation)
        assert _z_score(window) == expected
    assert _z_score(np.full(size, 2.0)) is None  # an exact mean: no deviation at all
    assert math.isnan(_z_score(np.array([1.0] * (size - 1) + [math.nan])) or 0.0)
