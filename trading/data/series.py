"""An immutable column store of OHLCV bars for one symbol.

Analytics want numpy columns; the domain wants `Bar` objects with `Decimal` prices. A `BarSeries`
keeps the columns (read-only, so nobody can rewrite history in place) and builds a `Bar` on demand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, NoReturn

import numpy as np
import pandas as pd

from trading.domain import Bar
from trading.errors import DataError

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# The span of times a series can hold: int64 nanoseconds since the epoch, in whole microseconds
# (datetime's precision) so that each end survives `to_ns` and `from_ns`. A clock that waits
# for the first bar starts at EARLIEST, not at the epoch, so bars from before 1970 replay too.
EARLIEST: Final = EPOCH - timedelta(microseconds=2**63 // 1_000)
LATEST: Final = EPOCH + timedelta(microseconds=(2**63 - 1) // 1_000)
_ONE_DAY: Final = timedelta(days=1)
_NS_PER_US: Final = 1_000
_ONE_US: Final = timedelta(microseconds=1)
_PRICE_COLUMNS: Final = ("open", "high", "low", "close")
COLUMNS: Final = (*_PRICE_COLUMNS, "volume")
# Powers of ten up to 10**22 are exact floats (5**22 < 2**53): `BarSeries.prices` scales by one.
_EXACT_POWERS: Final = 22

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]


def to_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (exact: integer arithmetic only)."""
    if moment.tzinfo is None:
        raise DataError(f"market data times must be timezone-aware, got {moment!r}")
    # The parts of a normalised timedelta, rather than dividing by timedelta(microseconds=1):
    # the same integer, in a third of the time (a replay converts its clock on every bar).
    span = moment - EPOCH
    return ((span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds) * _NS_PER_US


def from_ns(ns: int) -> datetime:
    """The aware UTC datetime of nanoseconds since the epoch (microsecond precision)."""
    return EPOCH + timedelta(microseconds=int(ns) // _NS_PER_US)


def _price_units(
    values: FloatArray, decimals: int
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.bool_]]]:
    """Each value x 10**decimals rounded to an integer (0 where unsafe), and where that integer
    is surely the one `BarSeries.price`'s formatting rounds to (see `BarSeries.prices`)."""
    scaled = values * 10.0**decimals
    with np.errstate(invalid="ignore"):
        whole = np.rint(scaled)
        size = np.abs(scaled)
        clear = np.abs(np.abs(scaled - whole) - 0.5) > size * 2.0**-49
        safe = (size < 2.0**50) & clear & ~(np.signbit(scaled) & (whole == 0))
    return np.where(safe, whole, 0).astype(np.int64), safe


