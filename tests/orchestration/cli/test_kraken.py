"""`tradepit kraken`, called in-process against the fake Kraken: `check` says whether the keys
are fit to trade with (exit 0) or not (exit 1); `ticker` prints a live quote."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

import trading.kraken
from orchestration.cli.kraken import kraken_app
from tests.fakes.kraken_server import FULL_TRADING, FakeKraken, fake_kraken, make_secret

KEY = "TPKEY/cli+test"
SECRET = make_secret("cli-secret")
runner = CliRunner()


@pytest.fixture
def kraken(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKraken]:
    with fake_kraken() as server:
        server.add_key(KEY, SECRET)
        monkeypatch.setenv("TRADEPIT_KRAKEN_URL", server.url)
        monkeypatch.setenv("KRAKEN_API_KEY", KEY)
        monkeypatch.setenv("KRAKEN_API_SECRET", SECRET)
        yield server


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(kraken_app, [*args, "--no-throttle"])
    return result.exit_code, result.stdout, result.stderr


def test_check_passes_for_a_trading_key_that_cannot_withdraw(kraken: FakeKraken) -> None:
    code, out, _ = invoke("check")
    assert code == 0
    assert "keys valid: yes" in out
    assert "can withdraw: no" in out
    assert "fit to trade" in out
    assert kraken.calls("AddOrder") == []


def test_check_fails_with_exit_1_for_a_key_that_can_withdraw(
    kraken: FakeKraken, monkeypatch: pytest.MonkeyPatch
) -> None:
    kraken.add_key("RISKY", SECRET, (*FULL_TRADING, "withdraw-funds"))
    monkeypatch.setenv("KRAKEN_API_KEY", "RISKY")
    code, out, _ = invoke("check", "--json")
    report = json.loads(out)
    assert code == 1
    assert report["ok"] is False
    assert report["can_withdraw"] is True


def test_check_without_keys_says_which_variables_to_set(
    kraken: FakeKraken, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KRAKEN_API_KEY")
    monkeypatch.delenv("KRAKEN_API_SECRET")
    code, out, _ = invoke("check", "--json")
    assert code == 1
    assert json.loads(out)["present"] is False
    assert "KRAKEN_API_KEY" in json.loads(out)["problems"][0]
    assert kraken.requests == []


def test_check_output_never_shows_the_key_or_secret(kraken: FakeKraken) -> None:
    for args in (("check",), ("check", "--json")):
        _, out, err = invoke(*args)
        assert KEY not in out + err
        assert SECRET not in out + err


def test_ticker_prints_exact_prices_as_json(kraken: FakeKraken) -> None:
    code, out, _ = invoke("ticker", "BTC/USD", "--json")
    quote = json.loads(out)
    assert code == 0
    assert (quote["symbol"], quote["bid"], quote["ask"]) == (
        "BTC/USD",
        "30300.00000",
        "30300.10000",
    )


def test_ticker_of_an_unknown_pair_is_one_line_and_exit_2(kraken: FakeKraken) -> None:
    code, _, err = invoke("ticker", "NOPE/USD")
    assert code == 2
    assert err.startswith("error: Kraken has no pair 'NOPE/USD'")


def test_ticker_of_a_host_that_cannot_be_reached_says_which_and_why_after_one_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # It waited 17.8 s through five tries and said only 'Kraken AssetPairs: NetworkError'.
    waits: list[float] = []
    client = trading.kraken.KrakenClient
    monkeypatch.setattr(
        trading.kraken, "KrakenClient", lambda **options: client(**options, sleep=waits.append)
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    code, _, err = invoke("ticker", "BTC/USD", "--url", f"http://127.0.0.1:{port}")
    assert code == 2
    assert (
        err == f"error: Kraken AssetPairs: could not reach 127.0.0.1:{port}: Connection refused\n"
    )
    assert waits == [1.0]  # one retry a second later, not 1 + 2 + 4 + 8 s of backoff
