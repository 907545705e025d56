"""Where an arena's bars come from: the bundled data with the user's files, or Kraken.

A Kraken arena trades a finite window of history, so it reads `KrakenMarketData.series` with
both ends fixed rather than the live catalog of the trading loop (which grows with every candle
that closes, and so would give another market-data hash on every run). Only candles that have
closed by the injected clock are read, they go through the local `CandleCache`, and all of them
are loaded before any entrant runs: a window Kraken cannot fill is an error up front, never a
shorter run, and worker processes get the very series the lockstep entrants see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from trading.clock import Clock
from trading.data import Catalog
from trading.data.series import BarSeries
from trading.data.sources import BundledSource
from trading.errors import ConfigError, UnknownSymbolError

if TYPE_CHECKING:
    from orchestration.arena.config import ArenaConfig
    from trading.kraken import KrakenMarketData

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class KrakenAccess:
    """How to reach Kraken's public API (no key) and where its candles are cached."""

    url: str
    cache_dir: Path
    clock: Clock
    rate_limit: bool = True


class LoadedSource:
    """Series already loaded, as a catalog source. Picklable, so a worker process replays the
    same bars as this one without asking Kraken (or its cache) again."""

    def __init__(self, name: str, series: Mapping[str, BarSeries]) -> None:
        self.name = name
        self._series = dict(series)

    def symbols(self) -> list[str]:
        return list(self._series)

    def load(self, symbol: str) -> BarSeries:
        return self._series[symbol]

    def __reduce__(self) -> tuple[type[LoadedSource], tuple[str, dict[str, BarSeries]]]:
        # Pickled without the `Bar`s a series has built (a replay here builds one per row it
        # reads, three times the columns' size): a worker builds its own.
        return LoadedSource, (self.name, {s: replace(v) for s, v in self._series.items()})


def kraken_window(timeframe: str, today: date) -> tuple[date, date]:
    """The default window of a Kraken arena: whole days, the last one being yesterday (today's
    candles are not all closed), as many as Kraken's OHLC endpoint still serves for the
    timeframe (720 candles), so that no trade history has to be paged; at least one day."""
    from trading.kraken.market_data import OHLC_LIMIT, timeframe_seconds

    # One day short of the full window: Kraken's oldest candle moves forward during the day.
    days = max(1, (OHLC_LIMIT - 1) * timeframe_seconds(timeframe) // 86_400 - 1)
    end = today - _DAY
    return end - timedelta(days=days - 1), end


def arena_catalog(
    config: ArenaConfig, data_files: Sequence[Path], kraken: KrakenAccess | None
) -> tuple[ArenaConfig, Catalog]:
    """The config (Kraken pairs under their unified names) and the catalog its run reads.
    `kraken` is needed only by a Kraken arena."""
    if config.source == "bundled":
        catalog = Catalog.default(list(data_files))
        _check_bundled(config, catalog, data_files)
        return config, catalog
    if data_files:
        raise ConfigError(
            "a Kraken arena reads no --data files: an arena's symbols come from one source; "
            f"drop --data {', '.join(str(f) for f in data_files)} or use source: bundled"
        )
    if kraken is None:
        raise ConfigError("a Kraken arena needs access to Kraken (its URL and candle cache)")
    return _kraken(config, kraken)


def _check_bundled(config: ArenaConfig, catalog: Catalog, data_files: Sequence[Path]) -> None:
    known = set(catalog.symbols())
    for symbol in config.symbols:
        if symbol.upper() in known:
            continue
        where = "the bundled data or the --data files" if data_files else "the bundled data"
        hint = (
            "; Kraken pairs need --source kraken (source: kraken), and then every symbol must "
            "be a Kraken pair"
            if "/" in symbol
            else ""
        )
        raise UnknownSymbolError(
            f"symbol {symbol!r} is not in {where} (available: {', '.join(sorted(known))}){hint}"
        )


def _kraken(config: ArenaConfig, access: KrakenAccess) -> tuple[ArenaConfig, Catalog]:
    from trading.kraken import CandleCache, KrakenClient, KrakenMarketData

    timeframe = config.timeframe or "1d"
    today = access.clock.now().astimezone(UTC).date()
    if config.end >= today:
        raise ConfigError(
            f"the window ends {config.end}, but on {today} (UTC) only the days up to "
            f"{today - _DAY} have all their {timeframe} candles closed; end on {today - _DAY} "
            "or earlier"
        )
    bundled = set(BundledSource().symbols())
    mixed = [s for s in config.symbols if s.upper() in bundled]
    if mixed:
        raise ConfigError(
            f"{', '.join(repr(s) for s in mixed)} {'is' if len(mixed) == 1 else 'are'} in the "
            "bundled data, not on Kraken: an arena's symbols come from one source; give only "
            "Kraken pairs (BTC/USD) with --source kraken, or drop --source kraken"
        )
    client = KrakenClient(base_url=access.url, rate_limit=access.rate_limit)
    cache = CandleCache.in_directory(access.cache_dir)
    try:
        # Every pair first ("Kraken has no pair ..."), so a bad one costs no candle request.
        symbols: list[str] = []
        for requested in config.symbols:
            symbol = client.pair(requested).symbol
            if symbol in symbols:
                raise ConfigError(f"{requested!r} names the pair {symbol} twice in symbols")
            symbols.append(symbol)
        market = KrakenMarketData(client, access.clock, cache)
        series = {s: _window(market, s, timeframe, config.start, config.end) for s in symbols}
    finally:
        client.close()
        cache.close()
    normalised = config.model_copy(update={"symbols": list(series)})
    return normalised, Catalog([LoadedSource("kraken", series)])


def _window(
    market: KrakenMarketData, symbol: str, timeframe: str, start: date, end: date
) -> BarSeries:
    """Every closed candle of [start, end], or an error saying which part Kraken lacks."""
    first = datetime.combine(start, time(), UTC)
    stop = datetime.combine(end + _DAY, time(), UTC)
    series = market.series(symbol, timeframe, first, stop)
    if len(series) == 0:
        raise ConfigError(
            f"Kraken has no {symbol} {timeframe} candles between {start} and {end}; pick a "
            "window in the pair's history"
        )
    step = series.timeframe
    if series.first_time > first:
        begins = series.first_time
        from_day = begins.date() if begins.time() == time() else begins.date() + _DAY
        raise ConfigError(
            f"Kraken's {symbol} {timeframe} history begins {begins.isoformat()}, after the "
            f"window's start {start}; start on {from_day} or later"
        )
    if series.last_time + step < stop:
        closed = series.last_time + step
        raise ConfigError(
            f"Kraken has committed {symbol} {timeframe} candles only up to {closed.isoformat()}, "
            f"short of the window's end {end}; end on {closed.date() - _DAY} or earlier, or "
            "try again later"
        )
    return series
