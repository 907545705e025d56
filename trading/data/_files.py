"""Reading bars from CSV and Parquet files, with errors that point at the bad cell.

Three layouts: OHLCV rows (with an optional symbol column for several symbols); closes only in
long form (time, symbol, close); and closes only in wide form (a time column, then one column
per symbol, where an empty cell means no close that day). Closes-only files give close-only
series (`BarSeries.close_only`): nothing invents their open, high, low or volume.

Every error names the file, the row and the column and quotes the offending value, so a user can
open the file and fix it. CSV cells are parsed from their text (not by a parser that would turn a
typo into NaN), and CSV rows are counted as the lines a text editor shows, the header being line 1.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, NoReturn

import numpy as np
import pandas as pd

from trading.data.series import (
    EARLIEST,
    LATEST,
    BarSeries,
    FloatArray,
    IntArray,
    check_bars,
    check_closes,
    close_only_series,
    infer_timeframe,
)
from trading.errors import DataError

CSV_SUFFIXES: Final = (".csv", ".csv.gz")
PARQUET_SUFFIXES: Final = (".parquet", ".pq")
TIME_NAMES: Final = ("date", "datetime", "time", "timestamp")
REQUIRED: Final = ("open", "high", "low", "close")

_WIDE: Final = "wide:"
_INTEGER: Final = re.compile(r"-?\d+")
_COMPACT_DATE: Final = re.compile(r"\d{8}")
# Epoch seconds below 1e11 reach the year 5138; as milliseconds 1e11 is only 1973. Above 1e14
# milliseconds the value is out of nanosecond range or in a unit (micro/nanoseconds) we refuse
# to guess at.
_SECONDS_BELOW: Final = 10**11
_MILLISECONDS_BELOW: Final = 10**14
_INT64_MAX: Final = 2**63 - 1
_SPAN: Final = f"{EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}"

IntList = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class _Table:
    """A file's columns under our names; `rows[i]` is the row number a user sees for position i.
    `wide` lists the symbol columns of a wide closes file (their names are the symbols)."""

    file: str
    columns: dict[str, pd.Series]
    names: dict[str, str]
    rows: IntList
    wide: tuple[str, ...] = ()

    @property
    def closes_only(self) -> bool:
        return bool(self.wide) or "open" not in self.columns

    def fail(self, i: int, column: str, problem: str) -> NoReturn:
        name = self.names.get(column, column)
        raise DataError(f"{self.file}, row {int(self.rows[i])}, column {name!r}: {problem}")


def suffix_of(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in (*CSV_SUFFIXES, *PARQUET_SUFFIXES) if name.endswith(s)), None)


def read_bar_file(
    path: Path, symbol: str | None, timeframe: timedelta | None
) -> dict[str, BarSeries]:
    """Every symbol's series in the file, keyed by upper-case symbol."""
    file = str(path)
    suffix = suffix_of(path)
    if suffix is None:
        raise DataError(
            f"{file}: unsupported file type {path.suffix!r}; expected one of "
            f"{', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}"
        )
    if not path.is_file():
        raise DataError(f"{file}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{file}: the file is empty")
    table = _read_csv(path, file) if suffix in CSV_SUFFIXES else _read_parquet(path, file)
    if table.wide:
        if symbol is not None:
            raise DataError(
                f"{file} has one column per symbol ({', '.join(table.wide)}); the symbol "
                f"argument {symbol!r} is only for single-symbol files"
            )
        return _wide(table)
    if "symbol" in table.columns:
        if symbol is not None:
            raise DataError(
                f"{file} has a {table.names['symbol']!r} column naming its symbols; the symbol "
                f"argument {symbol!r} is only for single-symbol files"
            )
        symbols = _symbols(table)
    else:
        default = (symbol or path.name[: -len(suffix)]).strip().upper()
        symbols = np.full(len(table.rows), default, dtype=object)
    times = _times(table)
    if table.closes_only:
        return _long_closes(table, symbols, times)
    values = {c: _numbers(table, c) for c in (*REQUIRED, "volume")}
    result: dict[str, BarSeries] = {}
    for name in dict.fromkeys(symbols):
        picked = np.flatnonzero(symbols == name)
        columns = {c: v[picked] for c, v in values.items()}
        rows = table.rows[picked]
        check_bars(times[picked], columns, file, _row_namer(rows), table.names)
        result[str(name)] = BarSeries.build(str(name), file, times[picked], columns, timeframe)
    return result


def _row_namer(rows: IntList) -> Callable[[int], int]:
    return lambda i: int(rows[i])


def _long_closes(table: _Table, symbols: Any, times: IntArray) -> dict[str, BarSeries]:
    closes = _numbers(table, "close")
    result: dict[str, BarSeries] = {}
    for name in dict.fromkeys(symbols):
        picked = np.flatnonzero(symbols == name)
        check_closes(
            times[picked], closes[picked], table.file, _row_namer(table.rows[picked]), table.names
        )
        result[str(name)] = _close_series(str(name), table.file, times[picked], closes[picked])
    return result


