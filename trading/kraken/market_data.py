"""Kraken market data through its public API (no key): ticker, order book and OHLCV bars.

Kraken's OHLC endpoint returns at most the 720 most recent candles of an interval, the last of
them still forming, and nothing older whatever `since` asks. Older bars are built from the public
trade history (the Trades endpoint, paged by its nanosecond `last` cursor), which is how Kraken
itself says to get them; empty intervals repeat the last close with zero volume, as Kraken's
own candles do. Closed candles go to a `CandleCache`; a repeated request reads the cache and
asks Kraken only for candles that closed since (`since` = the newest cached candle).

Point in time: a bar is returned only once it has closed by the clock's "now", and only once
Kraken has committed it (at or before OHLC's `last`). The forming candle never is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import numpy as np

from trading.clock import Clock
from trading.data.series import BarSeries, check_bars
from trading.data.sources import Catalog, MarketDataSource
from trading.domain import Bar
from trading.errors import DataError, UnknownSymbolError
from trading.kraken.book import BookLevel, OrderBook, Quote
from trading.kraken.cache import Candle, CandleCache
from trading.kraken.client import KrakenClient, Pair

TIMEFRAMES: Final = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240, "1d": 1440}
OHLC_LIMIT: Final = 720
TRADES_PAGE: Final = 1000
_NS: Final = 1_000_000_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def timeframe_seconds(timeframe: str) -> int:
    if timeframe not in TIMEFRAMES:
        raise DataError(
            f"unknown Kraken timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}"
        )
    return TIMEFRAMES[timeframe] * 60


class KrakenMarketData:
    """Ticker, book and bars of Kraken pairs, as known at `clock.now()`."""

    def __init__(
        self,
        client: KrakenClient,
        clock: Clock,
        cache: CandleCache | None = None,
        *,
        max_trade_pages: int = 500,
    ) -> None:
        self.client = client
        self.clock = clock
        self.cache = cache or CandleCache.in_memory()
        self.max_trade_pages = max_trade_pages

    # ---- quotes -------------------------------------------------------------------------------

    def ticker(self, symbol: str) -> Quote:
        pair = self.client.pair(symbol)
        row = self.client.public("Ticker", {"pair": pair.id})[pair.id]
        return Quote(
            symbol=pair.symbol,
            time=self.clock.now(),
            bid=Decimal(row["b"][0]),
            bid_size=Decimal(row["b"][2]),
            ask=Decimal(row["a"][0]),
            ask_size=Decimal(row["a"][2]),
            last=Decimal(row["c"][0]),
        )

    def order_book(self, symbol: str, depth: int = 25) -> OrderBook:
        pair = self.client.pair(symbol)
        book = self.client.public("Depth", {"pair": pair.id, "count": str(depth)})[pair.id]

        def levels(rows: list[list[Any]], best_first_descending: bool) -> tuple[BookLevel, ...]:
            parsed = [BookLevel(Decimal(r[0]), Decimal(r[1])) for r in rows]
            parsed.sort(key=lambda level: level.price, reverse=best_first_descending)
            return tuple(parsed)

        return OrderBook(
            symbol=pair.symbol,
            time=self.clock.now(),
            bids=levels(book["bids"], best_first_descending=True),
            asks=levels(book["asks"], best_first_descending=False),
        )

    # ---- bars ---------------------------------------------------------------------------------

    def bars(
        self, symbol: str, timeframe: str, start: datetime, end: datetime | None = None
    ) -> list[Bar]:
        """Closed bars starting at or after `start` and closed by `end` (and by now)."""
        pair = self.client.pair(symbol)
        step = timeframe_seconds(timeframe)
        now = _seconds(self.clock.now())
        until = now if end is None else min(now, _seconds(end))
        first = -(-_seconds(start) // step) * step
        last = until // step * step - step  # the newest candle closed by `until`
        if last < first:
            return []
        self._fill_cache(pair, timeframe, step, first, last)
        candles = self.cache.get(pair.id, timeframe, first, last)
        return [_bar(pair.symbol, c, step) for c in candles]

    def series(
        self, symbol: str, timeframe: str, start: datetime, end: datetime | None = None
    ) -> BarSeries:
        """The same bars as a `BarSeries`, for the catalog and the point-in-time view."""
        pair = self.client.pair(symbol)
        bars = self.bars(symbol, timeframe, start, end)
        times = np.array([int((b.time - _EPOCH).total_seconds()) * _NS for b in bars], np.int64)
        columns = {
            name: np.array([float(getattr(b, name)) for b in bars], np.float64)
            for name in ("open", "high", "low", "close", "volume")
        }
        check_bars(times, columns, f"kraken ({pair.symbol})", lambda i: i + 1)
        return BarSeries.build(
            pair.symbol,
            "kraken",
            times,
            columns,
            timedelta(seconds=timeframe_seconds(timeframe)),
            price_decimals=pair.price_decimals,
        )

    def _fill_cache(self, pair: Pair, timeframe: str, step: int, first: int, last: int) -> None:
        known = self.cache.coverage(pair.id, timeframe)
        if known is None:
            self._fetch(pair, timeframe, step, first, last)
            return
        if first < known[0]:
            self._fetch(pair, timeframe, step, first, known[0] - step)
        if last > known[1]:
            # Only what closed after the newest cached candle: OHLC with `since` = that candle.
            self._fetch(pair, timeframe, step, known[1] + step, last)

    def _fetch(self, pair: Pair, timeframe: str, step: int, first: int, last: int) -> None:
        """Put the candles in [first, last] into the cache: from OHLC where its window reaches,
        from trades before it."""
        now = _seconds(self.clock.now())
        result = self.client.public(
            "OHLC", {"pair": pair.id, "interval": str(step // 60), "since": str(first - step)}
        )
        committed_to = int(result["last"])
        covered_to = min(last, committed_to)
        if covered_to < first:
            return  # Kraken has committed nothing in the range yet; nothing to build either
        candles = [
            _candle(row)
            for row in result.get(pair.id, [])
            if int(row[0]) <= committed_to and int(row[0]) + step <= now
        ]
        window = candles[0].time if candles else covered_to + step
        if window > first:
            # Older than anything OHLC still serves: build those candles from trades.
            trades_to = min(covered_to, window - step)
            candles = self._from_trades(pair, step, first, trades_to) + candles
        self.cache.put(pair.id, timeframe, candles, first, covered_to)

    def _from_trades(self, pair: Pair, step: int, first: int, last: int) -> list[Candle]:
        end_ns = (last + step) * _NS
        since = first * _NS - 1  # Kraken returns trades after `since`
        buckets: dict[int, list[tuple[Decimal, Decimal]]] = {}
        for page in range(self.max_trade_pages + 1):
            if page == self.max_trade_pages:
                raise DataError(
                    f"building {pair.symbol} bars from {_iso(first)} needs more than "
                    f"{self.max_trade_pages} pages of Kraken trades; ask for a later start or a "
                    "longer timeframe, or raise max_trade_pages"
                )
            result = self.client.public(
                "Trades", {"pair": pair.id, "since": str(since), "count": str(TRADES_PAGE)}
            )
            rows = result.get(pair.id, [])
            cursor = int(result["last"])
            done = not rows or cursor <= since
            for price, volume, when, *_ in rows:
                moment = int(Decimal(repr(when)) * _NS)
                if moment >= end_ns:
                    done = True
                    break
                bucket = moment // _NS // step * step
                buckets.setdefault(bucket, []).append((Decimal(price), Decimal(volume)))
            if done:
                break
            since = cursor
        return _aggregate(buckets, step, last)


def _aggregate(
    buckets: dict[int, list[tuple[Decimal, Decimal]]], step: int, last: int
) -> list[Candle]:
    """Candles from trades; an interval without trades repeats the previous close."""
    if not buckets:
        return []
    candles: list[Candle] = []
    close = Decimal(0)
    for start in range(min(buckets), last + 1, step):
        trades = buckets.get(start)
        if not trades:
            candles.append(Candle(start, close, close, close, close, Decimal(0)))
            continue
        prices = [p for p, _ in trades]
        close = prices[-1]
        volume = sum((v for _, v in trades), Decimal(0))
        candles.append(Candle(start, prices[0], max(prices), min(prices), close, volume))
    return candles


def _candle(row: Sequence[Any]) -> Candle:
    # [time, open, high, low, close, vwap, volume, count]
    return Candle(
        int(row[0]),
        Decimal(row[1]),
        Decimal(row[2]),
        Decimal(row[3]),
        Decimal(row[4]),
        Decimal(row[6]),
    )


def _bar(symbol: str, candle: Candle, step: int) -> Bar:
    time = _EPOCH + timedelta(seconds=candle.time)
    return Bar(
        symbol=symbol,
        time=time,
        close_time=time + timedelta(seconds=step),
        open=candle.open,
        high=candle.high,
        low=candle.low,
        close=candle.close,
        volume=candle.volume,
    )


def _seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise DataError(f"market data times must be timezone-aware, got {moment!r}")
    return int((moment - _EPOCH).total_seconds() // 1)


def _iso(seconds: int) -> str:
    return (_EPOCH + timedelta(seconds=seconds)).isoformat()


class KrakenSource:
    """Kraken pairs as a catalog source: `Catalog([BundledSource(), KrakenSource(...)])`.
    Each pair loads the closed bars of one timeframe from `start` to now."""

    name = "kraken"

    def __init__(
        self,
        market_data: KrakenMarketData,
        symbols: Sequence[str],
        *,
        timeframe: str = "1d",
        start: datetime,
    ) -> None:
        timeframe_seconds(timeframe)
        self.market_data = market_data
        self.timeframe = timeframe
        self.start = start
        self._symbols = [market_data.client.pair(s).symbol for s in symbols]

    def symbols(self) -> list[str]:
        return list(self._symbols)

    def load(self, symbol: str) -> BarSeries:
        return self.market_data.series(symbol, self.timeframe, self.start)


class LiveCatalog(Catalog):
    """A catalog whose series grow while a run goes on: `load` asks the source every time
    instead of keeping the first answer (a Kraken source reads its candle cache and fetches only
    candles closed since). The point-in-time view loads once per symbol and moment, and cuts
    at its own clock, so a cycle still sees only bars closed by its time."""

    def load(self, symbol: str) -> BarSeries:
        index = self._symbol_index()
        found = index.get(symbol.upper())
        if found is None:
            raise UnknownSymbolError(
                f"unknown symbol {symbol!r}; available: {', '.join(sorted(index))}"
            )
        source, own_name = found
        return source.load(own_name)


def kraken_catalog(
    market_data: KrakenMarketData,
    symbols: Sequence[str],
    *,
    timeframe: str,
    start: datetime,
    others: Sequence[MarketDataSource] = (),
) -> LiveCatalog:
    """The catalog of `--source kraken`: `symbols` as Kraken pairs ("BTC/USD") with closed
    `timeframe` bars from `start` to now, growing as bars close, beside any `others`."""
    return LiveCatalog(
        [*others, KrakenSource(market_data, symbols, timeframe=timeframe, start=start)]
    )