def _frozen(values: Any, dtype: type[np.generic]) -> np.ndarray[Any, Any]:
    # A private copy, so that freezing it cannot freeze (or be undone through) the caller's array.
    array = np.array(values, dtype=dtype, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class BarSeries:
    """Bars of one symbol, oldest first. `times` label each bar's start and `close_times` are when
    it is complete, both int64 nanoseconds since the epoch (UTC). Prices are float64 columns;
    `bar(i)` turns them into `Decimal`, rounded to `price_decimals` places when that is set (data
    stored as binary floats, such as 1229.229980, would otherwise carry float noise into money).

    A `close_only` series (daily adjusted closes) holds NaN in open, high, low and volume, and
    its bars have None there: nothing invents them."""

    symbol: str
    source: str
    timeframe: timedelta
    times: IntArray
    close_times: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    price_decimals: int | None = None
    close_only: bool = False
    # Bars already built: a replay asks for the same bar several times (executor, marks, sizing)
    # and building one converts five floats to Decimal.
    _bars: dict[int, Bar] = field(default_factory=dict, init=False, compare=False, repr=False)
    # The timeframe in nanoseconds: a bar that closes one timeframe after its label gets its
    # close time by one addition, not a second conversion (see `bar`).
    _step_ns: int = field(default=0, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        freeze = object.__setattr__  # the dataclass is frozen; this is its own constructor
        freeze(self, "times", _frozen(self.times, np.int64))
        freeze(self, "close_times", _frozen(self.close_times, np.int64))
        for column in COLUMNS:
            freeze(self, column, _frozen(getattr(self, column), np.float64))
        lengths = {name: len(getattr(self, name)) for name in ("times", "close_times", *COLUMNS)}
        if len(set(lengths.values())) != 1:
            raise DataError(f"{self.symbol} columns differ in length: {lengths!r}")
        if self.timeframe <= timedelta(0):
            raise DataError(f"{self.symbol} timeframe must be positive, got {self.timeframe!r}")
        if self.price_decimals is not None and self.price_decimals < 0:
            raise DataError(f"price_decimals must be >= 0 or None, got {self.price_decimals!r}")
        freeze(self, "_step_ns", self.timeframe // _ONE_US * _NS_PER_US)

    def __len__(self) -> int:
        return len(self.times)

    def bar(self, i: int) -> Bar:
        """The bar at position `i` (negative counts from the end), prices as `Decimal`."""
        times = self.times
        if i < 0:
            i += len(times)
        cached = self._bars.get(i)
        if cached is not None:
            return cached
        if not 0 <= i < len(times):
            raise IndexError(f"bar {i} of {self.symbol} is out of range (0..{len(self) - 1})")
        # `.item` reads a Python int or float straight from the column (indexing makes a numpy
        # scalar first), and the prices are formatted as `price` does, its spec built once.
        spec = _price_spec(self.price_decimals)
        close = self.close.item(i)
        if self.close_only:
            open_ = high = low = volume = None
        else:
            open_ = _decimal(self.open.item(i), spec)
            high = _decimal(self.high.item(i), spec)
            low = _decimal(self.low.item(i), spec)
            volume = _quantity(self.volume.item(i))
        label_ns, close_ns = times.item(i), self.close_times.item(i)
        time = EPOCH + timedelta(microseconds=label_ns // _NS_PER_US)  # `from_ns`
        # Exact: with a whole number of microseconds between them, floor((label + step) / 1000)
        # is floor(label / 1000) + step / 1000, so this is `from_ns(close_ns)` itself.
        if close_ns - label_ns == self._step_ns:
            close_time = time + self.timeframe
        else:
            close_time = EPOCH + timedelta(microseconds=close_ns // _NS_PER_US)
        bar = self._bars[i] = Bar(
            self.symbol,
            time,
            close_time,
            open_,
            high,
            low,
            _decimal(close, spec),
            volume,
        )
        return bar

    def price(self, value: float | np.floating[Any]) -> Decimal:
        """One float price of this series as the `Decimal` a `Bar` would hold."""
        return _decimal(float(value), _price_spec(self.price_decimals))

    def prices(self, values: FloatArray) -> list[Decimal]:
        """`price` of each value, the same Decimals digit for digit, without formatting each:
        with `price_decimals` d, value x 10**d rounds (numpy, at once) to the integer the
        formatting rounds to wherever the float product lies clear of a half (its error is
        under 2**-53 of it), and that integer x 1E-d is the formatted Decimal; the rest (near
        a half, beyond 2**50, a negative zero, not finite) is formatted as `price` does."""
        decimals = self.price_decimals
        if decimals is None or decimals > _EXACT_POWERS:
            spec = _price_spec(decimals)
            return [_decimal(v, spec) for v in values.tolist()]
        units, safe = _price_units(values, decimals)
        unit = Decimal(1).scaleb(-decimals)
        prices = [Decimal(n) * unit for n in units.tolist()]
        for i in np.flatnonzero(~safe).tolist():
            prices[i] = self.price(values[i])
        return prices

    def price_units(self, values: FloatArray) -> np.ndarray[Any, np.dtype[np.int64]] | None:
        """The integers n with `prices(values)[i] == n[i] x 1E-d` (d: `price_decimals`), for
        exact arithmetic on prices in bulk; None unless every one is shown at once."""
        decimals = self.price_decimals
        if decimals is None or decimals > _EXACT_POWERS:
            return None
        units, safe = _price_units(values, decimals)
        return units if safe.all() else None

    @property
    def first_time(self) -> datetime:
        self._require_bars()
        return from_ns(self.times[0])

    @property
    def last_time(self) -> datetime:
        self._require_bars()
        return from_ns(self.times[-1])

    def to_frame(self) -> pd.DataFrame:
        """The bars as a DataFrame indexed by their (UTC) label times."""
        index = pd.DatetimeIndex(pd.to_datetime(self.times, unit="ns", utc=True), name="time")
        return pd.DataFrame({column: getattr(self, column) for column in COLUMNS}, index=index)

    def _require_bars(self) -> None:
        if len(self) == 0:
            raise DataError(f"{self.symbol} from {self.source} has no bars")

    @classmethod
    def from_frame(
        cls,
        symbol: str,
        source: str,
        frame: pd.DataFrame,
        timeframe: timedelta | None = None,
        price_decimals: int | None = None,
    ) -> BarSeries:
        """Build a series from a DataFrame indexed by timestamps (naive ones are taken as UTC)
        with columns open, high, low, close, volume. The frame must already be clean: sorted,
        no gaps in values, consistent prices; the first bad row raises `DataError`."""
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(
                f"{source}: {symbol} frame lacks columns {missing!r}; found {list(frame.columns)!r}"
            )
        index = pd.DatetimeIndex(frame.index)
        index = index.tz_localize(UTC) if index.tz is None else index.tz_convert(UTC)
        times = np.asarray(index.as_unit("ns").asi8, dtype=np.int64)
        columns = {c: np.asarray(frame[c], dtype=np.float64) for c in COLUMNS}
        check_bars(times, columns, f"{source} ({symbol})", lambda i: i + 1)
        return cls.build(symbol, source, times, columns, timeframe, price_decimals)

    @classmethod
    def build(
        cls,
        symbol: str,
        source: str,
        times: IntArray,
        columns: dict[str, FloatArray],
        timeframe: timedelta | None = None,
        price_decimals: int | None = None,
    ) -> BarSeries:
        """Assemble a series from checked columns (see `check_bars`)."""
        if timeframe is None:
            timeframe = infer_timeframe(times, f"{source}: {symbol}")
        prices = {c: columns[c] for c in _PRICE_COLUMNS}
        if price_decimals is not None:
            # Round the columns too, so analytics on floats and `bar()` Decimals agree.
            prices = {c: np.round(v, price_decimals) for c, v in prices.items()}
        step = timeframe // timedelta(microseconds=1) * _NS_PER_US
        # int64 would wrap a close past LATEST round to 1677 without a word.
        late = times > to_ns(LATEST) - step
        if late.any():
            label = from_ns(times[int(np.argmax(late))]).isoformat()
            raise DataError(
                f"{source}: {symbol} bar at {label} closes after {LATEST:%Y-%m-%d %H:%M:%S}, "
                "the latest time tradepit can hold"
            )
        return cls(
            symbol=symbol,
            source=source,
            timeframe=timeframe,
            times=times,
            close_times=times + np.int64(step),
            open=prices["open"],
            high=prices["high"],
            low=prices["low"],
            close=prices["close"],
            volume=columns["volume"],
            price_decimals=price_decimals,
        )


def close_only_series(
    symbol: str, source: str, closes: pd.Series, price_decimals: int | None = None
) -> BarSeries:
    """A daily series of closes only (indexed by date, naive taken as UTC): open, high, low and
    volume are NaN, never made up from the close. Bad closes or times raise `DataError`."""
    index = pd.DatetimeIndex(closes.index)
    index = index.tz_localize(UTC) if index.tz is None else index.tz_convert(UTC)
    times = np.asarray(index.as_unit("ns").asi8, dtype=np.int64)
    close = np.asarray(closes, dtype=np.float64)
    check_closes(times, close, f"{source} ({symbol})", lambda i: i + 1)
    if price_decimals is not None:
        close = np.round(close, price_decimals)
    missing = np.full(len(times), np.nan)
    return BarSeries(
        symbol=symbol,
        source=source,
        timeframe=_ONE_DAY,
        times=times,
        close_times=times + np.int64(to_ns(EPOCH + _ONE_DAY)),
        open=missing,
        high=missing,
        low=missing,
        close=close,
        volume=missing,
        price_decimals=price_decimals,
        close_only=True,
    )


def _price_spec(decimals: int | None) -> str:
    """How a series with `price_decimals` of `decimals` writes a price: "r" (the float's repr)
    or ".Nf" (N decimal places)."""
    return "r" if decimals is None else f".{decimals}f"


def _decimal(value: float, spec: str) -> Decimal:
    """A price as the `Decimal` a `Bar` holds, written by `spec` (`_price_spec`)."""
    return Decimal(repr(value) if spec == "r" else format(value, spec))


def _quantity(value: float) -> Decimal:
    return Decimal(int(value)) if value.is_integer() else Decimal(repr(value))


def infer_timeframe(times: IntArray, what: str) -> timedelta:
    """The most common spacing between bars. Daily bars get exactly one day even when the labels
    drift by an hour around daylight-saving changes (local midnights stored as UTC), and their
    weekend and holiday gaps never count as the period."""
    if len(times) < 2:
        raise DataError(
            f"{what}: cannot infer the bar timeframe from {len(times)} bar(s); pass it explicitly"
        )
    spacing = np.diff(times)
    median = timedelta(microseconds=float(np.median(spacing)) / _NS_PER_US)
    values, counts = np.unique(spacing, return_counts=True)
    common = timedelta(microseconds=int(values[np.argmax(counts)]) // _NS_PER_US)
    # Weekly or monthly bars also have a median >= 20h; giving them one day would let a bar be
    # read days before it closes, so only spacings near a day are called daily.
    near_a_day = timedelta(hours=20) <= median <= timedelta(hours=28)
    if near_a_day or timedelta(hours=20) <= common <= timedelta(hours=28):
        return _ONE_DAY
    return common


def check_bars(
    times: IntArray,
    columns: dict[str, FloatArray],
    file: str,
    row_number: Callable[[int], int],
    names: Mapping[str, str] | None = None,
) -> None:
    """Raise `DataError` for the first bad row, named as `file, row N, column 'x'`: `row_number`
    maps a position to the row the user sees and `names` maps our column names to theirs."""

    def fail(i: int, column: str, problem: str) -> NoReturn:
        name = (names or {}).get(column, column)
        raise DataError(f"{file}, row {row_number(i)}, column {name!r}: {problem}")

    for column in COLUMNS:
        values = columns[column]
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.argmax(bad))
            fail(i, column, f"{float(values[i])!r} is not a finite number")
    for column in _PRICE_COLUMNS:
        bad = columns[column] <= 0
        if bad.any():
            i = int(np.argmax(bad))
            fail(i, column, f"{float(columns[column][i])!r} is not a positive price")
    high, low = columns["high"], columns["low"]
    for other in ("low", "open", "close"):
        bad = high < columns[other]
        if bad.any():
            i = int(np.argmax(bad))
            fail(i, "high", f"{float(high[i])!r} is below {other} {float(columns[other][i])!r}")
    for other in ("open", "close"):
        bad = low > columns[other]
        if bad.any():
            i = int(np.argmax(bad))
            fail(i, "low", f"{float(low[i])!r} is above {other} {float(columns[other][i])!r}")
    bad = columns["volume"] < 0
    if bad.any():
        i = int(np.argmax(bad))
        fail(i, "volume", f"{float(columns['volume'][i])!r} is negative")
    _check_times(times, fail, row_number)


def check_closes(
    times: IntArray,
    close: FloatArray,
    file: str,
    row_number: Callable[[int], int],
    names: Mapping[str, str] | None = None,
) -> None:
    """The checks a close-only series passes: finite positive closes, times strictly rising."""

    def fail(i: int, column: str, problem: str) -> NoReturn:
        name = (names or {}).get(column, column)
        raise DataError(f"{file}, row {row_number(i)}, column {name!r}: {problem}")

    bad = ~np.isfinite(close) | (close <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        fail(i, "close", f"{float(close[i])!r} is not a positive price")
    _check_times(times, fail, row_number)


def _check_times(
    times: IntArray, fail: Callable[[int, str, str], NoReturn], row_number: Callable[[int], int]
) -> None:
    step = np.diff(times)
    bad = step <= 0
    if bad.any():
        i = int(np.argmax(bad)) + 1
        here, before = from_ns(times[i]).isoformat(), from_ns(times[i - 1]).isoformat()
        if step[i - 1] == 0:
            fail(i, "time", f"{here!r} repeats the timestamp of row {row_number(i - 1)}")
        # Sorting quietly would hide a file spliced in the wrong order; the user should know.
        fail(
            i,
            "time",
            f"{here!r} is earlier than row {row_number(i - 1)} ({before!r}); rows must be "
            "sorted oldest first",
        )