def _wide(table: _Table) -> dict[str, BarSeries]:
    times = _times(table)
    result: dict[str, BarSeries] = {}
    for column in table.wide:
        symbol, shown = column.removeprefix(_WIDE), table.names[column]
        closes = _numbers(table, column, empty_allowed=True)
        picked = np.flatnonzero(~np.isnan(closes))
        if picked.size == 0:
            raise DataError(f"{table.file}, column {shown!r}: no closes at all")
        rows = _row_namer(table.rows[picked])
        check_closes(times[picked], closes[picked], table.file, rows, {"close": shown})
        result[symbol] = _close_series(symbol, table.file, times[picked], closes[picked])
    return result


def _close_series(symbol: str, file: str, times: IntArray, closes: FloatArray) -> BarSeries:
    frame = pd.Series(closes, index=pd.to_datetime(times, unit="ns", utc=True))
    timeframe = infer_timeframe(times, f"{file}: {symbol}") if len(times) > 1 else None
    if timeframe is not None and timeframe != timedelta(days=1):
        raise DataError(
            f"{file}: {symbol} has closes only, which tradepit reads as daily bars; its rows are "
            f"{timeframe} apart"
        )
    return close_only_series(symbol, file, frame)


# ---- reading ------------------------------------------------------------------------------------


def _read_csv(path: Path, file: str) -> _Table:
    try:
        header_line, header, records = _csv_records(path)
    except (OSError, UnicodeDecodeError, csv.Error, EOFError) as error:
        raise DataError(f"{file}: cannot be read as CSV ({error})") from error
    if header is None:
        raise DataError(f"{file}: the file is empty")
    if not records:
        raise DataError(f"{file}: the file has a header (line {header_line}) but no rows")
    lower = [h.strip().lower() for h in header]
    positions = _locate(file, lower, header)
    width = len(header)
    for line, cells in records:
        if len(cells) != width:
            raise DataError(
                f"{file}, row {line}: expected {width} fields like the header, found {len(cells)}"
            )
    columns = {
        ours: pd.Series([cells[at].strip() for _, cells in records], dtype=object)
        for ours, at in positions.items()
    }
    names = {ours: header[at].strip() for ours, at in positions.items()}
    rows = np.array([line for line, _ in records], dtype=np.int64)
    return _Table(file, columns, names, rows, _wide_symbols(positions))


def _csv_records(path: Path) -> tuple[int, list[str] | None, list[tuple[int, list[str]]]]:
    """The header's line, the header, and (line, cells) for each non-blank data row."""
    with _open_text(path) as stream:
        reader = csv.reader(stream)
        header: list[str] | None = None
        header_line = 0
        records: list[tuple[int, list[str]]] = []
        for cells in reader:
            if not cells or all(not c.strip() for c in cells):
                continue
            # line_num is the line the record ends on; quoted fields never span lines in OHLCV.
            if header is None:
                header, header_line = cells, reader.line_num
            else:
                records.append((reader.line_num, cells))
        return header_line, header, records


def _open_text(path: Path) -> Any:
    # utf-8-sig: spreadsheet exports often start with a byte-order mark that would rename the
    # first column.
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _read_parquet(path: Path, file: str) -> _Table:
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises many unrelated types for a damaged file
        raise DataError(f"{file}: cannot be read as Parquet ({error})") from error
    if frame.empty:
        raise DataError(f"{file}: the file has no rows")
    shown = [str(c).strip() for c in frame.columns]
    lower = [name.lower() for name in shown]
    cells = [frame.iloc[:, i].reset_index(drop=True) for i in range(frame.shape[1])]
    # pandas writes a DatetimeIndex into Parquet; it is the time column when no column is one.
    if isinstance(frame.index, pd.DatetimeIndex) and not any(n in TIME_NAMES for n in lower):
        cells.insert(0, pd.Series(frame.index))
        shown.insert(0, str(frame.index.name or "index"))
        lower.insert(0, "date")
    positions = _locate(file, lower, shown)
    columns = {ours: cells[at] for ours, at in positions.items()}
    names = {ours: shown[at] for ours, at in positions.items()}
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    return _Table(file, columns, names, rows, _wide_symbols(positions))


def _locate(file: str, lower: list[str], shown: list[str]) -> dict[str, int]:
    """Positions of our columns among the file's (matched case-insensitively). A file with a
    time column and no open, high, low or close is a wide closes file: its other columns are
    symbols, keyed here as `wide:SYMBOL`."""
    found = {name: i for i, name in reversed(list(enumerate(lower)))}
    time_name = next((n for n in TIME_NAMES if n in found), None)
    missing = [n for n in REQUIRED if n not in found]
    ranges = [n for n in REQUIRED if n != "close" and n in found]
    if time_name is not None and not ranges:
        if "close" in found:  # closes only, long form: time, close and perhaps symbol
            names = ("close", "symbol")
            return {"time": found[time_name]} | {n: found[n] for n in names if n in found}
        wide = {
            _WIDE + shown[i].strip().upper(): i
            for i, name in enumerate(lower)
            if name != time_name and shown[i].strip() and name not in ("symbol", "volume")
        }
        if wide and "symbol" not in found:
            return {"time": found[time_name], **wide}
    if time_name is None:
        missing.insert(0, "/".join(TIME_NAMES))
    if missing:
        raise DataError(
            f"{file}: missing required column(s) {', '.join(missing)}; found columns "
            f"{[s.strip() for s in shown]!r}"
        )
    positions = {"time": found[time_name]} if time_name else {}
    positions |= {n: found[n] for n in (*REQUIRED, "volume", "symbol") if n in found}
    return positions


