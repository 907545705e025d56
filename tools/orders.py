"""Order tools: place and cancel orders through the risk gate and the context's executor, and
move a paper session's clock forward so orders can fill. Every one of them changes state."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from tools.context import ToolContext
from tools.schemas import Output, Symbol, tool
from trading.clock import ReplayClock
from trading.data.series import from_ns, to_ns
from trading.domain import (
    Order,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderType,
    Side,
)
from trading.errors import ConfigError, InvalidOrderError
from trading.replay import settle
from trading.risk import OrderProposal, review_price


class RiskOut(Output):
    verdict: Literal["approved", "capped", "rejected"]
    approved_quantity: Decimal
    reasons: list[str]


class OrderResult(Output):
    order_id: str | None = Field(description="None when the risk gate stopped the order.")
    symbol: str
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    quantity: Decimal = Field(description="Quantity sent to the executor.")
    status: str
    reason: str = ""
    filled_quantity: Decimal
    risk: RiskOut | None = None
    note: str = ""


@tool
def place_order(
    ctx: ToolContext,
    symbol: Symbol,
    side: Annotated[Literal["buy", "sell"], Field(description="buy or sell.")],
    quantity: Annotated[Decimal, Field(gt=0, description="Units to trade, positive.")],
    type: Annotated[Literal["market", "limit"], Field(description="market or limit.")] = "market",
    limit_price: Annotated[
        Decimal | None, Field(gt=0, description="Limit price; required for limit orders.")
    ] = None,
) -> OrderResult:
    """Place a paper order. It passes the risk gate first; a market order fills at the next
    bar's open, a limit order when a later bar crosses its price. The gate reviews a limit
    order at the higher of its limit and the market, counts working orders as filled, and
    checks the fill again if it comes at a higher price or after waiting.

    Args:
        symbol: Ticker symbol, for example SPX.
        side: buy or sell.
        quantity: Units to trade; must be positive.
        type: market (default) or limit.
        limit_price: The limit price, required for a limit order and refused for a market one.
    """
    order_type = OrderType(type)
    if order_type is OrderType.LIMIT and limit_price is None:
        raise InvalidOrderError("a limit order needs limit_price")
    if order_type is OrderType.MARKET and limit_price is not None:
        raise InvalidOrderError("a market order takes no limit_price")
    last = ctx.view.last_bar(symbol)
    now = ctx.now
    for held in list(ctx.ledger.positions):
        ctx.ledger.mark(held, ctx.view.last_bar(held).close)
    ctx.gate.observe(now, ctx.ledger.equity())
    price = review_price(order_type, limit_price, last.close)
    proposal = OrderProposal(last.symbol, Side(side), quantity, price)
    working = ctx.executor.open_orders()
    [review] = ctx.gate.review([proposal], ctx.ledger.portfolio(), ctx.instruments, working)
    risk = RiskOut(
        verdict=review.verdict.value,
        approved_quantity=review.quantity,
        reasons=list(review.reasons),
    )
    if review.quantity == 0:
        return OrderResult(
            order_id=None,
            symbol=last.symbol,
            side=side,
            type=type,
            quantity=Decimal(0),
            status="rejected",
            reason="; ".join(review.reasons),
            filled_quantity=Decimal(0),
            risk=risk,
        )
    order = Order(
        id=ctx.next_order_id(),
        symbol=last.symbol,
        side=Side(side),
        quantity=review.quantity,
        type=order_type,
        created_at=now,
        limit_price=limit_price,
        risk_price=price,
    )
    ctx.executor.submit(order)
    note = ""
    if order.status.is_open and _next_close(ctx) is None:
        note = "no later bar exists yet in the data: the order waits for the next bar"
    return _result(order, risk, note)


@tool
def cancel_order(
    ctx: ToolContext,
    order_id: Annotated[str, Field(min_length=1, max_length=128, description="The order id.")],
) -> OrderResult:
    """Cancel a working order.

    Args:
        order_id: The id place_order returned.
    """
    order = ctx.executor.orders.get(order_id)
    if order is None:
        raise ConfigError(f"no order {order_id!r} in this session")
    if not order.status.is_open:
        raise InvalidOrderError(f"order {order_id!r} is {order.status.value}: nothing to cancel")
    ctx.executor.cancel(order_id, "canceled by request")
    return _result(order, None, "")


class FillOut(Output):
    order_id: str
    time: datetime
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    fee: Decimal


class AdvanceResult(Output):
    now: datetime
    bars_advanced: int
    fills: list[FillOut]
    canceled: list[str] = Field(description="Orders canceled by the executor, with reasons.")
    cash: Decimal
    equity: Decimal


@tool
def advance_clock(
    ctx: ToolContext,
    bars: Annotated[int, Field(ge=1, le=500, description="How many bar closes to move.")] = 1,
) -> AdvanceResult:
    """Move a paper session over history forward by whole bars, filling orders on the way.

    Args:
        bars: How many bar closes to step through (1 to 500).
    """
    clock = ctx.clock
    if not isinstance(clock, ReplayClock):
        raise ConfigError("this session follows live time; its clock cannot be advanced")
    fills: list[FillOut] = []
    canceled: list[str] = []
    moved = 0
    for _ in range(bars):
        close_ns = _next_close(ctx)
        if close_ns is None:
            break
        now = from_ns(close_ns)
        clock.advance_to(now)
        closing = []
        for symbol in ctx.catalog.symbols():
            series = ctx.catalog.load(symbol)
            index = int(np.searchsorted(series.close_times, close_ns))
            if index < len(series) and int(series.close_times[index]) == close_ns:
                closing.append(series.bar(index))
        for event in settle(
            now, closing, ctx.executor, ctx.ledger, ctx.gate, ctx.costs.borrow_rate
        ):
            if isinstance(event, OrderFilled):
                fills.append(
                    FillOut(
                        order_id=event.order_id,
                        time=event.time,
                        symbol=event.symbol,
                        side=event.side.value,
                        quantity=event.quantity,
                        price=event.price,
                        fee=event.fee,
                    )
                )
            elif isinstance(event, OrderCanceled | OrderRejected):
                canceled.append(f"{event.order_id}: {event.reason}")
        moved += 1
    if moved == 0:
        raise ConfigError(f"no bar closes after {ctx.now.isoformat()} in the data")
    return AdvanceResult(
        now=ctx.now,
        bars_advanced=moved,
        fills=fills,
        canceled=canceled,
        cash=ctx.ledger.cash,
        equity=ctx.ledger.equity(),
    )


def _next_close(ctx: ToolContext) -> int | None:
    now_ns = to_ns(ctx.now)
    upcoming = []
    for symbol in ctx.catalog.symbols():
        closes = ctx.catalog.load(symbol).close_times
        index = int(np.searchsorted(closes, now_ns, side="right"))
        if index < len(closes):
            upcoming.append(int(closes[index]))
    return min(upcoming) if upcoming else None


def _result(order: Order, risk: RiskOut | None, note: str) -> OrderResult:
    return OrderResult(
        order_id=order.id,
        symbol=order.symbol,
        side=order.side.value,
        type=order.type.value,
        quantity=order.quantity,
        status=order.status.value,
        reason=order.reason,
        filled_quantity=order.filled_quantity,
        risk=risk,
        note=note,
    )
