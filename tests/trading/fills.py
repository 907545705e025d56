"""Fills built in tests: a taker's buy of SPX without a fee, as the order and ledger tests
book them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from trading.domain import Liquidity, OrderFilled, Side


def spx_buy(
    order_id: str, time: datetime, trade_id: str, quantity: str, price: str = "100"
) -> OrderFilled:
    """`quantity` SPX bought at `price` for order `order_id`, a taker paying no fee."""
    return OrderFilled(
        order_id,
        time,
        trade_id,
        "SPX",
        Side.BUY,
        Decimal(quantity),
        Decimal(price),
        Decimal(0),
        Liquidity.TAKER,
    )
