"""What trading costs: exchange fees, commissions, spread and market impact, borrow.

One model serves paper trading, replays and competitions, so every entrant pays the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Final

from pydantic import Field

from trading.closed import Closed
from trading.domain import ZERO, Liquidity, Side

BPS: Final = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class FillCost:
    exchange_fee: Decimal
    commission: Decimal
    raw_commission: Decimal  # the order's commission so far before its minimum

    @property
    def total(self) -> Decimal:
        return self.exchange_fee + self.commission


class CostModel(Closed):
    """Costs of trading. All zero means fills at exactly the reference price with no fee."""

    taker_fee_bps: Decimal = Field(ZERO, ge=0, le=1000, description="Fee on notional, taker.")
    maker_fee_bps: Decimal = Field(ZERO, ge=0, le=1000, description="Fee on notional, maker.")
    commission_per_share: Decimal = Field(ZERO, ge=0, description="Commission per unit traded.")
    commission_bps: Decimal = Field(ZERO, ge=0, le=1000, description="Commission on notional.")
    min_commission: Decimal = Field(ZERO, ge=0, description="Least commission per order.")
    half_spread_bps: Decimal = Field(
        ZERO, ge=0, le=1000, description="Half the bid-ask spread, paid by market orders."
    )
    impact_coefficient: Decimal = Field(
        ZERO,
        ge=0,
        le=10,
        description="k in impact = k * daily volatility * sqrt(quantity / average daily volume).",
    )
    participation_cap: Decimal = Field(
        Decimal("0.1"),
        gt=0,
        le=1,
        description="Most of the average daily volume one order may take in one bar.",
    )
    volume_window: int = Field(20, ge=1, le=500, description="Bars in the volume average.")
    borrow_rate: Decimal = Field(
        ZERO, ge=0, le=10, description="Annual cost of borrowing shorted units, on their value."
    )

    def fee(
        self,
        quantity: Decimal,
        price: Decimal,
        liquidity: Liquidity,
        prior_raw_commission: Decimal | None = None,
    ) -> FillCost:
        """Exchange fee and commission for one fill of an order. `prior_raw_commission` is the
        commission the order's earlier fills ran up before any minimum (None: no earlier fill),
        so an order split over fills pays max(minimum, total) once, not a minimum per fill."""
        notional = quantity * price
        rate = self.taker_fee_bps if liquidity is Liquidity.TAKER else self.maker_fee_bps
        raw = quantity * self.commission_per_share + notional * self.commission_bps / BPS
        if prior_raw_commission is None:
            charged_before, raw_before = ZERO, ZERO
        else:
            charged_before = max(self.min_commission, prior_raw_commission)
            raw_before = prior_raw_commission
        commission = max(self.min_commission, raw_before + raw) - charged_before
        return FillCost(notional * rate / BPS, commission, raw_before + raw)

    def market_fill_price(
        self,
        side: Side,
        reference: Decimal,
        quantity: Decimal,
        average_volume: float,
        daily_volatility: float,
        tick: Decimal,
    ) -> Decimal:
        """Reference price moved against the taker by half the spread and square-root impact,
        rounded to the tick against the taker too (a fill is never better than its model)."""
        impact = ZERO
        if self.impact_coefficient > ZERO and average_volume > 0 and daily_volatility > 0:
            participation = float(quantity) / average_volume
            impact = Decimal(repr(daily_volatility * math.sqrt(participation)))
            impact *= self.impact_coefficient
        slip = self.half_spread_bps / BPS + impact
        if slip == ZERO:
            return reference
        price = reference * (1 + side.sign * slip)
        rounding = ROUND_CEILING if side is Side.BUY else ROUND_FLOOR
        return (price / tick).to_integral_value(rounding=rounding) * tick

    def max_quantity_for_volume(self, average_volume: float) -> Decimal | None:
        """The participation cap in units, or None when the data carries no volume."""
        if average_volume <= 0:
            return None
        return self.participation_cap * Decimal(repr(average_volume))
