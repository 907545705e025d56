"""Technical indicators over OHLCV arrays, point-in-time safe.

Every indicator is causal: the value at bar t uses only bars 0..t, so adding later bars never
changes an earlier value and callers may pass exactly the bars a point-in-time view shows. TA-Lib
seeds EMA, RSI, MACD and ATR from the first bars of the array, so where the array *starts* does
matter (a longer history gives slightly different values); where it ends does not.

Warm-up values are NaN. Too few bars for any value is not an error: every output is all NaN.
A value that cannot be defined (a zero-width Bollinger band, a window without volume) is NaN too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import talib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trading.errors import ConfigError, DataError

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
Outputs = dict[str, FloatArray]
_MAX_BARS = 5000


class IndicatorError(ConfigError):
    """An unknown indicator or a bad parameter; the message lists what is valid."""


@dataclass(frozen=True)
class Ohlcv:
    """Float64 columns of equal length, oldest first. Read-only views are fine: nothing writes."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        columns = ("open", "high", "low", "close", "volume")
        lengths = {name: len(getattr(self, name)) for name in columns}
        if len(set(lengths.values())) > 1:
            raise DataError(f"OHLCV columns differ in length: {lengths!r}")


@dataclass(frozen=True)
class IndicatorSpec:
    name: str
    description: str  # one line, for LLMs and --help
    params: type[BaseModel]
    outputs: tuple[str, ...]


class _Params(BaseModel):
    # Strict: a period of True, "14" or 14.5 is a caller's mistake, not something to coerce.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


def _period(default: int, ge: int = 2, what: str = "Bars in the window.") -> Any:
    return Field(default, ge=ge, le=_MAX_BARS, description=what)


class SmaParams(_Params):
    period: int = _period(20, what="Bars in the average.")


class EmaParams(_Params):
    period: int = _period(20, what="Bars of the EMA; it is seeded with their simple mean.")


class RsiParams(_Params):
    period: int = _period(14, what="Bars of Wilder smoothing.")


class MacdParams(_Params):
    fast: int = _period(12, what="Bars of the fast EMA; below slow.")
    slow: int = _period(26, ge=3, what="Bars of the slow EMA.")
    signal: int = _period(9, ge=1, what="Bars of the EMA of the MACD line.")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> MacdParams:
        # TA-Lib silently swaps the two; an error tells the caller what they actually asked.
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast!r}) must be below slow ({self.slow!r})")
        return self


class BbandsParams(_Params):
    period: int = _period(20, what="Bars in the middle band (a simple average).")
    stddev: float = Field(
        2.0, ge=0.1, le=10.0, description="Band distance in population standard deviations."
    )


class AtrParams(_Params):
    period: int = _period(14, ge=1, what="Bars of Wilder smoothing of the true range.")


class ObvParams(_Params):
    pass


class VwapDeviationParams(_Params):
    window: int = _period(20, ge=1, what="Bars in the rolling VWAP.")


class VolatilityParams(_Params):
    window: int = _period(20, what="Log returns in the window (sample std, ddof=1).")
    periods_per_year: float = Field(
        252.0, ge=1.0, le=1_000_000.0, description="Annualise by its square root; 1 = per bar."
    )


class SkewParams(_Params):
    window: int = _period(20, ge=3, what="Log returns in the window.")


class KurtosisParams(_Params):
    window: int = _period(20, ge=4, what="Log returns in the window.")


class VolumeRatioParams(_Params):
    window: int = _period(20, ge=1, what="Bars before the current one in the mean.")


_Compute = Callable[[Ohlcv, Any], Outputs]
_F = TypeVar("_F", bound=_Compute)
_SPECS: dict[str, IndicatorSpec] = {}
_COMPUTE: dict[str, _Compute] = {}


def _indicator(
    name: str, description: str, params: type[BaseModel], outputs: tuple[str, ...]
) -> Callable[[_F], _F]:
    # Registration beside each function keeps a spec and the code that honours it together.
    def register(compute: _F) -> _F:
        _SPECS[name] = IndicatorSpec(name, description, params, outputs)
        _COMPUTE[name] = compute
        return compute

    return register


def _f64(values: np.ndarray) -> FloatArray:
    # TA-Lib needs contiguous float64; this copies strided or non-float views, never writes.
    return np.ascontiguousarray(values, dtype=np.float64)


