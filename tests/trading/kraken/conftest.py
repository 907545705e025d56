"""A fake Kraken on loopback, a trade tape for it, and clients pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from tests.fakes.kraken_server import FakeKraken, Tape, fake_kraken, make_secret
from trading.clock import ReplayClock
from trading.kraken import KrakenClient, KrakenCredentials, RetryPolicy

NOW = 1_700_000_000  # 2023-11-14T22:13:20Z
HOUR = 3600
API_KEY = "TPKEY/test+0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"
SECRET = make_secret("tradepit-test-secret")
WRONG_SECRET = make_secret("not-the-secret")


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def kraken() -> Iterator[FakeKraken]:
    # 1000 hours of BTC/USD trades, one every 5 minutes, and some beyond "now" for later.
    tape = Tape.synthetic("XXBTZUSD", NOW - 1000 * HOUR, NOW + 10 * HOUR, 300)
    with fake_kraken(NOW, tape) as server:
        server.add_key(API_KEY, SECRET)
        yield server
        assert not server.errors, server.errors


@pytest.fixture
def clock() -> ReplayClock:
    return ReplayClock(at(NOW))


@pytest.fixture
def credentials() -> KrakenCredentials:
    return KrakenCredentials(api_key=SecretStr(API_KEY), api_secret=SecretStr(SECRET))


@pytest.fixture
def sleeps() -> list[float]:
    return []


ClientFactory = Callable[..., KrakenClient]


@pytest.fixture
def make_client(kraken: FakeKraken, sleeps: list[float]) -> Iterator[ClientFactory]:
    made: list[KrakenClient] = []

    def make(credentials: KrakenCredentials | None = None, timeout_s: float = 5.0) -> KrakenClient:
        client = KrakenClient(
            base_url=kraken.url,
            credentials=credentials,
            timeout_s=timeout_s,
            rate_limit=False,
            retry=RetryPolicy(attempts=4, first_delay_s=1.0, max_delay_s=4.0),
            sleep=sleeps.append,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
