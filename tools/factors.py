"""Factor series tools: the VIX and the Fama-French factors, point-in-time (nothing after now)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import pandas as pd
from pydantic import Field

from tools.context import ToolContext
from tools.schemas import Output, tool

FactorName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=16,
        pattern=r"^[A-Za-z_]+$",
        description="VIX, MKT_RF, SMB, HML or RF.",
    ),
]


class FactorPoint(Output):
    period: datetime = Field(description="Start of the day or month the value measures (UTC).")
    value: float


class FactorSeriesOut(Output):
    name: str
    description: str
    frequency: str = Field(description="daily or monthly.")
    as_of: datetime = Field(description="Now: no value known later is included.")
    points: list[FactorPoint] = Field(description="Oldest first; empty before the first is known.")


@tool
def get_factor_series(
    ctx: ToolContext,
    name: FactorName,
    limit: Annotated[int, Field(ge=1, le=2000, description="How many values, newest last.")] = 24,
) -> FactorSeriesOut:
    """A market factor's values known by now: the VIX (daily close) or a Fama-French factor
    (monthly return as a fraction: MKT_RF market excess return, SMB size, HML value, RF the
    risk-free rate). A month's value counts as known only once the month has ended.

    Args:
        name: VIX, MKT_RF, SMB, HML or RF.
        limit: How many values to return, newest last (1 to 2000).
    """
    info = ctx.factors.info(name)
    series = ctx.factors.series(name, limit)
    return FactorSeriesOut(
        name=info.name,
        description=info.description,
        frequency=info.frequency,
        as_of=ctx.now,
        points=[
            FactorPoint(period=t.to_pydatetime(), value=float(v))
            for t, v in zip(pd.DatetimeIndex(series.index), series.to_numpy(), strict=True)
        ],
    )
