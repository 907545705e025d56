"""A Kraken spot REST API on loopback, speaking the wire format Kraken documents.

Public endpoints (`GET /0/public/...`): Time, Assets, AssetPairs, Ticker, Depth, OHLC and Trades.
Private endpoints (`POST /0/private/...`): Balance, BalanceEx, OpenOrders, ClosedOrders,
QueryOrders, AddOrder, CancelOrder, GetApiKeyInfo and WithdrawMethods. Every private request is
checked as Kraken specifies: `API-Sign` must equal
base64(HMAC-SHA512(base64decode(secret), uri_path + SHA256(nonce + postdata))), the nonce must
grow per key, and the key must hold the permission the endpoint needs; a failure answers with
Kraken's own error payload. Errors come back as HTTP 200 with `{"error": [...]}`, as Kraken
sends them.

Static answers are the JSON files in `tests/fixtures/kraken/`, named by endpoint. OHLC and
Trades are computed from a trade tape (`Tape`) at the fake's own `now`, the way Kraken does:
OHLC holds at most the 720 most recent entries, the last one still forming, and `last` names the
newest committed candle; Trades pages by a nanosecond `since`, at most 1000 trades a page.

Tests steer it with `script(endpoint, *faults)`: `Reply(fixture)` answers with that payload
without processing, `Drop()` processes the request and then closes the connection without a
reply (the order exists, the client saw nothing), `Garbled(body)` processes it and answers
with `body` as it is (cut short, empty, missing a field), `Hang()` holds the request until the
client times out. Every request is recorded in `requests`, and `observers[endpoint]` is called with
the parameters of each request as it arrives.

Permission names follow Kraken's GetApiKeyInfo (`query-funds`, `withdraw-funds`,
`query-open-trades`, `modify-trades` are the documented ones; the fake uses the same pattern for
the others).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.loopback import LoopbackServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kraken"
NS = 1_000_000_000
OHLC_LIMIT = 720
TRADES_LIMIT = 1000
TAKER_FEE = Decimal("0.0040")

FULL_TRADING = (
    "query-funds",
    "query-open-trades",
    "query-closed-trades",
    "modify-trades",
    "cancel-close-trades",
)
_NEEDS: dict[str, tuple[str, ...]] = {
    "Balance": ("query-funds",),
    "BalanceEx": ("query-funds",),
    "OpenOrders": ("query-open-trades",),
    "ClosedOrders": ("query-closed-trades",),
    "QueryOrders": ("query-open-trades",),
    "AddOrder": ("modify-trades",),
    "CancelOrder": ("cancel-close-trades",),
    "WithdrawMethods": ("query-funds", "withdraw-funds"),
    "GetApiKeyInfo": (),
}


def fixture(name: str) -> dict[str, Any]:
    """One recorded-style payload from tests/fixtures/kraken (a fresh copy each time)."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def make_secret(seed: str) -> str:
    """A Kraken-shaped secret: base64 of 64 bytes."""
    return base64.b64encode(hashlib.sha512(seed.encode()).digest()).decode()


@dataclass
class ApiKey:
    key: str
    secret: str
    permissions: tuple[str, ...] = FULL_TRADING
    name: str = "tradepit-test"
    last_nonce: int = 0


@dataclass(frozen=True)
class Reply:
    """Answer with this fixture (an error payload, usually) and do nothing else."""

    fixture: str


@dataclass(frozen=True)
class Drop:
    """Process the request, then close the connection without answering."""


@dataclass(frozen=True)
class Garbled:
    """Process the request, then answer with `body` verbatim (HTTP 200, JSON content type)."""

    body: str


@dataclass(frozen=True)
class Hang:
    """Hold the request unanswered (and unprocessed) until the client gives up."""


Fault = Reply | Drop | Garbled | Hang


@dataclass(frozen=True)
class Recorded:
    method: str
    endpoint: str
    params: dict[str, str]
    api_key: str | None
    outcome: str


@dataclass(frozen=True)
class Trade:
    ns: int
    price: Decimal
    volume: Decimal
    side: str
    trade_id: int


