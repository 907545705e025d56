"""The fake speaks Kraken's documented wire format: ccxt talks to it unchanged but for its URLs,
and it checks signatures and nonces as Kraken does."""

from __future__ import annotations

import ccxt
import pytest

from tests.fakes.kraken_server import FakeKraken, fixture
from tests.trading.kraken.conftest import API_KEY, HOUR, NOW, SECRET, WRONG_SECRET


def exchange(kraken: FakeKraken, secret: str | None = SECRET) -> ccxt.kraken:
    config = {"enableRateLimit": False, "timeout": 5000}
    if secret is not None:
        config.update(apiKey=API_KEY, secret=secret)
    client = ccxt.kraken(config)
    client.urls["api"] = {"public": kraken.url, "private": kraken.url}
    return client


def test_ccxt_unified_market_calls_work_against_the_fake(kraken: FakeKraken) -> None:
    client = exchange(kraken, secret=None)
    assert client.fetch_ticker("BTC/USD")["ask"] == 30300.1
    assert client.fetch_order_book("BTC/USD", 2)["bids"][0][0] == 30300.0
    candles = client.fetch_ohlcv("BTC/USD", "1h", since=(NOW - 5 * HOUR) * 1000)
    assert [c[0] // 1000 for c in candles] == [
        NOW // HOUR * HOUR - k * HOUR for k in range(4, -1, -1)
    ]


def test_ccxt_unified_private_calls_work_against_the_fake(kraken: FakeKraken) -> None:
    client = exchange(kraken)
    assert client.fetch_balance()["total"]["USD"] == 10000.0
    order = client.create_order("BTC/USD", "limit", "buy", 0.01, 29000, {"clientOrderId": "c1"})
    assert [o["id"] for o in client.fetch_open_orders()] == [order["id"]]
    client.cancel_order(order["id"])
    assert client.fetch_open_orders() == []


def test_a_request_signed_with_the_wrong_secret_is_refused(kraken: FakeKraken) -> None:
    with pytest.raises(ccxt.ExchangeError, match="EAPI:Invalid signature"):
        exchange(kraken, secret=WRONG_SECRET).fetch_balance()
    assert kraken.requests[-1].outcome == "error_invalid_signature"


def test_an_unknown_key_is_refused(kraken: FakeKraken) -> None:
    client = exchange(kraken)
    client.apiKey = "someone-else"
    with pytest.raises(ccxt.AuthenticationError, match="EAPI:Invalid key"):
        client.fetch_balance()


def test_a_nonce_that_does_not_grow_is_refused(kraken: FakeKraken) -> None:
    client = exchange(kraken)
    client.fetch_balance()
    client.options["lastNonce"] = 0
    client.nonce = lambda: 1  # an earlier nonce than the one already used
    with pytest.raises(ccxt.InvalidNonce):
        client.fetch_balance()


def test_an_endpoint_the_key_has_no_permission_for_is_refused(kraken: FakeKraken) -> None:
    with pytest.raises(ccxt.PermissionDenied):
        exchange(kraken).request("WithdrawMethods", ["private"], "POST", {})


def test_ohlc_serves_the_720_most_recent_entries_the_last_still_forming(
    kraken: FakeKraken,
) -> None:
    result = exchange(kraken, secret=None).request(
        "OHLC", ["public"], "GET", {"pair": "XXBTZUSD", "interval": 60, "since": 0}
    )["result"]
    rows = result["XXBTZUSD"]
    assert len(rows) == 720
    assert rows[-1][0] == NOW // HOUR * HOUR  # forming
    assert result["last"] == rows[-2][0]  # the newest committed candle
    assert [type(v) for v in rows[0]] == [
        type(v) for v in fixture("public_OHLC")["result"]["XXBTZUSD"][0]
    ]


def test_trades_page_by_nanosecond_cursor(kraken: FakeKraken) -> None:
    client = exchange(kraken, secret=None)
    since = str((NOW - 200 * HOUR) * 1_000_000_000)
    first = client.request("Trades", ["public"], "GET", {"pair": "XBTUSD", "since": since})
    page = first["result"]["XXBTZUSD"]
    assert len(page) == 1000
    following = client.request(
        "Trades", ["public"], "GET", {"pair": "XBTUSD", "since": first["result"]["last"]}
    )["result"]["XXBTZUSD"]
    assert following[0][6] == page[-1][6] + 1
