"""`tradepit arena --source kraken`: entrants trade Kraken candles fetched from the loopback
fake (OHLC for the newest 720, the trade history before them), cached under the home, read
from the cache by later runs and replays, annualised by the candle length; and the errors for
pairs, windows and sources that cannot be served."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration.arena.config import parse_config
from orchestration.arena.market import kraken_window
from orchestration.arena.store import ArenaStore
from orchestration.cli.arena import ArenaPorts, arena_app
from tests.fakes.kraken_server import FakeKraken, Tape, fake_kraken
from tests.orchestration.cli.helpers import Outcome, invoke_app, succeeded
from trading.clock import ReplayClock
from trading.errors import ConfigError

NOW = 1_700_000_000  # 2023-11-14T22:13:20Z: "today" is 2023-11-14
DAY = 86_400
# A 4h window reaching 7 days past the 720 candles OHLC serves (those begin about 2023-07-17),
# so its first candles are built from trades.
WINDOW = ("--timeframe", "4h", "--start", "2023-07-10", "--end", "2023-08-20")
QUANT = [
    {"quant": "buy_and_hold"},
    {"quant": "sma_cross", "params": {"fast": 5, "slow": 20}},
    {"quant": "momentum", "params": {"lookback": 30}},
]


def tape(base_btc: str = "30000.0") -> Tape:
    """150 days of BTC/USD and ETH/USD, one trade every two hours."""
    start, end = NOW - 150 * DAY, NOW + DAY
    btc = Tape.synthetic("XXBTZUSD", start, end, 7200, base=base_btc)
    eth = Tape.synthetic("XETHZUSD", start, end, 7200, base="2000.0")
    return Tape({**btc.trades, **eth.trades})


@pytest.fixture
def kraken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKraken]:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))
    with fake_kraken(NOW, tape()) as server:
        monkeypatch.setenv("TRADEPIT_KRAKEN_URL", server.url)
        yield server
        assert not server.errors, server.errors


def arena_file(tmp_path: Path, **fields: Any) -> Path:
    path = tmp_path / "arena.yaml"
    path.write_text(yaml.safe_dump({"name": "crypto", "entrants": QUANT, **fields}), "utf-8")
    return path


def invoke(*args: str) -> Outcome:
    ports = ArenaPorts(ReplayClock(datetime.fromtimestamp(NOW, UTC)))
    # A loopback server needs no pacing; `show` reads only the database.
    extra = [] if args[0] == "show" else ["--no-throttle"]
    return invoke_app(arena_app, [*args, *extra], obj=ports)


def run_json(*args: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(succeeded(invoke(*args, "--json")))
    return document


def fetches(kraken: FakeKraken) -> int:
    return len(kraken.calls("OHLC")) + len(kraken.calls("Trades"))


def failure(*args: str) -> str:
    code, _, err = invoke(*args)
    assert code == 2, err
    return " ".join(err.split())


def test_a_quant_arena_on_kraken_candles_is_stored_and_a_rerun_reads_them_from_the_cache(
    tmp_path: Path, kraken: FakeKraken
) -> None:
    config = str(arena_file(tmp_path))
    first = run_json(
        "--config", config, "--source", "kraken", "--symbols", "XBTUSD,ETH/USD", *WINDOW
    )
    assert kraken.calls("OHLC")
    assert kraken.calls("Trades")  # the window starts before the 720 candles OHLC serves
    board = first["leaderboard"]
    assert board["symbols"] == ["BTC/USD", "ETH/USD"]  # Kraken's altname, stored by its name
    assert (board["start"], board["end"], board["bars"]) == ("2023-07-10", "2023-08-20", 252)
    assert board["periods_per_year"] == 365.25 * 6  # 4h candles around the clock, every day
    assert {row["entrant"] for row in board["rows"]} == {"buy_and_hold", "sma_cross", "momentum"}
    assert all(row["trades"] > 0 for row in board["rows"])
    stored = first["config"]
    assert (stored["source"], stored["timeframe"], stored["symbols"]) == (
        "kraken",
        "4h",
        ["BTC/USD", "ETH/USD"],
    )
    assert first["data_files"] == []
    assert (tmp_path / "home" / "cache" / "kraken_candles.db").exists()

    asked = fetches(kraken)
    again = run_json(
        "--config", config, "--source", "kraken", "--symbols", "BTC/USD,ETH/USD", *WINDOW
    )
    assert fetches(kraken) == asked  # not one OHLC or Trades request: all from the cache
    assert again["data_hash"] == first["data_hash"]
    assert again["leaderboard"]["rows"] == first["leaderboard"]["rows"]

    shown = run_json("show", first["run_id"])
    assert shown["config"] == stored
    assert shown["data_hash"] == first["data_hash"]
    assert shown["leaderboard"] == board
    code, text, _ = invoke("show", first["run_id"])
    assert code == 0
    assert "kraken 4h candles" in text
    assert "2191.5 a year" in " ".join(text.split())

    replayed = run_json("--replay", first["run_id"])
    assert fetches(kraken) == asked
    assert replayed["replay"]["equal"], replayed["replay"]["differences"]
    assert replayed["config"] == stored


def test_a_replay_whose_cache_is_gone_refetches_and_stops_when_kraken_now_differs(
    tmp_path: Path, kraken: FakeKraken, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = str(arena_file(tmp_path, entrants=[{"quant": "buy_and_hold"}]))
    original = run_json("--config", config, "--source", "kraken", *WINDOW)
    cache = tmp_path / "home" / "cache" / "kraken_candles.db"

    cache.unlink()
    asked = fetches(kraken)
    same = run_json("--replay", original["run_id"])
    assert fetches(kraken) > asked  # the lost candles, fetched again
    assert same["replay"]["equal"]

    cache.unlink()
    with fake_kraken(NOW, tape(base_btc="31000.0")) as other:
        monkeypatch.setenv("TRADEPIT_KRAKEN_URL", other.url)
        message = failure("--replay", original["run_id"])
    assert "are not the ones the original run used" in message
    assert "nothing was replayed" in message


def test_the_config_file_names_the_source_and_timeframe_and_workers_see_the_same_candles(
    tmp_path: Path, kraken: FakeKraken
) -> None:
    window = {"start": "2023-07-01", "end": "2023-11-13"}
    local = run_json("--config", str(arena_file(tmp_path, source="kraken", **window)))
    assert local["config"]["timeframe"] == "1d"  # the default candle
    assert local["config"]["symbols"] == ["BTC/USD", "ETH/USD"]  # the default pairs
    assert local["leaderboard"]["bars"] == 136
    assert local["leaderboard"]["periods_per_year"] == 365.25  # not 252: crypto has no weekend

    pooled = run_json("--config", str(arena_file(tmp_path, source="kraken", workers=2, **window)))
    assert pooled["data_hash"] == local["data_hash"]
    assert pooled["leaderboard"]["rows"] == local["leaderboard"]["rows"]
    store = ArenaStore(f"sqlite:///{tmp_path / 'home' / 'replay.db'}")
    try:
        runs = {r.entrant: r for r in store.get(pooled["run_id"]).runs}
        alone = {r.entrant: r for r in store.get(local["run_id"]).runs}
    finally:
        store.close()
    assert {name: run.equity for name, run in runs.items()} == {
        name: run.equity for name, run in alone.items()
    }


def test_without_a_window_the_arena_takes_the_days_kraken_ohlc_serves(
    tmp_path: Path, kraken: FakeKraken
) -> None:
    file = str(arena_file(tmp_path, entrants=[{"quant": "buy_and_hold"}]))
    document = run_json("--config", file, "--source", "kraken", "--timeframe", "4h")
    assert (document["config"]["start"], document["config"]["end"]) == (
        "2023-07-19",
        "2023-11-13",  # yesterday: today's candles have not all closed
    )
    assert document["leaderboard"]["bars"] == 118 * 6
    assert not kraken.calls("Trades")  # every candle from OHLC

    # A day of 1d candles is 719 days of OHLC: more than this pair's 150 days of history.
    message = failure("--config", file, "--source", "kraken")
    assert "history begins 2023-06-17" in message
    assert "start on 2023-06-17 or later" in message


def test_the_default_kraken_window_fits_the_720_candles_of_each_timeframe() -> None:
    today = date(2023, 11, 14)
    assert kraken_window("1d", today) == (date(2021, 11, 26), date(2023, 11, 13))
    assert kraken_window("1h", today) == (date(2023, 10, 17), date(2023, 11, 13))
    assert kraken_window("1m", today) == (date(2023, 11, 13), date(2023, 11, 13))


@pytest.mark.parametrize(
    ("args", "expected", "fetched"),
    [
        (("--symbols", "BTC/USD,DOGE/USD"), "Kraken has no pair 'DOGE/USD'", False),
        (("--symbols", "BTC/USD,SPX"), "'SPX' is in the bundled data, not on Kraken", False),
        (("--end", "2023-11-14"), "only the days up to 2023-11-13 have all their 4h", False),
        (("--timeframe", "2h"), "unknown Kraken timeframe '2h'", False),
        (("--data", "prices.csv"), "a Kraken arena reads no --data files", False),
        # Only the candles can tell where the pair's history begins.
        (("--start", "2023-06-01", "--end", "2023-07-01"), "start on 2023-06-18 or later", True),
    ],
)
def test_a_kraken_arena_it_cannot_serve_is_one_line_and_exit_2(
    tmp_path: Path, kraken: FakeKraken, args: tuple[str, ...], expected: str, fetched: bool
) -> None:
    options = {"--timeframe": "4h", **dict(zip(args[::2], args[1::2], strict=True))}
    flat = [item for pair in options.items() for item in pair]
    message = failure("--config", str(arena_file(tmp_path)), "--source", "kraken", *flat)
    assert expected in message
    assert bool(fetches(kraken)) == fetched


def test_kraken_pairs_without_the_kraken_source_are_refused_with_the_way_to_ask(
    tmp_path: Path, kraken: FakeKraken
) -> None:
    message = failure("--config", str(arena_file(tmp_path)), "--symbols", "SPX,BTC/USD")
    assert "'BTC/USD' is not in the bundled data" in message
    assert "--source kraken" in message
    assert not kraken.requests


def test_a_kraken_config_must_name_its_window_and_timeframe_is_kraken_only() -> None:
    entrants = [{"quant": "buy_and_hold"}]
    with pytest.raises(ConfigError, match="a Kraken arena names its window; give end"):
        parse_config({"source": "kraken", "start": "2023-01-01", "entrants": entrants}, "a.yaml")
    with pytest.raises(ConfigError, match="timeframe '4h' is for source: kraken"):
        parse_config({"timeframe": "4h", "entrants": entrants}, "a.yaml")
    with pytest.raises(ConfigError, match="'2h' is not a Kraken candle length"):
        parse_config(
            {"source": "kraken", "timeframe": "2h", "start": "2023-01-01", "end": "2023-02-01"}
            | {"entrants": entrants},
            "a.yaml",
        )


def test_a_kraken_arena_pays_krakens_fees_unless_its_config_names_costs() -> None:
    window = {"source": "kraken", "start": "2023-01-01", "end": "2023-02-01"}
    entrants = {"entrants": [{"quant": "buy_and_hold"}]}
    kraken = parse_config(window | entrants, "a.yaml")
    assert (kraken.costs.taker_fee_bps, kraken.costs.maker_fee_bps) == (40, 25)
    named = parse_config(window | entrants | {"costs": {"taker_fee_bps": 10}}, "a.yaml")
    assert named.costs.taker_fee_bps == 10
    assert parse_config(entrants, "a.yaml").costs.taker_fee_bps == 1
