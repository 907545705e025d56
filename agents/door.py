"""The door every LLM request goes through, at the HTTP layer under the providers' SDKs.

Each provider is reached through its own SDK (`agents.models`), and every SDK takes an
`httpx` client; tradepit hands each one a client whose transport is a `RecordingTransport`,
like a cassette recorder. Here, and only here, for every provider alike:

- the request body is keyed (model reference, body, the run's seed): the key knows no
  provider's JSON, only that the SDK sends the same body for the same question;
- a replay answers from the run's recording and never reaches the network; a question the
  original never asked stops the replay (`ReplayMiss`);
- the budget is checked before each try;
- at most `Provider.max_in_flight` requests are in flight to one provider at once (a local
  server answers one at a time, so more only queue there and time out);
- each try is timed and noted (answered, error status, timed out, unreachable, cut at the
  turn's deadline) for the cost log, whatever the SDK then makes of it.

The `openai` SDK (and litellm) run on `httpx`, the `anthropic` SDK on its fork `httpx2`, which
takes none of httpx's objects: the door is one class over either module
(`recording_transport`), with a connection pool of each kind.

Why the transport and not a wrapper around agno's model: retries belong to the SDKs, which
read the providers' hints (`retry-after`, `retry-after-ms`, `x-should-retry`); only below them
is each try seen, abandoned ones included, and only there can a replay answer without a
socket. Token usage is not read here: the model layer (`agents.models`) takes it from agno's
parsed response (`response_usage`) once the SDK has read the answer, and commits the call.

A refusal made here (a replay miss, a spent budget) or a timeout on a local server is answered
to the SDK as an HTTP response with `x-should-retry: false`, the SDKs' own switch for "do not
try again": a local server may still be generating the abandoned answer, and another request
would queue behind it. The reason travels beside it, in the call's `CallScope`, and the model
layer raises it.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import httpx
import httpx2

from agents.llm_calls import BudgetExceeded, Recording, cache_key
from trading.errors import FatalError, TradepitError

if TYPE_CHECKING:
    from agents.gateway import LlmGateway
    from agents.providers import ModelRef

# Statuses tradepit answers the SDK with itself; both carry x-should-retry: false.
REFUSED: Final = 499  # refused here before any request left: the reason is in the scope
LOCAL_TIMEOUT: Final = 504  # a local server did not answer in time
_NO_RETRY = {"x-should-retry": "false", "content-type": "text/plain"}
# Headers that describe the bytes on the wire, not the decoded body handed on.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class ReplayMiss(FatalError):
    """A replay asked a question the original run never asked, so it cannot be answered
    without a real call: the data, the code or the agent's spec differs from the original."""


@dataclass(slots=True)
class Try:
    """One try of a call as the transport saw it."""

    kind: str  # answer (a response, error statuses included), timeout, unreachable, cut
    latency_s: float
    status: int = 0
    body: bytes = b""
    detail: str = ""


@dataclass(slots=True)
class CallScope:
    """One model call (one SDK request, with the SDK's retries), opened by the model layer."""

    ref: ModelRef
    timeout_s: float
    key: str | None = None
    occurrence: int = 0
    tries: list[Try] = field(default_factory=list)
    replayed: Recording | None = None  # answered from a recording
    stop: TradepitError | None = None  # why the door refused the call


current_call: ContextVar[CallScope | None] = ContextVar("tradepit_call", default=None)


