"""Technical indicators over OHLCV arrays, point-in-time safe: the value at bar t uses only bars
0..t, so callers may pass exactly the bars a point-in-time view shows.

TA-Lib computes every indicator it has (SMA, EMA, RSI, MACD, Bollinger bands, ATR, OBV); the
rest (VWAP deviation, rolling volatility, skew, kurtosis, volume ratio) are short pandas rolling
expressions, since TA-Lib has no such functions. Warm-up values are NaN; too few bars for any
value is not an error but all-NaN outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import talib
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trading.errors import ConfigError

Array = np.ndarray[Any, np.dtype[np.float64]]
_SIMPLE_AVERAGE: Any = 0  # TA-Lib's MA_Type.SMA; its stubs do not export the enum


class IndicatorError(ConfigError):
    """An unknown indicator or a bad parameter; the message lists what is valid."""


@dataclass(frozen=True)
class Ohlcv:
    """Float64 columns of equal length, oldest first."""

    open: Array
    high: Array
    low: Array
    close: Array
    volume: Array


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PeriodParams(Params):
    period: int = Field(14, ge=2, le=1000, description="Bars in the window.")


class SmaParams(Params):
    period: int = Field(20, ge=1, le=1000, description="Bars in the average.")


class MacdParams(Params):
    fast: int = Field(12, ge=2, le=500, description="Bars in the fast EMA.")
    slow: int = Field(26, ge=3, le=1000, description="Bars in the slow EMA.")
    signal: int = Field(9, ge=1, le=500, description="Bars in the signal EMA.")


class BbandsParams(Params):
    period: int = Field(20, ge=2, le=1000, description="Bars in the middle band.")
    stddev: float = Field(2.0, gt=0, le=10, description="Band width in standard deviations.")


class NoParams(Params):
    pass


class WindowParams(Params):
    window: int = Field(20, ge=2, le=1000, description="Bars in the rolling window.")


class VolatilityParams(WindowParams):
    periods_per_year: float = Field(
        252.0, ge=0, le=100_000, description="Annualise with sqrt of this; 0 = per bar."
    )


def _c(values: Array) -> Array:
    # TA-Lib needs contiguous float64 and must never write into a read-only view.
    return np.ascontiguousarray(values, dtype=np.float64)


def _sma(d: Ohlcv, p: Any) -> dict[str, Array]:
    return {"sma": talib.SMA(_c(d.close), p.period)}


def _ema(d: Ohlcv, p: Any) -> dict[str, Array]:
    return {"ema": talib.EMA(_c(d.close), p.period)}


def _rsi(d: Ohlcv, p: Any) -> dict[str, Array]:
    return {"rsi": talib.RSI(_c(d.close), p.period)}


def _macd(d: Ohlcv, p: Any) -> dict[str, Array]:
    if p.fast >= p.slow:
        raise IndicatorError(f"macd: fast ({p.fast}) must be shorter than slow ({p.slow})")
    line, signal, histogram = talib.MACD(_c(d.close), p.fast, p.slow, p.signal)
    return {"macd": line, "signal": signal, "histogram": histogram}


def _bbands(d: Ohlcv, p: Any) -> dict[str, Array]:
    close = _c(d.close)
    upper, middle, lower = talib.BBANDS(close, p.period, p.stddev, p.stddev, _SIMPLE_AVERAGE)
    with np.errstate(invalid="ignore", divide="ignore"):
        percent_b = (close - lower) / (upper - lower)
    return {"upper": upper, "middle": middle, "lower": lower, "percent_b": percent_b}


def _atr(d: Ohlcv, p: Any) -> dict[str, Array]:
    return {"atr": talib.ATR(_c(d.high), _c(d.low), _c(d.close), p.period)}


def _obv(d: Ohlcv, p: Any) -> dict[str, Array]:
    return {"obv": talib.OBV(_c(d.close), _c(d.volume))}


def _log_returns(d: Ohlcv) -> pd.Series:
    close = pd.Series(_c(d.close))
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.Series(np.log(close / close.shift(1)))


def _vwap_deviation(d: Ohlcv, p: Any) -> dict[str, Array]:
    typical = (pd.Series(_c(d.high)) + pd.Series(_c(d.low)) + pd.Series(_c(d.close))) / 3
    volume = pd.Series(_c(d.volume))
    traded = (typical * volume).rolling(p.window).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = traded / volume.rolling(p.window).sum()
        deviation = pd.Series(_c(d.close)) / vwap - 1
    return {"vwap_deviation": deviation.to_numpy(dtype=np.float64)}


def _volatility(d: Ohlcv, p: Any) -> dict[str, Array]:
    stdev = _log_returns(d).rolling(p.window).std(ddof=1)
    scale = np.sqrt(p.periods_per_year) if p.periods_per_year > 0 else 1.0
    return {"volatility": (stdev * scale).to_numpy(dtype=np.float64)}


def _skew(d: Ohlcv, p: Any) -> dict[str, Array]:
    return {"skew": _log_returns(d).rolling(p.window).skew().to_numpy(dtype=np.float64)}


def _kurtosis(d: Ohlcv, p: Any) -> dict[str, Array]:
    # pandas' rolling kurt is the unbiased excess kurtosis: 0 for a normal distribution.
    return {"kurtosis": _log_returns(d).rolling(p.window).kurt().to_numpy(dtype=np.float64)}


def _volume_ratio(d: Ohlcv, p: Any) -> dict[str, Array]:
    volume = pd.Series(_c(d.volume))
    # The mean of the `window` bars before this one: today's volume against its recent norm.
    before = volume.shift(1).rolling(p.window).mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = volume / before.where(before > 0)
    return {"volume_ratio": ratio.to_numpy(dtype=np.float64)}


@dataclass(frozen=True)
class IndicatorSpec:
    name: str
    description: str
    params: type[Params]
    outputs: tuple[str, ...]
    compute: Callable[[Ohlcv, Any], dict[str, Array]]


_SPECS = (
    IndicatorSpec("sma", "Simple moving average of closes.", SmaParams, ("sma",), _sma),
    IndicatorSpec("ema", "Exponential moving average of closes.", SmaParams, ("ema",), _ema),
    IndicatorSpec("rsi", "Wilder's relative strength index, 0..100.", PeriodParams, ("rsi",), _rsi),
    IndicatorSpec(
        "macd",
        "MACD line, signal line and histogram.",
        MacdParams,
        ("macd", "signal", "histogram"),
        _macd,
    ),
    IndicatorSpec(
        "bbands",
        "Bollinger bands and %B (close's position inside them).",
        BbandsParams,
        ("upper", "middle", "lower", "percent_b"),
        _bbands,
    ),
    IndicatorSpec("atr", "Average true range (Wilder).", PeriodParams, ("atr",), _atr),
    IndicatorSpec("obv", "On-balance volume.", NoParams, ("obv",), _obv),
    IndicatorSpec(
        "vwap_deviation",
        "Close / rolling VWAP of typical price - 1.",
        WindowParams,
        ("vwap_deviation",),
        _vwap_deviation,
    ),
    IndicatorSpec(
        "volatility",
        "Rolling standard deviation of log returns, annualised.",
        VolatilityParams,
        ("volatility",),
        _volatility,
    ),
    IndicatorSpec("skew", "Rolling skewness of log returns.", WindowParams, ("skew",), _skew),
    IndicatorSpec(
        "kurtosis",
        "Rolling excess kurtosis of log returns.",
        WindowParams,
        ("kurtosis",),
        _kurtosis,
    ),
    IndicatorSpec(
        "volume_ratio",
        "Volume / mean volume of the previous `window` bars.",
        WindowParams,
        ("volume_ratio",),
        _volume_ratio,
    ),
)
INDICATORS: Mapping[str, IndicatorSpec] = {spec.name: spec for spec in _SPECS}


def compute_indicator(
    name: str, data: Ohlcv, params: Mapping[str, object] | None = None
) -> dict[str, Array]:
    """Every output of indicator `name` as a full-length array, NaN during warm-up."""
    spec = INDICATORS.get(name)
    if spec is None:
        raise IndicatorError(f"unknown indicator {name!r}; valid: {', '.join(sorted(INDICATORS))}")
    try:
        validated = spec.params.model_validate(dict(params or {}))
    except ValidationError as error:
        raise IndicatorError(_explain(spec, error)) from None
    if len(data.close) == 0:
        return {output: np.array([], dtype=np.float64) for output in spec.outputs}
    return spec.compute(data, validated)


def latest_values(
    name: str, data: Ohlcv, params: Mapping[str, object] | None = None
) -> dict[str, float | None]:
    """The last value of each output; None while it is still warming up."""
    result: dict[str, float | None] = {}
    for output, values in compute_indicator(name, data, params).items():
        last = float(values[-1]) if len(values) else float("nan")
        result[output] = last if np.isfinite(last) else None
    return result


def describe_indicators() -> list[dict[str, object]]:
    return [
        {
            "name": spec.name,
            "description": spec.description,
            "outputs": list(spec.outputs),
            "params": _param_docs(spec.params),
        }
        for spec in _SPECS
    ]


def _param_docs(params: type[Params]) -> list[dict[str, object]]:
    docs = []
    for field_name, field in params.model_fields.items():
        bounds = {
            key: getattr(meta, key)
            for meta in field.metadata
            for key in ("ge", "gt", "le", "lt")
            if hasattr(meta, key)
        }
        docs.append(
            {
                "name": field_name,
                "type": getattr(field.annotation, "__name__", str(field.annotation)),
                "default": field.default,
                "bounds": bounds,
                "description": field.description or "",
            }
        )
    return docs


def _explain(spec: IndicatorSpec, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown parameter {where!r}")
        else:
            problems.append(f"parameter {where!r}={item.get('input')!r}: {item['msg']}")
    valid = (
        "; ".join(
            f"{d['name']} (default {d['default']!r}, {d['bounds']})"
            for d in _param_docs(spec.params)
        )
        or "none"
    )
    return f"indicator {spec.name!r}: {', '.join(problems)}; parameters: {valid}"