@_indicator("sma", "Simple moving average of closes.", SmaParams, ("sma",))
def _sma(d: Ohlcv, p: SmaParams) -> Outputs:
    return {"sma": talib.SMA(_f64(d.close), p.period)}


@_indicator("ema", "Exponential moving average of closes.", EmaParams, ("ema",))
def _ema(d: Ohlcv, p: EmaParams) -> Outputs:
    return {"ema": talib.EMA(_f64(d.close), p.period)}


@_indicator("rsi", "Wilder's relative strength index of closes, 0..100.", RsiParams, ("rsi",))
def _rsi(d: Ohlcv, p: RsiParams) -> Outputs:
    # TA-Lib reports 0 (not 50) while no close has changed since the first bar.
    return {"rsi": talib.RSI(_f64(d.close), p.period)}


@_indicator(
    "macd",
    "MACD line (fast EMA - slow EMA), its signal EMA and their difference.",
    MacdParams,
    ("macd", "signal", "histogram"),
)
def _macd(d: Ohlcv, p: MacdParams) -> Outputs:
    line, signal, histogram = talib.MACD(_f64(d.close), p.fast, p.slow, p.signal)
    return {"macd": line, "signal": signal, "histogram": histogram}


@_indicator(
    "bbands",
    "Bollinger bands of closes; percent_b is the close's place in them (0 lower, 1 upper).",
    BbandsParams,
    ("upper", "middle", "lower", "percent_b"),
)
def _bbands(d: Ohlcv, p: BbandsParams) -> Outputs:
    close = _f64(d.close)
    # matype is left at its default, SMA: the classic Bollinger middle band.
    upper, middle, lower = talib.BBANDS(close, p.period, p.stddev, p.stddev)
    width = upper - lower
    # Hand-written: TA-Lib has no %B. A flat window has zero width, where %B means nothing.
    with np.errstate(invalid="ignore", divide="ignore"):
        percent_b = np.where(width > 0, (close - lower) / width, np.nan)
    return {"upper": upper, "middle": middle, "lower": lower, "percent_b": percent_b}


@_indicator("atr", "Average true range (Wilder), in price units.", AtrParams, ("atr",))
def _atr(d: Ohlcv, p: AtrParams) -> Outputs:
    return {"atr": talib.ATR(_f64(d.high), _f64(d.low), _f64(d.close), p.period)}


@_indicator("obv", "On-balance volume, starting from the first bar's volume.", ObvParams, ("obv",))
def _obv(d: Ohlcv, p: ObvParams) -> Outputs:
    return {"obv": talib.OBV(_f64(d.close), _f64(d.volume))}


# The indicators below are hand-written because TA-Lib has no rolling VWAP, no statistics of log
# returns (its STDDEV is of raw prices, population only) and no volume ratio.


def _log_returns(d: Ohlcv) -> pd.Series:
    close = _f64(d.close)
    returns = np.full(len(close), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        returns[1:] = np.log(close[1:] / close[:-1])
    return pd.Series(returns)


@_indicator(
    "vwap_deviation",
    "Close / VWAP of the last `window` bars (typical price (h+l+c)/3, volume-weighted) - 1.",
    VwapDeviationParams,
    ("vwap_deviation",),
)
def _vwap_deviation(d: Ohlcv, p: VwapDeviationParams) -> Outputs:
    typical = (_f64(d.high) + _f64(d.low) + _f64(d.close)) / 3
    volume = pd.Series(_f64(d.volume))
    traded = pd.Series(typical * volume.to_numpy()).rolling(p.window).sum()
    shares = volume.rolling(p.window).sum()
    vwap = (traded / shares.where(shares > 0)).to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"vwap_deviation": _f64(d.close) / vwap - 1}


@_indicator(
    "volatility",
    "Sample std of the last `window` log returns, times sqrt(periods_per_year).",
    VolatilityParams,
    ("volatility",),
)
def _volatility(d: Ohlcv, p: VolatilityParams) -> Outputs:
    std = _log_returns(d).rolling(p.window).std(ddof=1).to_numpy(dtype=np.float64)
    return {"volatility": std * np.sqrt(p.periods_per_year)}


@_indicator(
    "skew",
    "Unbiased (adjusted Fisher-Pearson) skewness of the last `window` log returns.",
    SkewParams,
    ("skew",),
)
def _skew(d: Ohlcv, p: SkewParams) -> Outputs:
    return {"skew": _log_returns(d).rolling(p.window).skew().to_numpy(dtype=np.float64)}


