"""`evaluate_factor`: a declarative factor's IC, decay, quintiles, turnover and Fama-French
correlations over a universe, from the closes visible at now (`trading.factor_research`)."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from tools.context import ToolContext
from tools.schemas import Output, Symbol, tool
from trading.data.factors import FAMA_FRENCH
from trading.data.universe import SP20, dataset_notes
from trading.errors import ConfigError
from trading.factor_research import (
    QUINTILES,
    Combination,
    FactorSpec,
    Indicator,
    evaluate,
)

MIN_MONTHS = 6  # fewer overlapping months than this give no correlation


class IcAtLag(Output):
    lag: int = Field(description="Bars ahead the forward return is measured over.")
    mean: float | None = Field(description="Mean daily rank IC.")
    std: float | None
    t_stat: float | None = Field(
        description="Mean / (std / sqrt(n)) on every lag-th date (non-overlapping returns)."
    )
    dates: int
    independent_dates: int


class DecayPoint(Output):
    lag: int
    mean_ic: float | None


class QuintileReturn(Output):
    quintile: int = Field(description="1: lowest factor values ... 5: highest.")
    mean_return: float | None = Field(description="Mean next-bar return of its names.")


class FamaFrenchCorrelation(Output):
    factor: str
    correlation: float | None = Field(
        description="Pearson, monthly: the top-minus-bottom quintile return against the factor."
    )
    months: int


class FactorEvaluation(Output):
    factor: Indicator | Combination
    symbols: list[str]
    as_of: datetime = Field(description="Now: no close after it was read.")
    first: datetime | None = Field(description="First evaluation date with a ranking.")
    last: datetime | None
    dates: int
    ic: list[IcAtLag]
    ic_decay: list[DecayPoint] = Field(description="Mean IC by lag: how fast the signal fades.")
    quintiles: list[QuintileReturn]
    monotonic: Literal["increasing", "decreasing", "no"]
    top_quintile_turnover: float | None = Field(
        description="Mean share of the top quintile's names replaced from one date to the next."
    )
    fama_french: list[FamaFrenchCorrelation]
    notes: list[str]


@tool
def evaluate_factor(
    ctx: ToolContext,
    factor: Annotated[
        FactorSpec,
        Field(
            description='An indicator {"kind": "indicator", "name": "momentum", "window": 252, '
            '"skip": 21} or a combination {"kind": "combination", "parts": [{"indicator": ..., '
            '"weight": 1.0}, ...]} of indicators\' cross-sectional ranks.'
        ),
    ],
    symbols: Annotated[
        list[Symbol] | None,
        Field(description="The universe; default the bundled 20 S&P 500 stocks (sp20)."),
    ] = None,
    lookback_bars: Annotated[
        int, Field(ge=40, le=10_000, description="Most recent dates evaluated.")
    ] = 1260,
) -> FactorEvaluation:
    """Evaluate a cross-sectional factor over a universe, point-in-time up to now: rank IC with
    forward returns at lags 1, 5 and 20 (with t-statistics), IC decay, quintile returns and
    whether they are monotonic, turnover of the top quintile, and the correlation of its
    top-minus-bottom return with the Fama-French market, size and value factors.

    Args:
        factor: The factor, declared: an indicator (momentum, reversal, volatility, rsi,
            sma_gap, drawdown; window, skip, direction) or a weighted combination of their
            cross-sectional ranks. Never code.
        symbols: At least five symbols; default the sp20 universe.
        lookback_bars: How many of the most recent dates to evaluate (40 to 10000); the
            history before them feeds the indicator windows.
    """
    chosen = [s.upper() for s in (symbols or SP20)]
    if len(set(chosen)) < QUINTILES:
        raise ConfigError(f"a cross-section needs at least {QUINTILES} symbols, got {chosen!r}")
    closes = _visible_closes(ctx, chosen)
    report = evaluate(factor, closes, lookback_bars)
    return FactorEvaluation(
        factor=factor,
        symbols=chosen,
        as_of=ctx.now,
        first=None if report.first is None else report.first.to_pydatetime(),
        last=None if report.last is None else report.last.to_pydatetime(),
        dates=report.dates,
        ic=[IcAtLag.model_validate(_finite(asdict(s))) for s in report.ic],
        ic_decay=[DecayPoint(lag=lag, mean_ic=_number(v)) for lag, v in report.decay],
        quintiles=[
            QuintileReturn(quintile=i + 1, mean_return=_number(v))
            for i, v in enumerate(report.quintile_returns)
        ],
        monotonic=report.monotonic,
        top_quintile_turnover=_number(report.top_turnover),
        fama_french=_fama_french(ctx, report.long_short_monthly),
        notes=dataset_notes(ctx.catalog.load(s) for s in chosen),
    )


def _visible_closes(ctx: ToolContext, symbols: list[str]) -> pd.DataFrame:
    """The closes visible at now, one column per symbol, on the union of their dates."""
    columns = {}
    for symbol in symbols:
        arrays = ctx.view.arrays(symbol)
        index = pd.to_datetime(arrays.times, unit="ns", utc=True)
        columns[symbol] = pd.Series(arrays.close, index=index)
    return pd.DataFrame(columns).sort_index()


def _fama_french(ctx: ToolContext, monthly: pd.Series) -> list[FamaFrenchCorrelation]:
    out = []
    for name in FAMA_FRENCH:
        known = ctx.factors.series(name)
        index = pd.DatetimeIndex(known.index).tz_localize(None)
        joined = pd.concat(
            [monthly.rename("spread"), pd.Series(known.to_numpy(), index=index, name=name)],
            axis=1,
            join="inner",
        ).dropna()
        correlation = None
        if len(joined) >= MIN_MONTHS and joined.std().gt(0).all():
            correlation = _number(float(np.corrcoef(joined["spread"], joined[name])[0, 1]))
        out.append(FamaFrenchCorrelation(factor=name, correlation=correlation, months=len(joined)))
    return out


def _finite(values: dict[str, object]) -> dict[str, object]:
    return {k: _number(v) if isinstance(v, float) else v for k, v in values.items()}


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value
