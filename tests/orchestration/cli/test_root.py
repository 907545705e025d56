"""The `tradepit` command line, called in-process."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from tests.orchestration.cli.helpers import invoke
from trading.data import Catalog
from trading.storage import Store

runner = CliRunner()


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))


BACKTEST = [
    "backtest",
    "--agent",
    "sma_cross",
    "--symbol",
    "SPX",
    "--start",
    "2005-01-01",
    "--end",
    "2010-12-31",
    "--param",
    "fast=10",
    "--param",
    "slow=50",
]


def test_backtest_json_without_costs_fills_at_exactly_the_next_open_and_adds_up() -> None:
    code, out, err = invoke(*BACKTEST, "--fee-bps", "0", "--slippage-bps", "0", "--json")
    assert code == 0, err
    report = json.loads(out)
    bars = Catalog.default().load("SPX").to_frame()
    trades = report["trades"]
    assert len(trades) > 10
    for trade in trades:
        assert Decimal(trade["fee"]) == 0
        opened = bars.loc[trade["time"], "open"]
        assert Decimal(trade["price"]) == Decimal(f"{opened:.2f}")
    # Walk cash and position through the trades by hand and mark at each close: the equity the
    # command printed must match to the cent on every bar.
    cash, units, by_time = Decimal(100_000), Decimal(0), {}
    for trade in trades:
        by_time.setdefault(trade["time"], []).append(trade)
    for point in report["equity"]:
        for trade in by_time.get(point["time"], []):
            sign = 1 if trade["side"] == "buy" else -1
            units += sign * Decimal(trade["quantity"])
            cash -= sign * Decimal(trade["quantity"]) * Decimal(trade["price"])
        close = Decimal(f"{bars.loc[point['time'], 'close']:.2f}")
        assert Decimal(point["equity"]) == cash + units * close
    metrics = report["metrics"]
    for name in (
        "total_return",
        "annualized_return",
        "annualized_volatility",
        "sharpe",
        "sortino",
        "max_drawdown",
        "calmar",
        "win_rate",
        "profit_factor",
        "alpha",
        "beta",
        "information_ratio",
        "turnover",
    ):
        assert name in metrics
    first, last = Decimal(report["equity"][0]["equity"]), Decimal(report["equity"][-1]["equity"])
    assert metrics["total_return"] == pytest.approx(float(last / first - 1))
    assert report["equity"][0]["time"].startswith("2005-01-03")
    assert report["equity"][-1]["time"].startswith("2010-12-31")


def test_backtest_prints_a_table_for_people() -> None:
    code, out, err = invoke(*BACKTEST)
    assert code == 0, err
    assert "Sharpe" in out
    assert "run id: bt-" in out


def test_a_window_past_the_data_says_where_the_data_ends_instead_of_cutting_silently() -> None:
    code, out, err = invoke(
        "backtest", "--agent", "sma_cross", "--symbol", "SPX", "--start", "2018-06-01",
        "--end", "2030-01-01", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert err.splitlines() == ["note: SPX's data ends on 2018-12-31, before the end 2030-01-01"]
    assert json.loads(out)["end"] == "2018-12-31"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agent", "nope"], "unknown agent 'nope'"),
        (["--symbol", "FOO"], "unknown symbol 'FOO'"),
        (["--param", "fats=3"], "unknown parameter 'fats'"),
        (["--param", "fast"], "--param takes NAME=VALUE"),
        (["--start", "2005-13-01"], "--start takes a date as YYYY-MM-DD"),
        (["--start", "2030-01-01", "--end", "2031-01-01"], "no SPX bars between 2030-01-01"),
        (["--start", "2010-01-01", "--end", "2009-01-01"], "is after --end"),
        (["--fee-bps", "-1"], "--fee-bps must be a finite number of at least 0"),
        # It named the model's fields: taker_fee_bps=Decimal('5000'): Input should be ...
        (["--fee-bps", "5000"], "--fee-bps must be at least 0 and at most 1000, got 5000"),
        (["--impact", "11"], "--impact must be at least 0 and at most 10, got 11"),
        (["--max-drawdown", "1.5"], "--max-drawdown must be above 0 and below 1, got 1.5"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(args: list[str], message: str) -> None:
    code, out, err = invoke("backtest", *args)
    assert code == 2
    assert message in err
    assert len(err.splitlines()) == 1  # no blank line before or after
    assert "_bps" not in err
    assert out == ""


def test_data_list_shows_the_bundled_real_data() -> None:
    code, out, _ = invoke("data", "list", "--json")
    assert code == 0
    rows = {row["symbol"]: row for row in json.loads(out)["symbols"]}
    assert rows["SPX"]["rows"] == 5031
    assert rows["SPX"]["first"] == "1999-01-04"
    assert rows["IXIC"]["last"] == "2018-12-31"


def test_a_users_csv_is_listed_and_tradable(tmp_path: Path) -> None:
    path = tmp_path / "acme.csv"
    lines = ["date,open,high,low,close,volume"]
    for i in range(1, 29):
        price = 100 + i
        lines.append(f"2021-02-{i:02d},{price},{price + 1},{price - 1},{price},1000")
    path.write_text("\n".join(lines) + "\n")
    code, out, err = invoke("data", "list", "--data", str(path), "--json")
    assert code == 0, err
    assert "ACME" in {row["symbol"] for row in json.loads(out)["symbols"]}
    code, out, err = invoke(
        "backtest", "--agent", "buy_and_hold", "--symbol", "ACME", "--data", str(path), "--json"
    )
    assert code == 0, err
    assert json.loads(out)["trades"][0]["time"].startswith("2021-02-02")


def test_a_bad_csv_names_the_file_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("date,open,high,low,close\n2021-01-01,1,2,0.5,1\n2021-01-02,1,2,abc,1\n")
    code, _, err = invoke("data", "list", "--data", str(path))
    assert code == 2
    assert "bad.csv" in err
    assert "row 3" in err
    assert "'low'" in err


def test_help_teaches_every_command() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    for command in ("backtest", "data"):
        assert command in out
    code, out, _ = invoke("backtest", "--help")
    assert code == 0
    assert "--slippage-bps" in out


def test_help_at_80_columns_keeps_every_option_and_path_whole() -> None:
    # Rich's panels cut them with an ellipsis: "$TRADEPIT_KRAKEN_…", "KRAKEN_API_SECRET…".
    commands = [["backtest"], ["trade"], ["evolve"], ["mcp"], ["arena"], ["data", "list"], ["runs"]]
    for command in commands:
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
        assert result.exit_code == 0, command
        assert "…" not in result.stdout, command
        assert all(len(line) <= 80 for line in result.stdout.splitlines()), command
    trade = runner.invoke(app, ["trade", "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert "$TRADEPIT_KRAKEN_URL" in trade.stdout


def test_tables_on_a_pipe_are_printed_whole_not_cut_to_80_columns() -> None:
    args = ["backtest", "--symbol", "SPX,IXIC", "--start", "2017-01-01", "--end", "2017-12-31"]
    result = runner.invoke(app, args, env={"COLUMNS": "40"}, terminal_width=40)
    assert result.exit_code == 0, result.stderr
    assert "…" not in result.stdout
    # The row's label and its figure on one line, as wide as they need.
    assert "benchmark: equal-weight buy and hold of IXIC, SPX, never rebalanced" in result.stdout
    code, out, _ = invoke("data", "list")
    assert code == 0
    assert "…" not in out


def test_a_home_that_is_a_file_is_one_line_naming_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It was a FileExistsError traceback out of mkdir.
    afile = tmp_path / "home.txt"
    afile.write_text("not a directory")
    monkeypatch.setenv("TRADEPIT_HOME", str(afile))
    code, out, err = invoke(*BACKTEST)
    assert (code, out) == (2, "")
    assert (
        err == f"error: $TRADEPIT_HOME ({afile}) is a file; the tradepit home must be a directory\n"
    )
    monkeypatch.delenv("TRADEPIT_HOME")
    code, _, err = invoke("debate", "show", "r", "1", "--home", str(afile))
    assert code == 2
    assert err.startswith(f"error: --home {afile} is a file")


def _without_run(report: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in report.items() if k not in ("run_id", "path", "path_reason")}


def _columns(record: object) -> dict[str, object]:
    """A stored row's columns, less those that name its run (ids hold the run id)."""
    named = ("_sa_instance_state", "run_id", "order_id", "trade_id")
    return {k: v for k, v in vars(record).items() if k not in named}