@_indicator(
    "kurtosis",
    "Unbiased excess kurtosis (normal = 0) of the last `window` log returns.",
    KurtosisParams,
    ("kurtosis",),
)
def _kurtosis(d: Ohlcv, p: KurtosisParams) -> Outputs:
    # pandas' rolling kurt is the bias-corrected *excess* kurtosis, as Excel's KURT.
    return {"kurtosis": _log_returns(d).rolling(p.window).kurt().to_numpy(dtype=np.float64)}


@_indicator(
    "volume_ratio",
    "Volume / mean volume of the `window` bars before this one (the current bar excluded).",
    VolumeRatioParams,
    ("volume_ratio",),
)
def _volume_ratio(d: Ohlcv, p: VolumeRatioParams) -> Outputs:
    volume = pd.Series(_f64(d.volume))
    # Excluding the current bar keeps a volume spike from diluting the norm it is compared with.
    before = volume.shift(1).rolling(p.window).mean()
    ratio = volume / before.where(before > 0)
    return {"volume_ratio": ratio.to_numpy(dtype=np.float64)}


INDICATORS: Mapping[str, IndicatorSpec] = MappingProxyType(_SPECS)


def check_params(name: str, params: Mapping[str, object] | None = None) -> BaseModel:
    """The validated parameters of indicator `name`, defaults filled in.

    Raises:
        IndicatorError: unknown indicator, or a parameter unknown, mistyped or out of bounds.
    """
    spec = INDICATORS.get(name)
    if spec is None:
        raise IndicatorError(f"unknown indicator {name!r}; valid: {', '.join(sorted(INDICATORS))}")
    try:
        return spec.params.model_validate(dict(params or {}))
    except ValidationError as error:
        raise IndicatorError(_explain(spec, error)) from None


def compute_indicator(
    name: str, data: Ohlcv, params: Mapping[str, object] | None = None
) -> dict[str, np.ndarray]:
    """Every output of indicator `name`, each as long as `data`, NaN during warm-up.

    Raises:
        IndicatorError: see `check_params`. Too few bars is not an error: outputs are all NaN.
    """
    validated = check_params(name, params)
    if len(data.close) == 0:
        return {output: np.array([], dtype=np.float64) for output in INDICATORS[name].outputs}
    return _COMPUTE[name](data, validated)


def latest_values(
    name: str, data: Ohlcv, params: Mapping[str, object] | None = None
) -> dict[str, float | None]:
    """The last value of each output, None while it is still warming up (or undefined)."""
    result: dict[str, float | None] = {}
    for output, values in compute_indicator(name, data, params).items():
        last = float(values[-1]) if len(values) else float("nan")
        result[output] = last if np.isfinite(last) else None
    return result


def describe_indicators() -> list[dict[str, object]]:
    """Every indicator with its outputs and parameters, JSON-serialisable, sorted by name."""
    return [
        {
            "name": spec.name,
            "description": spec.description,
            "outputs": list(spec.outputs),
            "params": _param_docs(spec.params),
        }
        for spec in sorted(INDICATORS.values(), key=lambda s: s.name)
    ]


def _param_docs(params: type[BaseModel]) -> list[dict[str, object]]:
    docs: list[dict[str, object]] = []
    for field_name, field in params.model_fields.items():
        bounds = {
            key: getattr(meta, key)
            for meta in field.metadata
            for key in ("ge", "gt", "le", "lt")
            if getattr(meta, key, None) is not None
        }
        annotation = field.annotation
        docs.append(
            {
                "name": field_name,
                "type": annotation.__name__ if isinstance(annotation, type) else str(annotation),
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
            problems.append(f"unknown parameter {where!r}={item['input']!r}")
        elif where:
            problems.append(f"parameter {where!r}={item['input']!r}: {item['msg']}")
        else:  # a rule across parameters, such as MACD's fast < slow
            problems.append(str(item.get("ctx", {}).get("error", item["msg"])))
    valid = [
        f"{d['name']} ({d['type']}, {_range(d['bounds'])}, default {d['default']!r})"
        for d in _param_docs(spec.params)
    ]
    listing = f"valid parameters: {'; '.join(valid)}" if valid else "it takes no parameters"
    return f"indicator {spec.name!r}: {'; '.join(problems)}; {listing}"


def _range(bounds: object) -> str:
    limits = bounds if isinstance(bounds, dict) else {}
    return f"{limits.get('ge', '-inf')}..{limits.get('le', 'inf')}"
