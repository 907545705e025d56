"""Portfolio analytics, and orders through the risk gate and the paper executor."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tools.context import ToolContext
from tools.orders import advance_clock, cancel_order, place_order
from tools.portfolio import analyze_portfolio, get_portfolio
from trading.clock import ReplayClock
from trading.costs import CostModel
from trading.data import Catalog, PointInTimeView
from trading.domain import OrderFilled
from trading.errors import ConfigError, InvalidOrderError
from trading.ledger import Ledger
from trading.paper import PaperExecutor
from trading.risk import RiskGate, RiskLimits

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


def test_a_marketable_sell_limit_is_reviewed_at_the_market_not_at_its_limit(
    catalog: Catalog,
) -> None:
    # A sell limit at 0.01 fills at the next open like a market order: reviewed at its own limit
    # it passed at any size and filled $200,934 against a 1,000 cap.
    limits = RiskLimits(max_order_notional=Decimal(1000))
    ctx = ToolContext.paper(catalog, as_of=AS_OF, limits=limits)
    placed = place_order(ctx, "SPX", "sell", Decimal(1_000_000), "limit", Decimal("0.01"))
    assert placed.risk is not None
    assert placed.risk.verdict == "capped"
    assert placed.quantity * bar(catalog, "2008-09-15", "close") <= 1000
    [fill] = advance_clock(ctx, 1).fills
    assert fill.quantity * fill.price <= 1000


def test_a_marketable_limit_cannot_take_a_position_past_the_weight_limit(
    ctx: ToolContext,
) -> None:
    # It filled -2.03x equity with the default limits. Judged at the price paid (the close
    # moves it afterwards, as the market does any position):
    place_order(ctx, "SPX", "sell", Decimal(1_000_000), "limit", Decimal("0.01"))
    [fill] = advance_clock(ctx, 1).fills
    state = get_portfolio(ctx)
    [position] = state.positions
    equity_at_fill = state.cash + position.quantity * fill.price
    assert abs(position.quantity) * fill.price <= equity_at_fill


def test_a_buy_limit_above_the_market_is_reviewed_at_its_limit(ctx: ToolContext) -> None:
    # It may fill anywhere up to its limit: the gate assumes the worst of those prices.
    placed = place_order(ctx, "SPX", "buy", Decimal(1000), "limit", Decimal(10_000))
    assert placed.risk is not None
    assert placed.quantity == 10  # 100,000 of equity at 10,000 a unit


class WatchedLedger(Ledger):
    """Notes, for every fill, the equity and position the gate saw just before it."""

    def __init__(self, cash: Decimal) -> None:
        super().__init__(cash=cash)
        self.seen: list[tuple[Decimal, Decimal, OrderFilled]] = []

    def apply_fill(self, fill: OrderFilled) -> None:
        self.seen.append((self.equity(), self.quantity(fill.symbol), fill))
        super().apply_fill(fill)


def watched_context(catalog: Catalog, as_of: datetime, limits: RiskLimits) -> ToolContext:
    clock = ReplayClock(as_of)
    view = PointInTimeView(catalog, clock)
    ledger = WatchedLedger(Decimal(100_000))
    gate = RiskGate(limits)
    executor = PaperExecutor(ledger, view, clock, CostModel(), gate=gate)
    return ToolContext(
        catalog=catalog,
        clock=clock,
        view=view,
        ledger=ledger,
        executor=executor,
        gate=gate,
        costs=CostModel(),
    )


order_steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("order"),
            st.sampled_from(["buy", "sell"]),
            st.decimals(min_value="0.0001", max_value="1000000", places=4),
            # None: a market order; else a limit at this multiple of the last close.
            st.none() | st.decimals(min_value="0.00001", max_value="1000", places=5),
        ),
        st.tuples(st.just("advance"), st.integers(1, 5)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=order_steps,
    weight=st.decimals(min_value="0.1", max_value="2", places=2),
    notional=st.none() | st.decimals(min_value="100", max_value="1000000", places=0),
    day=st.sampled_from(["2008-09-16", "2013-05-20", "2001-01-02"]),
)
def test_property_no_sequence_of_orders_of_any_type_fills_beyond_the_limits(
    catalog: Catalog,
    steps: list[tuple[object, ...]],
    weight: Decimal,
    notional: Decimal | None,
    day: str,
) -> None:
    """Market and limit orders (marketable or not, any size), placed and left working in any
    order: every fill that adds exposure ends within the position and gross caps at the price
    it was paid, and within the order notional cap."""
    limits = RiskLimits(
        max_position_weight=weight, max_gross_exposure=weight, max_order_notional=notional
    )
    as_of = datetime.fromisoformat(day).replace(tzinfo=UTC)
    ctx = watched_context(catalog, as_of, limits)
    for step in steps:
        if step[0] == "advance":
            try:
                advance_clock(ctx, int(str(step[1])))
            except ConfigError:
                break  # the end of the data
            continue
        _, side, quantity, multiple = step
        assert isinstance(quantity, Decimal)
        if multiple is None:
            place_order(ctx, "SPX", side, quantity)  # type: ignore[arg-type]
        else:
            assert isinstance(multiple, Decimal)
            limit = (ctx.view.last_bar("SPX").close * multiple).quantize(Decimal("0.00001"))
            if limit > 0:
                place_order(ctx, "SPX", side, quantity, "limit", limit)  # type: ignore[arg-type]
    ledger = ctx.ledger
    assert isinstance(ledger, WatchedLedger)
    for equity, before, fill in ledger.seen:
        after = before + fill.quantity * fill.side.sign
        if abs(after) <= abs(before) and after * before >= 0:
            continue  # it only reduced the position: exits always pass
        assert abs(after) * fill.price <= weight * equity, (fill, equity, before)
        if notional is not None:
            assert fill.quantity * fill.price <= notional, fill


def test_orders_still_working_count_against_the_headroom_of_a_new_one(catalog: Catalog) -> None:
    # Each order alone fits the 0.5 weight cap; placed before either fills, the second gets
    # only what the first leaves.
    ctx = ToolContext.paper(
        catalog, as_of=AS_OF, limits=RiskLimits(max_position_weight=Decimal("0.5"))
    )
    close = bar(catalog, "2008-09-15", "close")
    first = place_order(ctx, "SPX", "buy", Decimal(40))
    second = place_order(ctx, "SPX", "buy", Decimal(40))
    assert first.quantity == 40
    assert (first.quantity + second.quantity) * close <= Decimal("0.5") * 100_000
    assert second.risk is not None
    assert second.risk.verdict == "capped"