@pytest.mark.parametrize(
    "args",
    [
        BACKTEST,
        [*BACKTEST, "--param", "allow_short=true", "--fee-bps", "5", "--impact", "0.5"],
        ["backtest", "--agent", "momentum", "--symbol", "SPX,IXIC", "--start", "2005-01-01",
         "--end", "2010-12-31", "--param", "lookback=20"],
    ],
)  # fmt: skip
def test_backtest_takes_the_vectorised_path_and_reports_and_stores_what_the_replay_does(
    args: list[str], tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    code, out, err = invoke(*args, "--db", db, "--json")
    assert code == 0, err
    fast = json.loads(out)
    code, out, err = invoke(*args, "--db", db, "--path", "replay", "--json")
    assert code == 0, err
    slow = json.loads(out)
    assert (fast["path"], fast["path_reason"]) == ("vectorised", None)
    assert (slow["path"], slow["path_reason"]) == ("replay", None)
    assert len(fast["trades"]) > 10
    assert _without_run(fast) == _without_run(slow)
    store = Store(db)
    for read in (store.orders, store.fills, store.equity, store.decisions):
        ours, theirs = read(fast["run_id"]), read(slow["run_id"])
        assert theirs
        assert [_columns(r) for r in ours] == [_columns(r) for r in theirs]
    store.close()


def test_a_backtest_the_vectorised_path_refuses_runs_the_replay_and_says_why() -> None:
    code, out, err = invoke(*BACKTEST, "--max-drawdown", "0.1", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["path"] == "replay"
    assert "max_drawdown=0.1" in report["path_reason"]
    code, out, err = invoke(*BACKTEST, "--max-drawdown", "0.1")
    assert code == 0, err
    assert "replay (vectorised path: risk limit max_drawdown=0.1" in out
    code, out, err = invoke(*BACKTEST)
    assert code == 0, err
    assert "path" in out
    assert "vectorised" in out


def test_a_forced_vectorised_path_it_cannot_take_is_one_line_and_exit_2() -> None:
    code, out, err = invoke(*BACKTEST, "--max-drawdown", "0.1", "--path", "vectorised")
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "--path vectorised" in err
    assert "max_drawdown=0.1" in err
    code, out, err = invoke(*BACKTEST, "--path", "fast")
    assert code == 2
    assert "--path" in err
    assert "'fast'" in err


def test_data_list_says_what_the_stock_universe_is_and_that_it_is_survivorship_biased() -> None:
    code, out, _ = invoke("data", "list", "--json")
    assert code == 0
    document = json.loads(out)
    rows = {row["symbol"]: row for row in document["symbols"]}
    assert rows["AAPL"]["source"] == "bundled:skfolio"
    assert rows["AAPL"]["rows"] == 8313
    assert rows["XOM"]["last"] == "2022-12-28"
    assert any("survivorship-biased universe" in line for line in document["notes"])
    code, out, _ = invoke("data", "list")
    assert code == 0
    assert "survivorship-biased universe" in out
    assert "participation cap is off" in out


def test_a_backtest_on_the_universe_says_it_is_survivorship_biased() -> None:
    args = ["backtest", "--agent", "buy_and_hold", "--symbol", "AAPL,MSFT"]
    code, out, err = invoke(*args, "--start", "2020-01-01", "--end", "2020-03-31", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["path"] == "replay"
    assert "closes only" in document["path_reason"]
    assert "survivorship-biased universe" in document["data_notes"][0]
    code, out, err = invoke(*args, "--start", "2020-01-01", "--end", "2020-03-31")
    assert code == 0, err
    assert "survivorship-biased universe" in out
