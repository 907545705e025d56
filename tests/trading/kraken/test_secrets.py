"""The API key and secret never appear in logs, errors, reports, reprs or the database."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.fakes.kraken_server import Drop, FakeKraken
from tests.trading.kraken.conftest import API_KEY, NOW, SECRET, WRONG_SECRET, ClientFactory, at
from trading.clock import ReplayClock
from trading.domain import Order, OrderType, Side
from trading.errors import TradepitError
from trading.kraken import (
    CandleCache,
    KrakenCredentials,
    KrakenExecutor,
    KrakenMarketData,
    OrderJournal,
    check_keys,
)


def order(order_id: str, quantity: str = "0.01", limit: str | None = "29000") -> Order:
    return Order(
        order_id,
        "BTC/USD",
        Side.BUY,
        Decimal(quantity),
        OrderType.LIMIT if limit else OrderType.MARKET,
        at(NOW),
        limit_price=Decimal(limit) if limit else None,
    )


def test_the_key_and_secret_never_leak_anywhere(
    kraken: FakeKraken,
    make_client: ClientFactory,
    credentials: KrakenCredentials,
    clock: ReplayClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, ccxt's request log included
    journal_file, cache_dir = tmp_path / "live.db", tmp_path / "cache"
    journal = OrderJournal(f"sqlite:///{journal_file}")
    client = make_client(credentials)
    executor = KrakenExecutor(client, journal, clock, live=True)
    KrakenMarketData(client, clock, CandleCache.in_directory(cache_dir)).bars(
        "BTC/USD", "1h", at(NOW - 10 * 3600)
    )
    texts: list[str] = []

    orders = [order("fine"), order("lost"), order("too-big", quantity="5")]
    executor.submit(orders[0])
    kraken.script("AddOrder", Drop())
    executor.submit(orders[1])
    executor.submit(orders[2])
    executor.poll()
    wrong = KrakenCredentials(api_key=SecretStr(API_KEY), api_secret=SecretStr(WRONG_SECRET))
    failing = KrakenExecutor(make_client(wrong), journal, clock, live=True)
    with pytest.raises(TradepitError) as auth:
        failing.submit(order("refused"))
    with pytest.raises(TradepitError) as reconcile:
        executor.reconcile({"USD": Decimal(1)})
    checked = check_keys(
        environ={"KRAKEN_API_KEY": API_KEY, "KRAKEN_API_SECRET": SECRET},
        base_url=kraken.url,
        rate_limit=False,
    )

    texts += [o.reason for o in orders] + [str(auth.value), str(reconcile.value)]
    texts += checked.lines()
    texts += [repr(executor), repr(failing), repr(client), repr(credentials), str(credentials)]
    texts += [credentials.model_dump_json(), caplog.text]
    assert "AddOrder" in caplog.text  # the wire log did run...
    assert "[redacted]" in caplog.text  # ...and had the key to hide
    for secret in (API_KEY, SECRET, WRONG_SECRET):
        for text in texts:
            assert secret not in text
        for stored in [journal_file, *cache_dir.iterdir()]:
            assert secret.encode() not in stored.read_bytes()
