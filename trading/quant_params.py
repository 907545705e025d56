"""The parameters every quant strategy shares, per-symbol (`trading.strategies`) or
cross-sectional (`trading.portfolio_strategies`)."""

from __future__ import annotations

from pydantic import Field

from trading.closed import Closed


class QuantParams(Closed):
    weight: float = Field(1.0, ge=0.0, le=1.0, description="Share of equity when in a position.")
    allow_short: bool = Field(False, description="Go short on a sell signal instead of flat.")
