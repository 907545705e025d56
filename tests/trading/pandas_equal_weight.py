"""Equal weight rebalanced monthly, computed in plain pandas (and Decimal for money), outside the
replay: the reference `test_portfolio_strategies` and `bench/universe.py` check it against.

The rules, written out: on the close of the first bar of each calendar month, every symbol's
target is weight / n of equity (equity = cash + quantities at that close); a move smaller than
the drift threshold of equity is skipped; quantities round down to 0.0001; the orders fill at
the next bar's close (closes-only data), sells before buys, with no costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal

import pandas as pd

from trading.data import Catalog

LOT = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class ReferenceFill:
    day: date
    symbol: str
    quantity: Decimal  # signed: negative sells
    price: Decimal


@dataclass(frozen=True, slots=True)
class Reference:
    targets: dict[date, Decimal]  # each rebalancing day and the weight every symbol got
    fills: list[ReferenceFill]
    equity: pd.Series  # per bar, float
    final_equity: Decimal


def closes_frame(catalog: Catalog, symbols: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({s: catalog.load(s).to_frame()["close"] for s in symbols})


def equal_weight_reference(
    closes: pd.DataFrame,
    start: date,
    end: date,
    *,
    cash: Decimal,
    weight: Decimal,
    threshold: Decimal,
) -> Reference:
    months = closes.index.tz_localize(None).to_period("M")
    first_of_month = pd.Series(months != months.to_series().shift(1).to_numpy(), closes.index)
    days = closes.index.date
    window = closes[(days >= start) & (days <= end)]
    prices = window.map(lambda v: Decimal(f"{v:.3f}"))
    target = weight / len(closes.columns)
    held = dict.fromkeys(closes.columns, Decimal(0))
    orders: dict[str, Decimal] = {}
    targets: dict[date, Decimal] = {}
    fills: list[ReferenceFill] = []
    equity: list[float] = []
    for i, (stamp, row) in enumerate(prices.iterrows()):
        for symbol in sorted(orders, key=lambda s: (orders[s] > 0, s)):  # sells first
            quantity = orders[symbol]
            held[symbol] += quantity
            cash -= quantity * row[symbol]
            fills.append(ReferenceFill(stamp.date(), symbol, quantity, row[symbol]))
        assert cash >= 0, f"the buys on {stamp.date()} would need cash sharing"
        orders = {}
        value = cash + sum(held[s] * row[s] for s in closes.columns)
        equity.append(float(value))
        if i == len(prices) - 1 or not first_of_month[stamp]:
            continue
        targets[stamp.date()] = target
        for symbol in closes.columns:
            price = row[symbol]
            wanted = (target * value / price / LOT).to_integral_value(rounding=ROUND_DOWN) * LOT
            if abs(wanted - held[symbol]) * price < threshold * value:
                continue
            if wanted != held[symbol]:
                orders[symbol] = wanted - held[symbol]
    return Reference(targets, fills, pd.Series(equity, index=prices.index), value)
