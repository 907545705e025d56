"""Kraken's REST API through ccxt.

ccxt signs every private request (nonce, `API-Sign`), throttles, speaks HTTP and classifies
Kraken's error strings; this client asks it for Kraken's own payloads (`exchange.request`) and
reads them as exact decimals, since ccxt's parsed numbers are floats. Every ccxt error becomes
one of `trading.kraken.errors` here, with secrets scrubbed from its message.

An answer that cannot be read (cut short, empty) is `KrakenUnreadable`, a lost answer.
Reads retry with exponential backoff on rate limits, nonce refusals and lost answers, waiting
through an injected `sleep`; `private(..., retry=False)` is for what must never be resent (an
order). Only the base URL differs between Kraken and the loopback fake the tests run against.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from trading.domain import Instrument
from trading.errors import UnknownSymbolError
from trading.kraken.credentials import KrakenCredentials, WireLog, redact
from trading.kraken.errors import (
    KrakenAuthError,
    KrakenError,
    KrakenInsufficientFunds,
    KrakenInvalidOrder,
    KrakenNonceRejected,
    KrakenPermissionError,
    KrakenRateLimited,
    KrakenRejected,
    KrakenUnreachable,
    KrakenUnreadable,
)

if TYPE_CHECKING:
    import ccxt

DEFAULT_URL: Final = "https://api.kraken.com"
URL_ENV: Final = "TRADEPIT_KRAKEN_URL"
_AUTH_CODES: Final = ("EAPI:Invalid key", "EAPI:Invalid signature")
_RETRYABLE: Final = (KrakenRateLimited, KrakenNonceRejected, KrakenUnreachable)
_EXCERPT: Final = 80  # characters of an unreadable answer quoted in its error


def base_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """$TRADEPIT_KRAKEN_URL (a test server, a proxy) or Kraken's own API."""
    env = os.environ if environ is None else environ
    return env.get(URL_ENV, "").strip().rstrip("/") or DEFAULT_URL


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How reads wait between attempts: first_delay_s, doubling up to max_delay_s."""

    attempts: int = 5
    first_delay_s: float = 1.0
    max_delay_s: float = 16.0

    def delays(self) -> Iterator[float]:
        delay = self.first_delay_s
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_delay_s)


@dataclass(frozen=True, slots=True)
class Pair:
    """One Kraken spot pair as tradepit uses it; `symbol` is the unified "BTC/USD"."""

    symbol: str
    id: str
    altname: str
    base: str
    quote: str
    base_asset: str
    quote_asset: str
    price_decimals: int
    price_increment: Decimal
    quantity_increment: Decimal
    minimum_quantity: Decimal
    minimum_cost: Decimal
    taker_fee_bps: Decimal | None
    maker_fee_bps: Decimal | None

    def instrument(self) -> Instrument:
        return Instrument(
            self.symbol,
            quote_currency=self.quote,
            quantity_increment=self.quantity_increment,
            price_increment=self.price_increment,
        )


class KrakenClient:
    def __init__(
        self,
        *,
        base_url: str = DEFAULT_URL,
        credentials: KrakenCredentials | None = None,
        timeout_s: float = 10.0,
        rate_limit: bool = True,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        config: dict[str, Any] = {"enableRateLimit": rate_limit, "timeout": int(timeout_s * 1000)}
        if credentials is not None:
            config["apiKey"] = credentials.api_key.get_secret_value()
            config["secret"] = credentials.api_secret.get_secret_value()
        # ccxt loads with the first client: it takes most of a second to import, which every
        # `tradepit` command (its --help included) would pay otherwise.
        import ccxt

        self._ccxt = ccxt
        self._exchange = ccxt.kraken(config)
        self._exchange.logger = WireLog(credentials)
        api = dict(self._exchange.urls["api"])
        api.update(public=self.base_url, private=self.base_url)
        self._exchange.urls["api"] = api
        self._pairs: dict[str, Pair] | None = None

    def __repr__(self) -> str:
        keys = "with keys" if self.credentials else "without keys"
        return f"KrakenClient({self.base_url!r}, {keys})"

    @property
    def has_credentials(self) -> bool:
        return self.credentials is not None

    def close(self) -> None:
        session = getattr(self._exchange, "session", None)
        if session is not None:
            session.close()

    # ---- requests -----------------------------------------------------------------------------

    def public(self, endpoint: str, params: Mapping[str, str] | None = None) -> Any:
        """The `result` of a public endpoint, retried on rate limits and lost answers."""
        return self._retrying(lambda: self._call("public", endpoint, params))

    def private(
        self, endpoint: str, params: Mapping[str, str] | None = None, *, retry: bool = True
    ) -> Any:
        """The `result` of a private endpoint. `retry=False` sends exactly once."""
        if not retry:
            return self._call("private", endpoint, params)
        return self._retrying(lambda: self._call("private", endpoint, params))

    def _retrying(self, call: Callable[[], Any]) -> Any:
        delays = self.retry.delays()
        while True:
            try:
                return call()
            except _RETRYABLE:
                delay = next(delays, None)
                if delay is None:
                    raise
                self._sleep(delay)

    def _call(self, scope: str, endpoint: str, params: Mapping[str, str] | None) -> Any:
        method = "GET" if scope == "public" else "POST"
        try:
            response = self._exchange.request(endpoint, [scope], method, dict(params or {}))
        except self._ccxt.BaseError as error:
            raise self._mapped(endpoint, error) from None
        # ccxt hands back the raw text of a body it cannot parse (cut short, empty): Kraken
        # always answers an object with a "result", so anything else went wrong on the way.
        if not isinstance(response, dict) or "result" not in response:
            said = repr(response)[:_EXCERPT]
            raise KrakenUnreadable(
                redact(
                    f"Kraken {endpoint}: an answer that cannot be read: {said}", self.credentials
                )
            )
        return response["result"]

    def _mapped(self, endpoint: str, error: ccxt.BaseError) -> KrakenError:
        """Kraken's codes and tradepit's class for a ccxt error. `from None` above drops the
        ccxt chain, whose messages we did not write."""
        ccxt = self._ccxt
        codes = _kraken_codes(str(error))
        said = ", ".join(codes) if codes else type(error).__name__
        message = redact(f"Kraken {endpoint}: {said}", self.credentials)
        if isinstance(error, ccxt.PermissionDenied):
            return KrakenPermissionError(message, codes)
        if isinstance(error, ccxt.AuthenticationError) or any(c in _AUTH_CODES for c in codes):
            return KrakenAuthError(message, codes)
        if isinstance(error, ccxt.InsufficientFunds):
            return KrakenInsufficientFunds(message, codes)
        if isinstance(error, ccxt.InvalidOrder):
            return KrakenInvalidOrder(message, codes)
        if isinstance(error, ccxt.DDoSProtection):  # rate limits and temporary lock-outs
            return KrakenRateLimited(message, codes)
        if isinstance(error, ccxt.InvalidNonce):
            return KrakenNonceRejected(message, codes)
        if isinstance(error, ccxt.NetworkError):  # timeouts, lost connections, unavailable
            if not codes:  # ccxt says only "kraken GET URL": the transport knows why
                host = urlsplit(self.base_url).netloc
                message = f"Kraken {endpoint}: could not reach {host}: {_network_reason(error)}"
            return KrakenUnreachable(message, codes)
        return KrakenRejected(message, codes)

    # ---- markets ------------------------------------------------------------------------------

    def pair(self, symbol: str) -> Pair:
        """A pair by unified symbol ("BTC/USD"), Kraken id ("XXBTZUSD") or altname ("XBTUSD")."""
        pairs = self.pairs()
        found = pairs.get(symbol.upper())
        if found is None:
            sample = ", ".join(sorted({p.symbol for p in pairs.values()})[:8])
            raise UnknownSymbolError(f"Kraken has no pair {symbol!r}; some it has: {sample}")
        return found

    def pairs(self) -> dict[str, Pair]:
        """Every pair, under its symbol, id and altname (loaded once)."""
        if self._pairs is None:
            self._retrying(self._load_markets)
            pairs: dict[str, Pair] = {}
            for market in self._exchange.markets.values():
                pair = _pair(market)
                for name in (pair.symbol, pair.id, pair.altname):
                    pairs[name.upper()] = pair
            self._pairs = pairs
        return self._pairs

    def _load_markets(self) -> None:
        try:
            self._exchange.load_markets()
        except self._ccxt.BaseError as error:
            raise self._mapped("AssetPairs", error) from None

    def asset_code(self, kraken_asset: str) -> str:
        """The unified code of a Kraken asset id: XXBT -> BTC, ZUSD -> USD."""
        return str(self._exchange.safe_currency_code(kraken_asset))


def _pair(market: Mapping[str, Any]) -> Pair:
    info = market["info"]
    price_decimals = int(info["pair_decimals"])
    tick = info.get("tick_size")
    return Pair(
        symbol=str(market["symbol"]),
        id=str(market["id"]),
        altname=str(info["altname"]),
        base=str(market["base"]),
        quote=str(market["quote"]),
        base_asset=str(info["base"]),
        quote_asset=str(info["quote"]),
        price_decimals=price_decimals,
        price_increment=Decimal(str(tick)) if tick else Decimal(1).scaleb(-price_decimals),
        quantity_increment=Decimal(1).scaleb(-int(info["lot_decimals"])),
        minimum_quantity=Decimal(str(info.get("ordermin") or 0)),
        minimum_cost=Decimal(str(info.get("costmin") or 0)),
        taker_fee_bps=_first_tier_bps(info.get("fees")),
        maker_fee_bps=_first_tier_bps(info.get("fees_maker")),
    )


def _first_tier_bps(tiers: Any) -> Decimal | None:
    """Kraken lists fees as [[volume, percent], ...]; the first tier in basis points."""
    if not tiers:
        return None
    return Decimal(repr(tiers[0][1])) * 100


def _kraken_codes(message: str) -> tuple[str, ...]:
    """Kraken's error strings in a ccxt message ("kraken {"error": [...]}")."""
    start = message.find("{")
    if start < 0:
        return ()
    try:
        body = json.loads(message[start:])
    except ValueError:
        return ()
    errors = body.get("error") if isinstance(body, dict) else None
    if isinstance(errors, str):
        return (errors,)
    return tuple(str(e) for e in errors) if isinstance(errors, list) else ()


def _network_reason(error: BaseException) -> str:
    """Why a request reached no answer, from the transport's exceptions beneath ccxt's (the
    operating system's words where it gave any: "Name or service not known", "Connection
    refused"), else the innermost exception's name."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 16:
        chain.append(current)
        current = current.__cause__ or current.__context__
    text = " ".join(str(e) for e in chain)
    said = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if said:
        return said.group(1).strip()
    if any(isinstance(e, TimeoutError) or "timed out" in str(e).lower() for e in chain):
        return "no answer in time"
    return type(chain[-1]).__name__