class _Recording:
    """The transport of one model's SDK client, for one run's gateway (see the module)."""

    http: Any  # httpx or httpx2

    def __init__(self, gateway: LlmGateway, ref: ModelRef) -> None:
        self.gateway = gateway
        self.ref = ref

    async def handle_async_request(self, request: Any) -> Any:
        scope = current_call.get()
        if scope is None or scope.ref is not self.ref:
            raise FatalError(f"a request to {self.ref.reference} outside the gateway's door")
        gateway = self.gateway
        if scope.key is None:  # the first try; the SDK's retries send the same body
            scope.key = self._key(request)
            scope.occurrence = gateway.next_occurrence(scope.key)
            recorded = gateway.recorded(scope.key, scope.occurrence)
            if recorded is not None:
                scope.replayed = recorded
                return self._replayed(recorded, request)
            if gateway.replay:
                scope.stop = ReplayMiss(
                    f"replay of run {gateway.answers_from!r}: {self.ref.reference} was asked "
                    f"something the original run never asked (cache key {scope.key[:12]}); the "
                    "data, code or spec differs"
                )
                return _refusal(self.http, request)
        try:
            gateway.budget.ensure_room()
        except BudgetExceeded as spent:
            scope.stop = spent
            return _refusal(self.http, request)
        async with gateway.slot(self.ref.provider.base_url, self.ref.provider.max_in_flight):
            return await self._send(scope, request)

    async def _send(self, scope: CallScope, request: Any) -> Any:
        timer = self.gateway.timer
        started = timer()
        try:
            async with asyncio.timeout(scope.timeout_s):
                response = await _inner(self.http).handle_async_request(request)
                body = await response.aread()
        except (TimeoutError, self.http.TimeoutException):
            scope.tries.append(Try("timeout", timer() - started))
            if self.ref.provider.local:
                return _no_retry(self.http, LOCAL_TIMEOUT, request)
            timed_out = f"no answer within {scope.timeout_s:g} s"
            raise self.http.ReadTimeout(timed_out, request=request) from None
        except self.http.TransportError as error:
            where = f"{request.url.host}:{request.url.port or ''}".rstrip(":")
            detail = f"{where}: {_one_line(error)}"
            scope.tries.append(Try("unreachable", timer() - started, detail=detail))
            raise
        except asyncio.CancelledError:
            scope.tries.append(Try("cut", timer() - started))
            raise
        finally:
            if "response" in locals():
                await response.aclose()
        status = response.status_code
        scope.tries.append(Try("answer", timer() - started, status, body))
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _WIRE_HEADERS]
        return self.http.Response(status, headers=headers, content=body, request=request)

    def _replayed(self, recorded: Recording, request: Any) -> Any:
        """What the recorded call's last try saw, again."""
        if recorded.kind == "answer":
            headers = {"content-type": "application/json", "x-should-retry": "false"}
            return self.http.Response(
                recorded.status, headers=headers, content=recorded.body, request=request
            )
        if recorded.kind == "timeout" and self.ref.provider.local:
            return _no_retry(self.http, LOCAL_TIMEOUT, request)
        if recorded.kind == "timeout":
            raise self.http.ReadTimeout(recorded.detail or "timed out", request=request)
        raise self.http.ConnectError(recorded.detail or "unreachable", request=request)

    def _key(self, request: Any) -> str:
        try:
            body = json.loads(request.content)
        except ValueError:
            body = request.content.decode(errors="replace")
        params = {"seed": self.gateway.seed, "path": request.url.path}
        return cache_key(self.ref.reference, [body], (), params)


class _HttpxRecording(_Recording, httpx.AsyncBaseTransport):
    http = httpx


class _Httpx2Recording(_Recording, httpx2.AsyncBaseTransport):
    http = httpx2


def recording_transport(gateway: LlmGateway, ref: ModelRef, http: Any = httpx) -> Any:
    """The door for one model of one run, as a transport of `http` (httpx or httpx2)."""
    kind = _Httpx2Recording if http is httpx2 else _HttpxRecording
    return kind(gateway, ref)


def _refusal(http: Any, request: Any) -> Any:
    return _no_retry(http, REFUSED, request)


def _no_retry(http: Any, status: int, request: Any) -> Any:
    return http.Response(status, headers=_NO_RETRY, content=b"tradepit", request=request)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    cause = error.__cause__ or error.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({' '.join(str(cause).split())})".strip()
    return text or type(error).__name__


# One connection pool per event loop: its sockets belong to the loop they were opened on, and
# the weak key lets a forgotten loop take its pool with it.
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)
# Per event loop, per provider URL: the requests allowed in flight at once.
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _inner(http: Any) -> Any:
    pools = _pools.setdefault(asyncio.get_running_loop(), {})
    pool = pools.get(http.__name__)
    if pool is None:
        limits = http.Limits(max_connections=None, max_keepalive_connections=64)
        pool = pools[http.__name__] = http.AsyncHTTPTransport(limits=limits)
    return pool


def provider_slot(base_url: str, limit: int) -> asyncio.Semaphore:
    slots = _slots.setdefault(asyncio.get_running_loop(), {})
    slot = slots.get(base_url)
    if slot is None:
        slot = slots[base_url] = asyncio.Semaphore(limit)
    return slot


async def close_model_clients() -> None:
    """Close the connections kept for the running event loop. Call it before the loop ends:
    they stay open across calls, and once their loop is gone nothing can close their sockets
    but the garbage collector, which warns about each one."""
    loop = asyncio.get_running_loop()
    _slots.pop(loop, None)
    for pool in _pools.pop(loop, {}).values():
        await pool.aclose()
