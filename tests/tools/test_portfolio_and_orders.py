"""Portfolio analytics, and orders through the risk gate and the paper executor."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from pydantic import ValidationError

from tools.context import ToolContext
from tools.orders import advance_clock, cancel_order, place_order
from tools.portfolio import analyze_portfolio, get_portfolio
from trading.data import Catalog
from trading.errors import ConfigError, InvalidOrderError
from trading.risk import RiskLimits

AS_OF = datetime(2008, 9, 16, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.default()


@pytest.fixture
def ctx(catalog: Catalog) -> ToolContext:
    return ToolContext.paper(catalog, as_of=AS_OF)


def bar(catalog: Catalog, day: str, field: str) -> Decimal:
    return Decimal(f"{catalog.load('SPX').to_frame().loc[day, field]:.2f}")


def test_market_order_fills_at_the_next_open_when_the_clock_advances(
    ctx: ToolContext, catalog: Catalog
) -> None:
    placed = place_order(ctx, "SPX", "buy", Decimal(10))
    assert placed.status == "accepted"
    assert placed.risk is not None
    assert placed.risk.verdict == "approved"
    moved = advance_clock(ctx, 1)
    [fill] = moved.fills
    assert fill.price == bar(catalog, "2008-09-16", "open")
    assert moved.now == datetime(2008, 9, 17, tzinfo=UTC)
    state = get_portfolio(ctx)
    [position] = state.positions
    assert position.quantity == 10
    assert position.mark == bar(catalog, "2008-09-16", "close")
    assert state.cash == Decimal(100_000) - 10 * fill.price


def test_limit_order_can_be_canceled(ctx: ToolContext) -> None:
    placed = place_order(ctx, "SPX", "buy", Decimal(1), "limit", Decimal(500))
    assert placed.order_id is not None
    canceled = cancel_order(ctx, placed.order_id)
    assert canceled.status == "canceled"
    with pytest.raises(InvalidOrderError, match="nothing to cancel"):
        cancel_order(ctx, placed.order_id)
    with pytest.raises(ConfigError, match="no order 'nope'"):
        cancel_order(ctx, "nope")


def test_risk_gate_caps_orders_from_tools(catalog: Catalog) -> None:
    ctx = ToolContext.paper(
        catalog, as_of=AS_OF, limits=RiskLimits(max_position_weight=Decimal("0.1"))
    )
    placed = place_order(ctx, "SPX", "buy", Decimal(50))
    assert placed.risk is not None
    assert placed.risk.verdict == "capped"
    assert placed.quantity < 10


def test_bad_orders_are_refused_before_the_executor(ctx: ToolContext) -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        place_order(ctx, "SPX", "buy", Decimal(-1))
    with pytest.raises(InvalidOrderError, match="needs limit_price"):
        place_order(ctx, "SPX", "buy", Decimal(1), "limit")
    too_big = place_order(ctx, "SPX", "buy", Decimal(1000))  # 1.2 million of 100_000 equity
    assert too_big.risk is not None
    assert too_big.risk.verdict == "capped"
    assert too_big.quantity < 100


def test_analyze_portfolio_matches_a_hand_computation(ctx: ToolContext, catalog: Catalog) -> None:
    result = analyze_portfolio(ctx, {"SPX": Decimal(10)}, lookback=100, confidence=0.95)
    closes = catalog.load("SPX").to_frame().loc[:"2008-09-15", "close"].to_numpy()[-101:]
    returns = np.diff(closes) / closes[:-1]
    var = np.quantile(-returns, 0.95)
    assert result.weights == {"SPX": 1.0}
    assert result.concentration == 1.0
    assert result.var == pytest.approx(var)
    assert result.cvar == pytest.approx((-returns)[-returns >= var].mean())
    assert result.beta == pytest.approx(1.0)  # SPX against its own benchmark
    assert result.value == 10 * bar(catalog, "2008-09-15", "close")


def test_analyze_portfolio_of_two_indices_reports_their_correlation(ctx: ToolContext) -> None:
    result = analyze_portfolio(ctx, {"SPX": Decimal(10), "IXIC": Decimal(-5)})
    assert result.gross_exposure > abs(result.net_exposure)
    assert 0.5 < (result.correlation["IXIC"]["SPX"] or 0) < 1.0
    assert sum(abs(w) for w in result.weights.values()) == pytest.approx(1.0)


def test_a_flat_account_has_nothing_to_analyse(ctx: ToolContext) -> None:
    with pytest.raises(ConfigError, match="flat"):
        analyze_portfolio(ctx)
