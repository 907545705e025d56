"""A replay's held positions rebalance exactly where sizing says: the guard that settles most
held bars without sizing (`trading.sizing.RebalanceGuard`) never changes what a run does."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from tests.helpers import catalog_of, daily_series
from trading.costs import CostModel
from trading.decision import Decision, Snapshot
from trading.domain import Instrument
from trading.replay import ReplayConfig, ReplayResult, run_replay
from trading.sizing import RebalanceGuard


class Constant:
    """The same `Decision` object on every bar, as a running strategy between signals."""

    name = "constant"

    def __init__(self, targets: dict[str, Decimal]) -> None:
        self._decision = Decision(targets)

    async def decide(self, snapshot: Snapshot) -> Decision:
        return self._decision


def walk(bars: int) -> list[float]:
    """Closes that swing by a quarter around 100, in and out of any 2% rebalance band."""
    return [round(100 + 25 * math.sin(i / 9) + (i % 7) / 3, 2) for i in range(bars)]


async def replay(weights: dict[str, Decimal], costs: CostModel) -> ReplayResult:
    closes = walk(400)
    opens = [closes[0], *closes[:-1]]
    series = [daily_series(s, opens, closes) for s in weights]
    lots = {s: Instrument(s, quantity_increment=Decimal(1)) for s in weights}
    config = ReplayConfig(symbols=tuple(weights), cash=Decimal(100_000), costs=costs)
    return await run_replay(
        Constant(weights), catalog_of(*series), config, run_id="r", instruments=lots
    )


@pytest.mark.parametrize(
    "costs", [CostModel(), CostModel(taker_fee_bps=Decimal(3), half_spread_bps=Decimal(2))]
)
@pytest.mark.parametrize(
    "weights",
    [{"X": Decimal("0.5")}, {"X": Decimal("-0.5")}, {"X": Decimal("0.4"), "Y": Decimal("0.3")}],
)
async def test_a_run_through_the_exact_sizing_on_every_bar_does_the_same(
    weights: dict[str, Decimal], costs: CostModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    guarded = await replay(weights, costs)
    skipped = 0
    skips = RebalanceGuard.skips

    def counted(self: RebalanceGuard, *args: object) -> bool:
        nonlocal skipped
        skipped += skips(self, *args)  # type: ignore[arg-type]
        return False

    monkeypatch.setattr(RebalanceGuard, "skips", counted)
    exact = await replay(weights, costs)
    assert exact.equity == guarded.equity
    assert exact.events == guarded.events
    assert exact.orders == guarded.orders
    assert [(d.time, d.reviews) for d in exact.decisions] == [
        (d.time, d.reviews) for d in guarded.decisions
    ]
    assert exact.metrics == guarded.metrics
    # The walk both rebalances again and again and holds most bars, settled by the guard.
    assert len(exact.fills) > 10 * len(weights)
    assert skipped > 150 * len(weights)
