"""Sources: the bundled arch dataset and OHLCV files, with errors that point at the bad cell."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trading.data import BundledSource, FileSource
from trading.errors import DataError, UnknownSymbolError

GOOD = """Date,Open,High,Low,Close,Volume
2020-01-02,10.5,11,10,10.75,1000
2020-01-03,10.75,12,10.5,11.25,1500
2020-01-06,11.25,11.5,10.25,10.5,900
"""


def write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path, symbol: str | None = None) -> str:
    with pytest.raises(DataError) as caught:
        FileSource(path, symbol).symbols()
    return str(caught.value)


# ---- bundled ------------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["SPX", "IXIC"])
def test_bundled_data_is_twenty_years_of_daily_bars(symbol: str) -> None:
    series = BundledSource().load(symbol)
    assert len(series) == 5031
    assert series.first_time == datetime(1999, 1, 4, tzinfo=UTC)
    assert series.last_time == datetime(2018, 12, 31, tzinfo=UTC)
    assert series.timeframe == timedelta(days=1)
    assert series.source == "bundled:arch"
    assert series.price_decimals == 2


def test_bundled_spx_first_bar_is_rounded_to_cents_and_closes_the_next_midnight() -> None:
    bar = BundledSource().load("SPX").bar(0)
    assert bar.open == Decimal("1229.23")
    assert bar.time == datetime(1999, 1, 4, tzinfo=UTC)
    assert bar.close_time == datetime(1999, 1, 5, tzinfo=UTC)
    assert bar.volume == Decimal(877000000)


def test_bundled_symbols_are_the_sp500_and_the_nasdaq_composite_not_the_nasdaq_100() -> None:
    source = BundledSource()
    assert source.symbols() == ["IXIC", "SPX"]
    assert "NASDAQ Composite" in source.describe("IXIC")
    assert "S&P 500" in source.describe("spx")
    with pytest.raises(UnknownSymbolError, match="'NDX'"):
        source.load("NDX")


def test_bundled_bars_need_no_repair_after_rounding() -> None:
    for symbol in BundledSource().symbols():
        s = BundledSource().load(symbol)
        assert (s.high >= np.maximum(s.open, s.close)).all()
        assert (s.low <= np.minimum(s.open, s.close)).all()


def test_bundled_series_is_loaded_once() -> None:
    assert BundledSource().load("SPX") is BundledSource().load("spx")


# ---- good files ---------------------------------------------------------------------------------


def test_csv_file_is_named_after_its_stem_and_keeps_exact_prices(tmp_path: Path) -> None:
    source = FileSource(write(tmp_path, GOOD))
    assert source.name == str(tmp_path / "prices.csv")
    assert source.symbols() == ["PRICES"]
    series = source.load("prices")
    assert len(series) == 3
    assert series.price_decimals is None
    assert series.source == str(tmp_path / "prices.csv")
    assert series.bar(0).close == Decimal("10.75")
    assert series.bar(2).time == datetime(2020, 1, 6, tzinfo=UTC)
    assert series.timeframe == timedelta(days=1)


def test_symbol_argument_names_a_single_symbol_file(tmp_path: Path) -> None:
    assert FileSource(write(tmp_path, GOOD), symbol="aapl").symbols() == ["AAPL"]


def test_gzipped_csv_is_read(tmp_path: Path) -> None:
    path = tmp_path / "btc.csv.gz"
    path.write_bytes(gzip.compress(GOOD.encode()))
    assert FileSource(path).symbols() == ["BTC"]
    assert len(FileSource(path).load("BTC")) == 3


def test_columns_match_case_insensitively_and_volume_defaults_to_zero(tmp_path: Path) -> None:
    text = (
        "TIMESTAMP,CLOSE,open,Low,HIGH\n2020-01-02T10:00:00,2,1,1,2\n2020-01-02T11:00:00,3,2,2,3\n"
    )
    series = FileSource(write(tmp_path, text)).load("PRICES")
    assert series.volume.tolist() == [0.0, 0.0]
    assert series.timeframe == timedelta(hours=1)
    assert series.bar(1).close == Decimal(3)


def test_naive_times_are_utc_and_offsets_are_converted(tmp_path: Path) -> None:
    text = (
        "datetime,open,high,low,close\n2020-01-02 10:00,1,1,1,1\n2020-01-02T12:00+01:00,1,1,1,1\n"
    )
    series = FileSource(write(tmp_path, text)).load("PRICES")
    assert series.bar(0).time == datetime(2020, 1, 2, 10, tzinfo=UTC)
    assert series.bar(1).time == datetime(2020, 1, 2, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stamps", "first"),
    [
        (("1577959200", "1577962800"), datetime(2020, 1, 2, 10, tzinfo=UTC)),
        (("1577959200000", "1577962800000"), datetime(2020, 1, 2, 10, tzinfo=UTC)),
        (("20200102", "20200103"), datetime(2020, 1, 2, tzinfo=UTC)),
    ],
)
def test_epoch_seconds_milliseconds_and_compact_dates_are_accepted(
    tmp_path: Path, stamps: tuple[str, str], first: datetime
) -> None:
    text = "time,open,high,low,close\n" + "".join(f"{t},1,1,1,1\n" for t in stamps)
    assert FileSource(write(tmp_path, text)).load("PRICES").first_time == first


def test_multi_symbol_file_lists_and_serves_each_symbol(tmp_path: Path) -> None:
    text = (
        "date,symbol,open,high,low,close,volume\n"
        "2020-01-02,aaa,1,2,1,2,10\n2020-01-02,BBB,5,6,5,6,20\n"
        "2020-01-03,AAA,2,3,2,3,11\n2020-01-03,BBB,6,7,6,7,21\n"
    )
    source = FileSource(write(tmp_path, text))
    assert source.symbols() == ["AAA", "BBB"]
    assert source.load("bbb").close.tolist() == [6.0, 7.0]
    with pytest.raises(UnknownSymbolError, match="available: AAA, BBB"):
        source.load("CCC")


def test_multi_symbol_file_refuses_a_symbol_argument(tmp_path: Path) -> None:
    text = "date,symbol,open,high,low,close\n2020-01-02,A,1,1,1,1\n"
    assert "only for single-symbol files" in error_of(write(tmp_path, text), "X")


def test_parquet_with_a_datetime_index_is_read(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"Open": [1.0, 2.0], "High": [2.0, 3.0], "Low": [1.0, 2.0], "Close": [2.0, 3.0]},
        index=pd.DatetimeIndex(["2020-01-02", "2020-01-03"], name="Date"),
    )
    path = tmp_path / "eth.parquet"
    frame.to_parquet(path)
    series = FileSource(path).load("ETH")
    assert series.first_time == datetime(2020, 1, 2, tzinfo=UTC)
    assert series.close.tolist() == [2.0, 3.0]


def test_parquet_with_a_timestamp_column_is_read(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(["2020-01-02 10:00", "2020-01-02 11:00"], tz="UTC"),
            "open": [1.0, 2.0],
            "high": [2.0, 3.0],
            "low": [1.0, 2.0],
            "close": [2.0, 3.0],
            "volume": [5, 6],
        }
    )
    path = tmp_path / "sol.pq"
    frame.to_parquet(path)
    series = FileSource(path).load("SOL")
    assert series.timeframe == timedelta(hours=1)
    assert series.bar(1).volume == Decimal(6)


# ---- bad files ----------------------------------------------------------------------------------


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    assert error_of(path) == f"{path}: no such file"


def test_unsupported_extension_lists_the_supported_ones(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD, "prices.xlsx"))
    assert "unsupported file type '.xlsx'" in message
    assert ".csv, .csv.gz, .parquet, .pq" in message


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert error_of(path) == f"{path}: the file is empty"


def test_header_without_rows_is_refused(tmp_path: Path) -> None:
    assert "has a header (line 1) but no rows" in error_of(write(tmp_path, "date,open\n"))


def test_missing_required_column_lists_the_columns_found(tmp_path: Path) -> None:
    path = write(tmp_path, "Date,Open,High,Low,Volume\n2020-01-02,1,1,1,1\n")
    assert error_of(path) == (
        f"{path}: missing required column(s) close; found columns "
        "['Date', 'Open', 'High', 'Low', 'Volume']"
    )


def test_missing_time_column_names_the_accepted_names(tmp_path: Path) -> None:
    path = write(tmp_path, "day,open,high,low,close\n2020-01-02,1,1,1,1\n")
    assert "missing required column(s) date/datetime/time/timestamp;" in error_of(path)


def replace_cell(line: int, column: int, value: str) -> str:
    rows = [row.split(",") for row in GOOD.splitlines()]
    rows[line - 1][column] = value
    return "\n".join(",".join(row) for row in rows) + "\n"


@pytest.mark.parametrize(
    ("line", "column", "value", "problem"),
    [
        (3, 4, "abc", "row 3, column 'Close': 'abc' is not a number"),
        (2, 1, "1,5", "row 2: expected 6 fields like the header, found 7"),
        (4, 1, "nan", "row 4, column 'Open': 'nan' is not a number"),
        (4, 5, "", "row 4, column 'Volume': empty cell"),
        (2, 0, "2020-13-01", "row 2, column 'Date': '2020-13-01' is not a timestamp"),
        (3, 0, "", "row 3, column 'Date': empty cell"),
        (3, 3, "-10", "row 3, column 'Low': -10.0 is not a positive price"),
        (2, 1, "0", "row 2, column 'Open': 0.0 is not a positive price"),
        (3, 2, "10.4", "row 3, column 'High': 10.4 is below low 10.5"),
        (2, 2, "10.6", "row 2, column 'High': 10.6 is below close 10.75"),
        (4, 3, "11.3", "row 4, column 'Low': 11.3 is above open 11.25"),
        (2, 5, "-1", "row 2, column 'Volume': -1.0 is negative"),
        (
            3,
            0,
            "2020-01-02",
            "row 3, column 'Date': '2020-01-02T00:00:00+00:00' repeats the timestamp of row 2",
        ),
        (
            4,
            0,
            "2020-01-01",
            "row 4, column 'Date': '2020-01-01T00:00:00+00:00' is earlier than "
            "row 3 ('2020-01-03T00:00:00+00:00'); rows must be sorted oldest first",
        ),
    ],
)
def test_bad_cell_is_reported_with_file_row_column_and_value(
    tmp_path: Path, line: int, column: int, value: str, problem: str
) -> None:
    path = write(tmp_path, replace_cell(line, column, value))
    assert error_of(path) == f"{path}, {problem}"


def test_rows_are_counted_as_lines_including_blank_ones(tmp_path: Path) -> None:
    lines = GOOD.splitlines()
    text = "\n".join([lines[0], "", lines[1], "", lines[2].replace("11.25", "x"), lines[3]])
    path = write(tmp_path, text + "\n")
    assert error_of(path) == f"{path}, row 5, column 'Close': 'x' is not a number"


def test_unsorted_rows_of_one_symbol_are_found_across_interleaved_symbols(tmp_path: Path) -> None:
    text = (
        "date,symbol,open,high,low,close\n"
        "2020-01-03,A,1,1,1,1\n2020-01-02,B,1,1,1,1\n2020-01-03,B,1,1,1,1\n2020-01-02,A,1,1,1,1\n"
    )
    path = write(tmp_path, text)
    assert error_of(path).startswith(
        f"{path}, row 5, column 'date': '2020-01-02T00:00:00+00:00' is earlier than row 2"
    )


def flat_prices(rows: int, **changed: list[Any]) -> dict[str, list[Any]]:
    """Open, high, low and close columns of `rows` bars all at 1.0, but for those `changed`."""
    return {name: [1.0] * rows for name in ("open", "high", "low", "close")} | changed


def test_parquet_missing_value_is_reported_by_data_row(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "date": ["2020-01-02", "2020-01-03", "2020-01-04"],
            **flat_prices(3, close=[1.0, None, 1.0]),
        }
    )
    path = tmp_path / "gaps.parquet"
    frame.to_parquet(path)
    assert error_of(path) == f"{path}, row 2, column 'close': empty cell (null or NaN)"


def test_parquet_text_number_is_reported_with_its_value(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "date": ["2020-01-02", "2020-01-03"],
            **flat_prices(2, open=["1", "one"]),
        }
    )
    path = tmp_path / "text.parquet"
    frame.to_parquet(path)
    assert error_of(path) == f"{path}, row 2, column 'open': 'one' is not a number"


def test_damaged_parquet_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "not parquet at all", "broken.parquet")
    assert "cannot be read as Parquet" in error_of(path)


def test_huge_epoch_number_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, "time,open,high,low,close\n1577959200,1,1,1,1\n99999999999999999,1,1,1,1\n"
    )
    assert "row 3, column 'time': '99999999999999999' is not an epoch time" in error_of(path)


@pytest.mark.parametrize("value", ["9999-12-31", "99991231", "1500-01-01", "2262-04-12"])
def test_a_time_beyond_what_a_series_can_hold_names_the_file_and_row(
    tmp_path: Path, value: str
) -> None:
    path = write(tmp_path, replace_cell(3, 0, value))
    assert error_of(path) == (
        f"{path}, row 3, column 'Date': {value!r} is outside the times tradepit can hold "
        "(1677-09-21 to 2262-04-11)"
    )


def test_a_parquet_timestamp_in_the_year_9999_names_the_row(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "date": pd.Series(
                [datetime(2020, 1, 2, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)],
                dtype="datetime64[us, UTC]",
            ),
            **flat_prices(2),
        }
    )
    path = tmp_path / "far.parquet"
    frame.to_parquet(path)
    assert error_of(path) == (
        f"{path}, row 2, column 'date': '9999-12-31T00:00:00+00:00' is outside the times "
        "tradepit can hold (1677-09-21 to 2262-04-11)"
    )


def test_a_bar_closing_after_the_latest_time_is_refused_not_wrapped_round(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "date,open,high,low,close\n2262-04-10,1,1,1,1\n2262-04-11,1,1,1,1\n")
    assert error_of(path) == (
        f"{path}: PRICES bar at 2262-04-11T00:00:00+00:00 closes after 2262-04-11 23:47:16, "
        "the latest time tradepit can hold"
    )