@dataclass
class Tape:
    """Public trades per pair id, oldest first."""

    trades: dict[str, list[Trade]] = field(default_factory=dict)

    @classmethod
    def synthetic(cls, pair: str, start: int, end: int, step_s: int, base: str = "30000.0") -> Tape:
        """One trade every `step_s` seconds in [start, end): a deterministic zig-zag price."""
        trades = []
        for k, second in enumerate(range(start, end, step_s)):
            price = Decimal(base) + Decimal(((k * 37) % 201) - 100) / 10 + Decimal(k // 50)
            side = "b" if k % 3 else "s"
            trades.append(Trade(second * NS, price, Decimal("0.01000000"), side, k + 1))
        return cls({pair: trades})


class FakeKraken(LoopbackServer):
    def __init__(self, now: int = 1_700_000_000, tape: Tape | None = None) -> None:
        self.now = now
        self.tape = tape or Tape()
        self.keys: dict[str, ApiKey] = {}
        self.requests: list[Recorded] = []
        self.errors: list[str] = []
        self.pairs: dict[str, dict[str, Any]] = fixture("public_AssetPairs")["result"]
        self.assets: dict[str, dict[str, Any]] = fixture("public_Assets")["result"]
        self.balances = {k: Decimal(v) for k, v in fixture("private_Balance")["result"].items()}
        self.orders: dict[str, dict[str, Any]] = {}
        self.load_orders("private_ClosedOrders", "closed")
        self.load_orders("private_OpenOrders", "open")
        self._faults: dict[str, deque[Fault]] = {}
        self.observers: dict[str, Callable[[dict[str, str]], None]] = {}
        self._txids = itertools.count(1)
        self._lock = threading.RLock()
        super().__init__(_Handler, poll_interval=0.02)

    # ---- set-up -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_key(self, key: str, secret: str, permissions: tuple[str, ...] = FULL_TRADING) -> ApiKey:
        api_key = self.keys[key] = ApiKey(key, secret, permissions)
        return api_key

    def load_orders(self, name: str, section: str) -> None:
        for txid, info in fixture(name)["result"][section].items():
            self.orders[txid] = info

    def script(self, endpoint: str, *faults: Fault) -> None:
        """Queue faults for the next requests to `endpoint` (e.g. "AddOrder", "OHLC")."""
        with self._lock:
            self._faults.setdefault(endpoint, deque()).extend(faults)

    def calls(self, endpoint: str) -> list[Recorded]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def open_orders(self) -> dict[str, dict[str, Any]]:
        return {t: o for t, o in self.orders.items() if o["status"] in ("open", "pending")}

    def fill(self, txid: str, volume: str | None = None, price: str | None = None) -> None:
        """Let (part of) a resting order trade, as the market would."""
        with self._lock:
            order = self.orders[txid]
            left = Decimal(order["vol"]) - Decimal(order["vol_exec"])
            amount = Decimal(volume) if volume is not None else left
            at = Decimal(price or order["descr"]["price"])
            self._execute(order, amount, at, Decimal("0.0025"))

    # ---- dispatch -----------------------------------------------------------------------------

    def next_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(endpoint)
            return queue.popleft() if queue else None

    def record(
        self, method: str, endpoint: str, params: dict[str, str], key: str | None, outcome: str
    ) -> None:
        with self._lock:
            self.requests.append(Recorded(method, endpoint, params, key, outcome))

    def authenticate(self, path: str, headers: Any, body: str, params: dict[str, str]) -> str:
        """The error code of a private request's credentials, or "" when they hold."""
        key = self.keys.get(headers.get("API-Key", ""))
        if key is None:
            return "error_invalid_key"
        nonce = params.get("nonce", "")
        if not nonce.isdigit():
            return "error_invalid_nonce"
        digest = hashlib.sha256((nonce + body).encode()).digest()
        mac = hmac.new(base64.b64decode(key.secret), path.encode() + digest, hashlib.sha512)
        expected = base64.b64encode(mac.digest()).decode()
        if not hmac.compare_digest(expected, headers.get("API-Sign", "")):
            return "error_invalid_signature"
        with self._lock:
            if int(nonce) <= key.last_nonce:
                return "error_invalid_nonce"
            key.last_nonce = int(nonce)
        endpoint = path.rsplit("/", 1)[-1]
        if any(p not in key.permissions for p in _NEEDS.get(endpoint, ())):
            return "error_permission_denied"
        return ""

    def handle(self, endpoint: str, params: dict[str, str], key: str | None) -> dict[str, Any]:
        handler = getattr(self, f"_ep_{endpoint}", None)
        if handler is None:
            return fixture("error_unknown_method")
        with self._lock:
            result: dict[str, Any] = handler(params, key)
            return result

    # ---- public endpoints ---------------------------------------------------------------------

    def _ep_Time(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        payload = fixture("public_Time")
        payload["result"] = {"unixtime": self.now, "rfc1123": formatdate(self.now, usegmt=True)}
        return payload

    def _ep_Assets(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        return fixture("public_Assets")

    def _ep_AssetPairs(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        payload = fixture("public_AssetPairs")
        if "pair" in params:
            wanted = [self._pair_id(p) for p in params["pair"].split(",")]
            if None in wanted:
                return fixture("error_unknown_asset_pair")
            payload["result"] = {p: payload["result"][p] for p in wanted if p}
        return payload

    def _ep_Ticker(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        return self._by_pair(fixture("public_Ticker"), params)

    def _ep_Depth(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        payload = self._by_pair(fixture("public_Depth"), params)
        count = int(params.get("count", 100))
        for book in payload.get("result", {}).values():
            book["asks"], book["bids"] = book["asks"][:count], book["bids"][:count]
        return payload

    def _ep_OHLC(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        pair = self._pair_id(params.get("pair", ""))
        if pair is None:
            return fixture("error_unknown_asset_pair")
        step = int(params.get("interval", 1)) * 60
        entries = self._candles(pair, step)[-OHLC_LIMIT:]
        committed = [e for e in entries if e[0] + step <= self.now]
        last = committed[-1][0] if committed else self.now // step * step - step
        since = int(params.get("since", 0))
        # Entries after `since`; the forming one is always there, whatever `since` says.
        shown = [e for e in entries if e[0] > since or e is entries[-1]]
        return {"error": [], "result": {pair: shown, "last": last}}

    def _ep_Trades(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        pair = self._pair_id(params.get("pair", ""))
        if pair is None:
            return fixture("error_unknown_asset_pair")
        since = int(params.get("since", 0))
        since = since * NS if since < 10**12 else since  # seconds or nanoseconds, as Kraken takes
        count = min(int(params.get("count", TRADES_LIMIT)), TRADES_LIMIT)
        visible = [t for t in self.tape.trades.get(pair, []) if since < t.ns <= self.now * NS]
        page = visible[:count]
        rows = [
            [f"{t.price:.5f}", f"{t.volume:.8f}", t.ns / NS, t.side, "l", "", t.trade_id]
            for t in page
        ]
        last = str(page[-1].ns) if page else str(since)
        return {"error": [], "result": {pair: rows, "last": last}}

    # ---- private endpoints --------------------------------------------------------------------

    def _ep_Balance(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        result = {}
        for asset, amount in self.balances.items():
            places = Decimal(1).scaleb(-int(self.assets[asset]["decimals"]))
            result[asset] = str(amount.quantize(places))
        return {"error": [], "result": result}

    def _ep_BalanceEx(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        plain = self._ep_Balance(params, key)["result"]
        held = {asset: Decimal(0) for asset in plain}
        for order in self.open_orders().values():
            pair = self.pairs[self._pair_id(order["descr"]["pair"]) or ""]
            left = Decimal(order["vol"]) - Decimal(order["vol_exec"])
            if order["descr"]["type"] == "buy":
                held[pair["quote"]] += left * Decimal(order["descr"]["price"])
            else:
                held[pair["base"]] += left
        result = {a: {"balance": v, "hold_trade": str(held[a])} for a, v in plain.items()}
        return {"error": [], "result": result}

    def _ep_OpenOrders(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        open_ = {t: o for t, o in self._matching(params).items() if o["status"] == "open"}
        return {"error": [], "result": {"open": open_}}

    def _ep_ClosedOrders(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        closed = {
            t: o
            for t, o in self._matching(params).items()
            if o["status"] in ("closed", "canceled", "expired")
            and o["opentm"] >= float(params.get("start", 0))
        }
        return {"error": [], "result": {"closed": closed, "count": len(closed)}}

    def _ep_QueryOrders(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        wanted = [t.strip() for t in params.get("txid", "").split(",") if t.strip()]
        if not wanted:
            return fixture("error_invalid_arguments")
        return {"error": [], "result": {t: self.orders[t] for t in wanted if t in self.orders}}

    def _ep_AddOrder(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        if "cl_ord_id" in params and "userref" in params:
            return fixture("error_invalid_arguments")
        pair_id = self._pair_id(params.get("pair", ""))
        if pair_id is None:
            return fixture("error_unknown_asset_pair")
        pair = self.pairs[pair_id]
        side, kind = params.get("type"), params.get("ordertype")
        if side not in ("buy", "sell") or kind not in ("market", "limit"):
            return fixture("error_invalid_arguments")
        volume = Decimal(params.get("volume", "0"))
        if volume < Decimal(pair["ordermin"]):
            return fixture("private_AddOrder_order_minimum")
        book = fixture("public_Ticker")["result"][pair_id]
        best = Decimal(book["a"][0] if side == "buy" else book["b"][0])
        limit = Decimal(params["price"]) if kind == "limit" else None
        reference = limit if limit is not None else best
        if side == "buy":
            needed = volume * reference * (1 + TAKER_FEE)
            short = needed > self.balances.get(pair["quote"], Decimal(0))
        else:
            short = volume > self.balances.get(pair["base"], Decimal(0))
        if short:
            return fixture("private_AddOrder_insufficient_funds")
        where = f"@ limit {limit}" if limit is not None else "@ market"
        description = f"{side} {volume:.8f} {pair['altname']} {where}"
        if params.get("validate") in ("true", "True", "1"):
            payload = fixture("private_AddOrder_validate")
            payload["result"]["descr"]["order"] = description
            return payload
        n = next(self._txids)
        txid = f"O{n:05d}-TPFAK-{n:06d}"
        # A new order starts from the recorded shape of an open one.
        order = fixture("private_OpenOrders_foreign")["result"]["open"]["OQCLML-BW3P3-BUCMWZ"]
        order.update(
            userref=int(params.get("userref", 0)),
            cl_ord_id=params.get("cl_ord_id"),
            opentm=float(self.now),
            vol=f"{volume:.8f}",
        )
        order["descr"].update(
            pair=pair["altname"],
            type=side,
            ordertype=kind,
            order=description,
            price=str(limit) if limit is not None else "0",
        )
        self.orders[txid] = order
        marketable = limit is None or (limit >= best if side == "buy" else limit <= best)
        if marketable:
            self._execute(order, volume, best, TAKER_FEE)
        payload = fixture("private_AddOrder")
        payload["result"] = {"descr": {"order": description}, "txid": [txid]}
        return payload

    def _ep_CancelOrder(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        target = params.get("txid") or params.get("cl_ord_id", "")
        for txid, order in self.orders.items():
            ids = {txid, str(order.get("userref")), order.get("cl_ord_id") or ""}
            if target in ids and order["status"] == "open":
                order.update(status="canceled", reason="User requested", closetm=float(self.now))
                return fixture("private_CancelOrder")
        return fixture("private_CancelOrder_unknown_order")

    def _ep_GetApiKeyInfo(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        api_key = self.keys[key or ""]
        payload = fixture("private_GetApiKeyInfo")
        payload["result"].update(
            apiKeyName=api_key.name,
            apiKey=api_key.key,
            nonce=str(api_key.last_nonce),
            permissions=list(api_key.permissions),
        )
        return payload

    def _ep_WithdrawMethods(self, params: dict[str, str], key: str | None) -> dict[str, Any]:
        return fixture("private_WithdrawMethods")

    # ---- helpers ------------------------------------------------------------------------------

    def _pair_id(self, name: str) -> str | None:
        for pair_id, info in self.pairs.items():
            if name in (pair_id, info["altname"], info["wsname"]):
                return pair_id
        return None

    def _by_pair(self, payload: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        names = params.get("pair", "").split(",")
        ids = [self._pair_id(n) for n in names]
        if None in ids:
            return fixture("error_unknown_asset_pair")
        payload["result"] = {i: payload["result"][i] for i in ids if i}
        return payload

    def _matching(self, params: dict[str, str]) -> dict[str, dict[str, Any]]:
        found = self.orders
        if "cl_ord_id" in params:
            found = {t: o for t, o in found.items() if o.get("cl_ord_id") == params["cl_ord_id"]}
        if "userref" in params:
            found = {t: o for t, o in found.items() if str(o.get("userref")) == params["userref"]}
        return found

    def _execute(
        self, order: dict[str, Any], volume: Decimal, price: Decimal, rate: Decimal
    ) -> None:
        pair = self.pairs[self._pair_id(order["descr"]["pair"]) or ""]
        cost = volume * price
        fee = (cost * rate).quantize(Decimal("0.00001"), ROUND_HALF_EVEN)
        executed = Decimal(order["vol_exec"]) + volume
        total_cost = Decimal(order["cost"]) + cost
        order.update(
            vol_exec=f"{executed:.8f}",
            cost=f"{total_cost:.5f}",
            fee=f"{Decimal(order['fee']) + fee:.5f}",
            price=f"{total_cost / executed:.5f}",
        )
        if executed == Decimal(order["vol"]):
            order.update(status="closed", closetm=float(self.now))
        sign = 1 if order["descr"]["type"] == "buy" else -1
        quote, base = pair["quote"], pair["base"]
        self.balances[base] = self.balances.get(base, Decimal(0)) + sign * volume
        self.balances[quote] = self.balances.get(quote, Decimal(0)) - sign * cost - fee

    def _candles(self, pair: str, step: int) -> list[list[Any]]:
        """Kraken OHLC rows from the tape: every interval from the first trade to the one
        forming now; an interval without trades repeats the last close with zero volume."""
        trades = [t for t in self.tape.trades.get(pair, []) if t.ns <= self.now * NS]
        if not trades:
            return []
        decimals = int(self.pairs[pair]["pair_decimals"])
        rows: list[list[Any]] = []
        buckets: dict[int, list[Trade]] = {}
        for t in trades:
            buckets.setdefault(t.ns // NS // step * step, []).append(t)
        close = trades[0].price
        for start in range(min(buckets), self.now // step * step + 1, step):
            group = buckets.get(start, [])
            if not group:
                flat = _fmt(close, decimals)
                rows.append(
                    [start, flat, flat, flat, flat, _fmt(Decimal(0), decimals), "0.00000000", 0]
                )
                continue
            prices = [t.price for t in group]
            volume = sum((t.volume for t in group), Decimal(0))
            vwap = sum((t.price * t.volume for t in group), Decimal(0)) / volume
            close = group[-1].price
            ohlc = (group[0].price, max(prices), min(prices), close, vwap)
            rows.append([start, *(_fmt(v, decimals) for v in ohlc), f"{volume:.8f}", len(group)])
        return rows


def _fmt(value: Decimal, decimals: int) -> str:
    return str(value.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_EVEN))


@contextmanager
def fake_kraken(now: int = 1_700_000_000, tape: Tape | None = None) -> Iterator[FakeKraken]:
    server = FakeKraken(now, tape).start()
    try:
        yield server
    finally:
        server.stop()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKraken
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        self._serve("GET", split.path, dict(parse_qsl(split.query)), "")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        split = urlsplit(self.path)
        if self.headers.get("Content-Type", "").startswith("application/json"):
            params = {k: _text(v) for k, v in (json.loads(body) if body else {}).items()}
        else:
            params = dict(parse_qsl(body, keep_blank_values=True))
        params.update(parse_qsl(split.query))
        self._serve("POST", split.path, params, body)

    def _serve(self, method: str, path: str, params: dict[str, str], body: str) -> None:
        fake = self.fake
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "0" or parts[1] not in ("public", "private"):
            fake.errors.append(f"unknown path {path}")
            self._send(404, fixture("error_unknown_method"))
            return
        scope, endpoint = parts[1], parts[2]
        key = None
        if scope == "private":
            if method != "POST":
                self._send(200, {"error": ["EGeneral:Invalid arguments"]})
                return
            key = self.headers.get("API-Key")
            refusal = fake.authenticate(path, self.headers, body, params)
            if refusal:
                fake.record(method, endpoint, params, key, refusal)
                self._send(200, fixture(refusal))
                return
        observer = fake.observers.get(endpoint)
        if observer is not None:
            observer(params)
        fault = fake.next_fault(endpoint)
        if isinstance(fault, Reply):
            fake.record(method, endpoint, params, key, fault.fixture)
            self._send(200, fixture(fault.fixture))
            return
        if isinstance(fault, Hang):
            fake.record(method, endpoint, params, key, "hung")
            fake.hang()
            self.close_connection = True
            return
        payload = fake.handle(endpoint, params, key)
        outcome = (
            type(fault).__name__.lower()
            if isinstance(fault, Drop | Garbled)
            else ("ok" if not payload["error"] else payload["error"][0])
        )
        fake.record(method, endpoint, params, key, outcome)
        if isinstance(fault, Drop):
            self.close_connection = True
            return
        if isinstance(fault, Garbled):
            self._send_bytes(200, fault.body.encode())
            return
        self._send(200, payload)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        self._send_bytes(status, json.dumps(payload).encode())

    def _send_bytes(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
