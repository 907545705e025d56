"""Types shared by the tools' inputs and outputs. Money and prices are `Decimal` (exact in JSON
as strings); statistics are floats."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, validate_call

from trading.domain import Bar

Symbol = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/^-]*$",
        description="Ticker symbol, for example SPX (S&P 500) or IXIC (NASDAQ Composite).",
    ),
]


class Output(BaseModel):
    model_config = ConfigDict(frozen=True)


class BarOut(Output):
    time: datetime = Field(description="Start of the bar's period (UTC).")
    close_time: datetime = Field(description="When the bar closed (UTC).")
    open: Decimal | None = Field(description="None where the data has closes only.")
    high: Decimal | None = Field(description="None where the data has closes only.")
    low: Decimal | None = Field(description="None where the data has closes only.")
    close: Decimal
    volume: Decimal | None = Field(description="None where the data has closes only.")
    partial: bool = Field(
        False,
        description="True for an aggregated bar that lacks some of its period's bars: the "
        "period has not ended yet, or `end` cut it short.",
    )

    @classmethod
    def of(cls, bar: Bar) -> BarOut:
        return cls(
            time=bar.time,
            close_time=bar.close_time,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
        )


F = TypeVar("F", bound=Callable[..., Any])


def tool(function: F) -> F:
    """Mark a tool function: its arguments are validated against their annotations on every
    call, in-process as much as over MCP, so a bad quantity never reaches the ledger."""
    return validate_call(config=ConfigDict(arbitrary_types_allowed=True))(function)