def _wide_symbols(positions: dict[str, int]) -> tuple[str, ...]:
    return tuple(name for name in positions if name.startswith(_WIDE))


# ---- parsing cells ------------------------------------------------------------------------------


def _texts(values: pd.Series) -> Iterator[str]:
    for value in values:
        yield "" if _missing(value) else str(value).strip()


def _missing(value: object) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and value != value)


def _numbers(table: _Table, column: str, *, empty_allowed: bool = False) -> FloatArray:
    """The column as floats; an empty cell is an error unless `empty_allowed` (then NaN)."""
    values = table.columns.get(column)
    if values is None:  # only volume is optional: a file without it reports none traded
        return np.zeros(len(table.rows), dtype=np.float64)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isnan(numbers)
        if bad.any() and not empty_allowed:
            table.fail(int(np.argmax(bad)), column, "empty cell (null or NaN)")
        return numbers
    texts = list(_texts(values))
    numbers = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    empty = np.array([not t for t in texts], dtype=bool)
    bad = ~np.isfinite(numbers) & ~(empty & empty_allowed)
    if bad.any():
        i = int(np.argmax(bad))
        table.fail(i, column, "empty cell" if not texts[i] else f"{texts[i]!r} is not a number")
    return numbers


def _times(table: _Table) -> IntArray:
    values = table.columns["time"]
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        stamps = pd.DatetimeIndex(values)
        stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
        bad = np.asarray(stamps.isna())
        if bad.any():
            table.fail(int(np.argmax(bad)), "time", "empty cell (null)")
        return _nanoseconds(table, stamps, lambda i: stamps[i].isoformat())
    if pd.api.types.is_float_dtype(values):
        table.fail(0, "time", f"{values.iloc[0]!r}: fractional numbers are not timestamps")
    texts = list(_texts(values))
    if all(_INTEGER.fullmatch(t) for t in texts):
        if all(_COMPACT_DATE.fullmatch(t) for t in texts):
            # Eight digits read as epoch seconds would all fall in 1970-73; YYYYMMDD is meant.
            return _iso(table, texts, "%Y%m%d")
        return _epoch(table, texts)
    return _iso(table, texts, "ISO8601")


def _iso(table: _Table, texts: list[str], layout: str) -> IntArray:
    parsed = pd.to_datetime(
        pd.Series(texts, dtype=object), utc=True, format=layout, errors="coerce"
    )
    bad = np.asarray(parsed.isna())
    if bad.any():
        i = int(np.argmax(bad))
        table.fail(i, "time", "empty cell" if not texts[i] else f"{texts[i]!r} is not a timestamp")
    return _nanoseconds(table, pd.DatetimeIndex(parsed), texts.__getitem__)


def _nanoseconds(table: _Table, stamps: pd.DatetimeIndex, shown: Callable[[int], str]) -> IntArray:
    """The times as int64 nanoseconds; a time beyond their span (9999-12-31 written for "no
    date", a medieval typo) is the cell's error, where pandas would raise OutOfBoundsDatetime."""
    outside = np.asarray((stamps < pd.Timestamp(EARLIEST)) | (stamps > pd.Timestamp(LATEST)))
    if outside.any():
        i = int(np.argmax(outside))
        table.fail(i, "time", f"{shown(i)!r} is outside the times tradepit can hold ({_SPAN})")
    return np.asarray(stamps.as_unit("ns").asi8, dtype=np.int64)


def _epoch(table: _Table, texts: list[str]) -> IntArray:
    numbers = [int(t) for t in texts]
    seconds = max(abs(n) for n in numbers) < _SECONDS_BELOW
    scale = 1_000_000_000 if seconds else 1_000_000
    for i, n in enumerate(numbers):
        if abs(n) >= _MILLISECONDS_BELOW or abs(n * scale) > _INT64_MAX:
            table.fail(i, "time", f"{texts[i]!r} is not an epoch time in seconds or milliseconds")
    return np.array([n * scale for n in numbers], dtype=np.int64)


def _symbols(table: _Table) -> np.ndarray[Any, np.dtype[np.object_]]:
    texts = [t.upper() for t in _texts(table.columns["symbol"])]
    for i, text in enumerate(texts):
        if not text:
            table.fail(i, "symbol", "empty cell")
    return np.array(texts, dtype=object)
