"""Portfolio construction between the merged views and the risk gate: the views' favoured
names shared out by skfolio (equal weight, inverse volatility, minimum variance, HRP), the
RiskLimits caps held on the whole vector, and no rebalance within the drift threshold."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from trading.clock import ReplayClock
from trading.construction import ConstructionConfig, Method, construct
from trading.data import Catalog, PointInTimeView
from trading.decision import Snapshot
from trading.ledger import Ledger
from trading.risk import RiskLimits

NOW = datetime(2015, 6, 1, tzinfo=UTC)
NAMES = ("AAPL", "JNJ", "KO", "XOM", "AMD")


class Holding:
    """A portfolio that holds given weights (all the construction reads of it)."""

    def __init__(self, weights: dict[str, Decimal]) -> None:
        self.weights = weights

    def weight(self, symbol: str) -> Decimal:
        return self.weights.get(symbol, Decimal(0))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.default()


def snapshot(catalog: Catalog, held: dict[str, Decimal] | None = None) -> Snapshot:
    view = PointInTimeView(catalog, ReplayClock(NOW))
    portfolio = Ledger(cash=Decimal(100_000)).portfolio() if held is None else Holding(held)
    return Snapshot(NOW, NAMES, view, portfolio)  # type: ignore[arg-type]


def config(method: Method, **fields: float) -> ConstructionConfig:
    return ConstructionConfig(method=method, drift_threshold=0.0, window=252, **fields)


VIEWS = {
    "AAPL": Decimal("0.3"),
    "JNJ": Decimal("0.2"),
    "KO": Decimal("0.1"),
    "AMD": Decimal("-0.1"),
}


def test_views_pass_as_they_are(catalog: Catalog) -> None:
    built = construct(config(Method.VIEWS), VIEWS, snapshot(catalog))
    assert built.targets == {s: w.quantize(Decimal("0.000001")) for s, w in VIEWS.items()}


def test_equal_weight_shares_the_favoured_weight_and_keeps_the_short(catalog: Catalog) -> None:
    built = construct(config(Method.EQUAL_WEIGHT), VIEWS, snapshot(catalog))
    assert built.targets == {
        "AAPL": Decimal("0.200000"),
        "JNJ": Decimal("0.200000"),
        "KO": Decimal("0.200000"),
        "AMD": Decimal("-0.100000"),
    }
    assert "XOM" not in built.targets  # left out by the views: its position is kept


def test_inverse_volatility_weights_are_one_over_each_names_volatility(catalog: Catalog) -> None:
    built = construct(config(Method.INVERSE_VOLATILITY), VIEWS, snapshot(catalog))
    view = PointInTimeView(catalog, ReplayClock(NOW))
    inverse = {}
    for s in ("AAPL", "JNJ", "KO"):
        closes = view.closes(s, 253)
        inverse[s] = 1.0 / np.std(closes[1:] / closes[:-1] - 1.0, ddof=1)
    total = sum(inverse.values())
    for s, inv in inverse.items():
        assert float(built.targets[s]) == pytest.approx(0.6 * inv / total, abs=2e-6)
    assert built.targets["JNJ"] > built.targets["AAPL"]  # the calmer stock gets more


@pytest.mark.parametrize("method", [Method.MIN_VARIANCE, Method.HRP])
def test_optimisers_keep_the_invested_share_on_the_favoured_names(
    catalog: Catalog, method: Method
) -> None:
    built = construct(config(method), VIEWS, snapshot(catalog))
    longs = {s: float(w) for s, w in built.targets.items() if w > 0}
    assert set(longs) <= {"AAPL", "JNJ", "KO"}
    assert sum(longs.values()) == pytest.approx(0.6, abs=1e-5)
    assert built.targets["AMD"] == Decimal("-0.100000")
    # Less in-sample variance than the equal split of the same names.
    view = PointInTimeView(catalog, ReplayClock(NOW))
    rows = [view.closes(s, 253) for s in ("AAPL", "JNJ", "KO")]
    returns = np.vstack([r[1:] / r[:-1] - 1.0 for r in rows]).T
    weights = np.array([longs.get(s, 0.0) for s in ("AAPL", "JNJ", "KO")]) / 0.6
    cov = np.cov(returns, rowvar=False)
    assert weights @ cov @ weights < np.full(3, 1 / 3) @ cov @ np.full(3, 1 / 3)


def test_the_per_name_cap_moves_the_excess_to_names_with_room(catalog: Catalog) -> None:
    views = {"AAPL": Decimal("0.5"), "JNJ": Decimal("0.3"), "KO": Decimal("0.2")}
    limits = RiskLimits(max_position_weight=Decimal("0.4"))
    built = construct(config(Method.VIEWS), views, snapshot(catalog), limits)
    # AAPL's 0.1 over the cap goes to JNJ and KO as 3:2.
    assert built.targets == {
        "AAPL": Decimal("0.400000"),
        "JNJ": Decimal("0.360000"),
        "KO": Decimal("0.240000"),
    }


def test_gross_and_net_caps_scale_the_whole_vector(catalog: Catalog) -> None:
    views = {"AAPL": Decimal("0.5"), "JNJ": Decimal("0.3"), "AMD": Decimal("-0.2")}
    gross = construct(
        config(Method.VIEWS),
        views,
        snapshot(catalog),
        RiskLimits(max_gross_exposure=Decimal("0.5")),
    )
    assert gross.targets == {
        "AAPL": Decimal("0.250000"),
        "JNJ": Decimal("0.150000"),
        "AMD": Decimal("-0.100000"),
    }
    net = construct(
        config(Method.VIEWS), views, snapshot(catalog), RiskLimits(max_net_exposure=Decimal("0.3"))
    )
    # Net 0.6 halved to 0.3, every weight with it.
    assert net.targets == {
        "AAPL": Decimal("0.250000"),
        "JNJ": Decimal("0.150000"),
        "AMD": Decimal("-0.100000"),
    }


def test_kept_positions_use_their_share_of_the_gross_cap(catalog: Catalog) -> None:
    held = {"XOM": Decimal("0.5")}  # left out by the views: kept, and counted
    built = construct(
        config(Method.VIEWS),
        {"AAPL": Decimal("0.5"), "JNJ": Decimal("0.5")},
        snapshot(catalog, held),
        RiskLimits(max_gross_exposure=Decimal("1")),
    )
    assert built.targets == {"AAPL": Decimal("0.250000"), "JNJ": Decimal("0.250000")}


def test_no_rebalance_within_the_drift_threshold(catalog: Catalog) -> None:
    held = {"AAPL": Decimal("0.29"), "JNJ": Decimal("0.21")}
    views = {"AAPL": Decimal("0.3"), "JNJ": Decimal("0.2")}
    calm = ConstructionConfig(method=Method.VIEWS, drift_threshold=0.05)
    within = construct(calm, views, snapshot(catalog, held))
    assert within.targets == {}
    assert not within.rebalanced
    assert within.turnover == pytest.approx(0.01)
    moved = construct(
        calm, {"AAPL": Decimal("0.5"), "JNJ": Decimal("0.0")}, snapshot(catalog, held)
    )
    assert moved.rebalanced
    assert moved.turnover == pytest.approx(0.5 * (0.21 + 0.21))
    assert moved.targets == {"AAPL": Decimal("0.500000"), "JNJ": Decimal("0.000000")}
