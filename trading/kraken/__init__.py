"""Kraken through ccxt: live market data (public, no key), paper fills on Kraken's live book,
and a validate-only-by-default executor that never sends an order twice.

    client       ccxt underneath: signing, retries, errors mapped, pairs as exact decimals
    market_data  ticker, order book, OHLCV past the 720-candle window, a catalog source and
                 a catalog that grows as bars close (`kraken_catalog`)
    cache        closed candles on disk, so repeated runs do not refetch them
    book         quotes, order books and walking the book
    paper_live   paper trading on the live book with Kraken's fees
    executor     KrakenExecutor: client order ids journalled first, unknown orders resolved by
                 query, reconcile before trading
    store        the order journal
    bookkeeping  a run's orders and balances at Kraken: preflight, reconcile on resume
    check        `check_keys`: present, valid, and unable to withdraw
"""

from trading.kraken.book import BookLevel, BookWalk, OrderBook, Quote, walk_book
from trading.kraken.cache import Candle, CandleCache
from trading.kraken.check import KeyCheck, check_keys
from trading.kraken.client import (
    DEFAULT_URL,
    URL_ENV,
    KrakenClient,
    Pair,
    RetryPolicy,
    base_url_from_env,
)
from trading.kraken.credentials import KEY_ENV, SECRET_ENV, KrakenCredentials
from trading.kraken.errors import (
    KrakenAuthError,
    KrakenError,
    KrakenInsufficientFunds,
    KrakenInvalidOrder,
    KrakenPermissionError,
    KrakenRateLimited,
    KrakenRejected,
    KrakenUnreachable,
    KrakenUnreadable,
    ReconcileError,
    VenueAnswerError,
)
from trading.kraken.executor import (
    Booked,
    KrakenExecutor,
    LookupGrace,
    ReconcileReport,
    client_order_id,
)
from trading.kraken.market_data import (
    TIMEFRAMES,
    KrakenMarketData,
    KrakenSource,
    LiveCatalog,
    kraken_catalog,
    timeframe_seconds,
)
from trading.kraken.paper_live import BookPaperExecutor, kraken_costs
from trading.kraken.store import Journal, OrderJournal

__all__ = [
    "DEFAULT_URL",
    "KEY_ENV",
    "SECRET_ENV",
    "TIMEFRAMES",
    "URL_ENV",
    "BookLevel",
    "BookPaperExecutor",
    "BookWalk",
    "Booked",
    "Candle",
    "CandleCache",
    "Journal",
    "KeyCheck",
    "KrakenAuthError",
    "KrakenClient",
    "KrakenCredentials",
    "KrakenError",
    "KrakenExecutor",
    "KrakenInsufficientFunds",
    "KrakenInvalidOrder",
    "KrakenMarketData",
    "KrakenPermissionError",
    "KrakenRateLimited",
    "KrakenRejected",
    "KrakenSource",
    "KrakenUnreachable",
    "KrakenUnreadable",
    "LiveCatalog",
    "LookupGrace",
    "OrderBook",
    "OrderJournal",
    "Pair",
    "Quote",
    "ReconcileError",
    "ReconcileReport",
    "RetryPolicy",
    "VenueAnswerError",
    "base_url_from_env",
    "check_keys",
    "client_order_id",
    "kraken_catalog",
    "kraken_costs",
    "timeframe_seconds",
    "walk_book",
]
