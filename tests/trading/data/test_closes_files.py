"""A user's own closes-only files, long or wide, CSV or Parquet, load as close-only series."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from agents.quant import build_quant_agent
from trading.data import Catalog, FileSource
from trading.errors import DataError
from trading.replay import ReplayConfig, run_replay

WIDE = "date,AAA,BBB\n2021-01-04,10,20\n2021-01-05,11,\n2021-01-06,12,22\n2021-01-07,13,23\n"
LONG = (
    "date,symbol,close\n2021-01-04,AAA,10\n2021-01-05,AAA,11\n2021-01-06,AAA,12\n2021-01-07,AAA,13\n"
    "2021-01-04,BBB,20\n2021-01-06,BBB,22\n2021-01-07,BBB,23\n"
)


def test_a_wide_csv_of_closes_gives_one_close_only_series_per_column(tmp_path: Path) -> None:
    path = tmp_path / "closes.csv"
    path.write_text(WIDE)
    source = FileSource(path)
    assert source.symbols() == ["AAA", "BBB"]
    aaa, bbb = source.load("AAA"), source.load("bbb")
    assert aaa.close_only
    assert aaa.close.tolist() == [10, 11, 12, 13]
    assert bbb.close.tolist() == [20, 22, 23]  # the empty cell is no close that day
    bar = bbb.bar(0)
    assert (bar.open, bar.high, bar.low, bar.volume) == (None, None, None, None)


def test_long_and_wide_files_and_parquet_load_the_same_series(tmp_path: Path) -> None:
    wide, long = tmp_path / "wide.csv", tmp_path / "long.csv"
    wide.write_text(WIDE)
    long.write_text(LONG)
    frame = pd.read_csv(wide, index_col="date", parse_dates=True)
    frame.to_parquet(tmp_path / "wide.parquet")
    for other in (FileSource(long), FileSource(tmp_path / "wide.parquet")):
        for symbol in ("AAA", "BBB"):
            mine, theirs = FileSource(wide).load(symbol), other.load(symbol)
            assert mine.times.tolist() == theirs.times.tolist()
            assert mine.close.tolist() == theirs.close.tolist()


def test_a_bad_close_in_a_wide_file_names_the_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("date,AAA,BBB\n2021-01-04,10,20\n2021-01-05,11,x\n")
    with pytest.raises(DataError, match=r"bad.csv, row 3, column 'BBB': 'x' is not a number"):
        FileSource(path).symbols()


def test_a_users_closes_trade_market_on_close(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(WIDE)
    catalog = Catalog.default([path])
    config = ReplayConfig(symbols=("AAA",), start=date(2021, 1, 4), end=date(2021, 1, 7))
    agent = build_quant_agent("buy_and_hold")
    result = asyncio.run(run_replay(agent, catalog, config, run_id="mine"))
    assert result.fills[0].price == Decimal(11)  # decided on the 4th's close, filled on the 5th's
