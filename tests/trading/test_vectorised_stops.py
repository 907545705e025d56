"""Stop-loss and take-profit on the vectorised path: the engine runs every bar whose close may
cross a position's level (a guard band around it in floats), and the result is the replay's,
digit for digit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.helpers import catalog_of, daily_series
from tests.trading.test_vectorised_replay import BUNDLED, USUAL, assert_identical, both
from trading.replay import ReplayConfig
from trading.risk import RiskLimits

STOPS = [
    RiskLimits(stop_loss=Decimal("0.05")),
    RiskLimits(take_profit=Decimal("0.08")),
    RiskLimits(stop_loss=Decimal("0.03"), take_profit=Decimal("0.04")),
]
CASES: list[tuple[str, dict[str, object], tuple[str, ...], date, date]] = [
    ("buy_and_hold", {}, ("SPX",), date(2008, 1, 1), date(2009, 6, 30)),
    ("sma_cross", {"fast": 10, "slow": 50, "allow_short": True}, ("SPX",), date(2006, 1, 1),
     date(2009, 12, 31)),
    ("momentum", {"lookback": 20, "threshold": 0.02, "allow_short": True}, ("SPX", "IXIC"),
     date(2012, 1, 1), date(2013, 12, 31)),
    ("mean_reversion", {"window": 10, "entry_z": 1.5, "exit_z": 0.5, "allow_short": True},
     ("SPX", "IXIC"), date(2008, 1, 1), date(2008, 12, 31)),
    ("rsi", {"period": 5, "lower": 40, "upper": 60}, ("SPX",), date(2010, 1, 1),
     date(2011, 6, 30)),
]  # fmt: skip


@pytest.mark.parametrize("limits", STOPS, ids=["stop", "take", "both"])
@pytest.mark.parametrize(("kind", "raw", "symbols", "start", "end"), CASES)
async def test_a_run_with_stops_equals_the_replays(
    kind: str,
    raw: dict[str, object],
    symbols: tuple[str, ...],
    start: date,
    end: date,
    limits: RiskLimits,
) -> None:
    config = ReplayConfig(symbols=symbols, start=start, end=end, costs=USUAL, limits=limits)
    replayed, ours = await both(kind, raw, BUNDLED, config)
    assert_identical(replayed, ours)


async def test_stops_that_fire_make_the_replays_exits() -> None:
    config = ReplayConfig(
        symbols=("SPX",),
        start=date(2008, 1, 1),
        end=date(2009, 6, 30),
        costs=USUAL,
        limits=RiskLimits(stop_loss=Decimal("0.05"), take_profit=Decimal("0.05")),
    )
    replayed, ours = await both("buy_and_hold", {}, BUNDLED, config)
    reasons = [r.reasons for d in replayed.decisions for r in d.reviews if r.reasons]
    assert sum("stop-loss" in why[-1] for why in reasons) >= 3
    assert sum("take-profit" in why[-1] for why in reasons) >= 1
    assert_identical(replayed, ours)


async def test_a_close_exactly_on_the_level_exits_as_in_the_replay() -> None:
    # Bought at 100 without costs: closes of exactly 95 and 110 are moves of exactly -5% and
    # +10%, which exit; 95.01 and 109.99 do not. Buy and hold buys again after each exit.
    path = [100.0, 100, 100, 95.01, 95, 100, 100, 100, 94.99, 100, 100, 110, 109.99, 100, 109.99]
    series = daily_series("AAA", opens=path, closes=path, volumes=[1e9] * len(path))
    limits = RiskLimits(stop_loss=Decimal("0.05"), take_profit=Decimal("0.10"))
    config = ReplayConfig(symbols=("AAA",), limits=limits)
    replayed, ours = await both("buy_and_hold", {}, catalog_of(series), config)
    exits = [
        (r.reasons[-1].split(":")[0], r.proposal.reference_price)
        for d in replayed.decisions
        for r in d.reviews
        if r.reasons
    ]
    assert exits == [("stop-loss 5.00%", 95), ("stop-loss 5.00%", Decimal("94.99")),
                     ("take-profit 10.00%", 110)]  # fmt: skip
    assert_identical(replayed, ours)
