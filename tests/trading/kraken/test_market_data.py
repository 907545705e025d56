"""Kraken market data: exact quotes, bars past the 720-candle window, a cache that saves
refetching, and never a candle before it has closed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes.kraken_server import FakeKraken
from tests.trading.kraken.conftest import HOUR, NOW, ClientFactory, at
from trading.clock import ReplayClock
from trading.data import Catalog, PointInTimeView
from trading.domain import Bar
from trading.errors import DataError, UnknownSymbolError
from trading.kraken import CandleCache, KrakenMarketData, KrakenSource

FORMING = NOW // HOUR * HOUR  # the hourly candle still open at NOW


def market(
    make_client: ClientFactory,
    clock: ReplayClock,
    cache: CandleCache | None = None,
    max_trade_pages: int = 500,
) -> KrakenMarketData:
    return KrakenMarketData(make_client(), clock, cache, max_trade_pages=max_trade_pages)


def test_ticker_is_exact_decimals_from_kraken_strings(
    make_client: ClientFactory, clock: ReplayClock
) -> None:
    quote = market(make_client, clock).ticker("BTC/USD")
    assert (quote.bid, quote.ask, quote.last) == (
        Decimal("30300.00000"),
        Decimal("30300.10000"),
        Decimal("30303.20000"),
    )
    assert (quote.bid_size, quote.ask_size, quote.time) == (Decimal(2), Decimal(1), at(NOW))


def test_order_book_lists_the_best_prices_first(
    make_client: ClientFactory, clock: ReplayClock
) -> None:
    book = market(make_client, clock).order_book("XBTUSD", depth=3)
    assert [level.price for level in book.asks] == [
        Decimal("30300.1"),
        Decimal("30301.0"),
        Decimal("30305.5"),
    ]
    assert book.best_bid is not None
    assert book.best_bid.price == Decimal("30300.0")
    assert book.symbol == "BTC/USD"


def test_bars_reach_past_the_720_candle_window_through_the_trade_history(
    kraken: FakeKraken, make_client: ClientFactory, clock: ReplayClock
) -> None:
    start = at(NOW - 1000 * HOUR)
    bars = market(make_client, clock).bars("BTC/USD", "1h", start)

    assert len(bars) == 999  # every hour from start to the last closed one: more than 720
    times = [int(b.time.timestamp()) for b in bars]
    assert times == list(range(times[0], FORMING, HOUR))
    assert len(kraken.calls("OHLC")) == 1
    assert len(kraken.calls("Trades")) >= 2  # the trade history was paged
    # The candles built from trades are the ones Kraken would have served, had it kept them.
    full = {row[0]: row for row in kraken._candles("XXBTZUSD", HOUR)}
    for bar in bars:
        row = full[int(bar.time.timestamp())]
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == tuple(
            Decimal(v) for v in (row[1], row[2], row[3], row[4], row[6])
        )


def test_a_repeated_request_is_served_from_the_cache_without_refetching(
    kraken: FakeKraken, make_client: ClientFactory, clock: ReplayClock
) -> None:
    data = market(make_client, clock)
    first = data.bars("BTC/USD", "1h", at(NOW - 900 * HOUR))
    asked = len(kraken.requests)

    again = data.bars("BTC/USD", "1h", at(NOW - 900 * HOUR))

    assert again == first
    assert len(kraken.requests) == asked


def test_the_cache_on_disk_serves_a_later_run(
    kraken: FakeKraken, make_client: ClientFactory, clock: ReplayClock, tmp_path: Path
) -> None:
    start = at(NOW - 100 * HOUR)
    first = market(make_client, clock, cache=CandleCache.in_directory(tmp_path)).bars(
        "BTC/USD", "1h", start
    )
    kraken.requests.clear()

    later = market(make_client, clock, cache=CandleCache.in_directory(tmp_path))
    assert later.bars("BTC/USD", "1h", start) == first
    assert kraken.calls("OHLC") == []
    assert kraken.calls("Trades") == []


def last_50_hours(kraken: FakeKraken, data: KrakenMarketData) -> list[Bar]:
    """BTC/USD's hourly candles of the last 50 hours, fetched into `data`'s cache; Kraken's log
    of requests is cleared after."""
    bars = data.bars("BTC/USD", "1h", at(NOW - 50 * HOUR))
    kraken.requests.clear()
    return bars


def test_a_later_run_asks_only_for_candles_closed_since_the_cached_ones(
    kraken: FakeKraken, make_client: ClientFactory, clock: ReplayClock
) -> None:
    data = market(make_client, clock)
    before = last_50_hours(kraken, data)
    kraken.now += 3 * HOUR
    clock.advance_to(at(kraken.now))

    after = data.bars("BTC/USD", "1h", at(NOW - 50 * HOUR))

    assert after[: len(before)] == before
    assert len(after) == len(before) + 3
    [ohlc] = kraken.calls("OHLC")
    assert int(ohlc.params["since"]) == int(before[-1].time.timestamp())
    assert kraken.calls("Trades") == []


def test_an_earlier_start_fetches_only_the_older_candles_missing_from_the_cache(
    kraken: FakeKraken, make_client: ClientFactory, clock: ReplayClock
) -> None:
    data = market(make_client, clock)
    recent = last_50_hours(kraken, data)

    longer = data.bars("BTC/USD", "1h", at(NOW - 80 * HOUR))

    assert longer[-len(recent) :] == recent
    assert len(longer) == len(recent) + 30
    [ohlc] = kraken.calls("OHLC")
    assert int(ohlc.params["since"]) == int(longer[0].time.timestamp()) - HOUR
    assert longer == market(make_client, clock).bars("BTC/USD", "1h", at(NOW - 80 * HOUR))


def test_the_candle_still_forming_is_never_returned(
    make_client: ClientFactory, clock: ReplayClock
) -> None:
    bars = market(make_client, clock).bars("BTC/USD", "1h", at(NOW - 5 * HOUR))
    assert bars[-1].close_time <= at(NOW)
    assert all(int(b.time.timestamp()) != FORMING for b in bars)


def test_bars_stop_at_the_clock_even_when_kraken_knows_more(
    make_client: ClientFactory, clock: ReplayClock
) -> None:
    behind = ReplayClock(at(NOW - 2 * HOUR - 60))
    bars = market(make_client, behind).bars("BTC/USD", "15m", at(NOW - 6 * HOUR))
    assert bars[-1].close_time <= behind.now()
    assert bars[-1].close_time > behind.now() - timedelta(minutes=15)


def test_a_candle_kraken_has_not_committed_yet_is_neither_returned_nor_built_from_trades(
    kraken: FakeKraken, make_client: ClientFactory
) -> None:
    ahead = ReplayClock(at(NOW + 2 * HOUR))  # our clock runs ahead of Kraken's
    data = market(make_client, ahead)
    first = data.bars("BTC/USD", "1h", at(NOW - 5 * HOUR))
    again = data.bars("BTC/USD", "1h", at(NOW - 5 * HOUR))

    assert first == again
    assert first[-1].close_time == at(FORMING)  # Kraken's newest committed candle
    assert kraken.calls("Trades") == []


def test_kraken_pairs_load_into_the_catalog_and_the_point_in_time_view(
    make_client: ClientFactory, clock: ReplayClock
) -> None:
    data = market(make_client, clock)
    source = KrakenSource(data, ["XBTUSD"], timeframe="1h", start=at(NOW - 48 * HOUR))
    view = PointInTimeView(Catalog([source]), clock)

    assert view.symbols() == ["BTC/USD"]
    last = view.last_bar("BTC/USD")
    assert last == data.bars("BTC/USD", "1h", at(NOW - 2 * HOUR))[-1]
    assert last.close_time == at(FORMING)


def test_an_unknown_timeframe_or_pair_is_a_clear_error(
    make_client: ClientFactory, clock: ReplayClock
) -> None:
    data = market(make_client, clock)
    with pytest.raises(DataError, match="'2h'"):
        data.bars("BTC/USD", "2h", at(NOW - HOUR))
    with pytest.raises(UnknownSymbolError, match="'DOGE/EUR'"):
        data.ticker("DOGE/EUR")


def test_a_backfill_longer_than_allowed_says_so_instead_of_paging_forever(
    make_client: ClientFactory, clock: ReplayClock
) -> None:
    data = market(make_client, clock, max_trade_pages=2)
    with pytest.raises(DataError, match="more than 2 pages"):
        data.bars("BTC/USD", "1h", at(NOW - 1000 * HOUR))


def test_a_rate_limited_read_waits_and_retries(
    kraken: FakeKraken, make_client: ClientFactory, clock: ReplayClock, sleeps: list[float]
) -> None:
    from tests.fakes.kraken_server import Reply

    kraken.script("Ticker", Reply("error_rate_limit"), Reply("error_rate_limit"))
    quote = market(make_client, clock).ticker("BTC/USD")
    assert quote.ask == Decimal("30300.1")
    assert sleeps == [1.0, 2.0]
    assert len(kraken.calls("Ticker")) == 3
