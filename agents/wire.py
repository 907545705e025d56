"""How one request reaches a provider, by the provider's wire protocol.

The gateway speaks OpenAI chat completions (the shape agno's LiteLLM model sends and reads) and
hands each request to a wire:

- `OpenAIWire` for every OpenAI-compatible server (openai, groq, deepseek, xai, openrouter,
  vLLM, LM Studio): the body goes as it is.
- `AnthropicWire` for Anthropic: the body is translated to Anthropic messages and the answer
  back (`agents.anthropic_format`).
- `LiteLLMWire` for Gemini and Ollama, which litellm translates.

The first two post the JSON body with aiohttp themselves. Through litellm a call cost about
12 ms of CPU here (its own pricing and logging), through the providers' SDKs about 2 ms (their
httpx layers), and with aiohttp alone under 1 ms (bench/agent_overhead.py): agents run many
calls on one event loop, and all these two protocols need on top of HTTP is an auth header,
a version header and the error statuses.

Every wire answers with OpenAI chat-completion JSON, and tells a failure worth retrying (rate
limit, timeout, lost connection, server error) from one that is not (a bad key, a bad request).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import warnings
import weakref
from abc import ABC, abstractmethod
from typing import Any, Protocol

from agents.anthropic_format import anthropic_request, openai_response
from agents.providers import ModelRef
from trading.redaction import redact

# litellm's TypedDicts trip this pydantic warning, worded "Item ... is" or "Items ... are".
LITELLM_TYPES_WARNING = r"Items? .* using the `ReadOnly` qualifier"
# Statuses worth another try besides every 5xx (529 "overloaded" among them): request timeout,
# lock conflict, rate limit; the providers' own SDKs retry the same ones.
_RETRYABLE_STATUSES = frozenset({408, 409, 429})
ANTHROPIC_VERSION = "2023-06-01"  # the messages API version these requests are written for


class Wire(Protocol):
    async def send(self, ref: ModelRef, request: dict[str, Any], timeout_s: float) -> Any:
        """The provider's answer as OpenAI chat-completion JSON."""

    def retryable(self, error: Exception) -> bool:
        """Whether another try of the same model may succeed."""

    def retry_after(self, error: Exception) -> float | None:
        """The provider's Retry-After in seconds, where it sent one."""


def wire_for(ref: ModelRef) -> Wire:
    return _WIRES.get(ref.provider.protocol, _LITELLM)


def litellm_module() -> Any:
    """litellm, imported without its network price-map fetch and its console banner."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # litellm's own types trip a pydantic warning on first use; it says nothing to a user.
    warnings.filterwarnings("ignore", message=LITELLM_TYPES_WARNING, category=UserWarning)
    import litellm

    litellm.suppress_debug_info = True
    return litellm


async def close_model_clients() -> None:
    """Close the HTTP sessions kept for the running event loop. Call it before the loop ends:
    they stay open across calls, and once their loop is gone nothing can close their sockets
    but the garbage collector, which warns about each one."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()
    if "litellm" in sys.modules:  # nothing to close where litellm was never loaded
        await litellm_module().close_litellm_async_clients()


# One aiohttp session per event loop: its connection pool belongs to the loop it was opened on,
# and the weak key lets a forgotten loop take its session with it.
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


class ProviderHttpError(Exception):
    """The provider answered with an error status."""

    def __init__(self, status: int, reason: str, message: str, retry_after: str | None) -> None:
        super().__init__(f"HTTP {status} {reason}: {message}".rstrip(": "))
        self.status = status
        self.retry_after = _seconds(retry_after)


class ProviderUnreachable(Exception):
    """No answer: the connection failed or dropped, or the timeout passed."""


class ProviderBadAnswer(Exception):
    """An answer that is not a JSON object."""


class _HttpWire(ABC):
    """A protocol spoken over aiohttp: each names its path, its headers and its body."""

    path: str

    def url(self, ref: ModelRef) -> str:
        return ref.provider.base_url.rstrip("/") + self.path

    @abstractmethod
    def headers(self, ref: ModelRef) -> dict[str, str]:
        """Authentication (and version) headers."""

    @abstractmethod
    def body(self, ref: ModelRef, request: dict[str, Any]) -> dict[str, Any]:
        """The gateway's OpenAI-shaped request as this protocol's JSON body."""

    def answer(self, payload: dict[str, Any]) -> Any:
        return payload

    async def send(self, ref: ModelRef, request: dict[str, Any], timeout_s: float) -> Any:
        import aiohttp  # loaded with the first call, not at start-up

        data = json.dumps(self.body(ref, request)).encode()
        headers = {"Content-Type": "application/json", **self.headers(ref)}
        try:
            async with _session().post(
                self.url(ref),
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                text = await response.text()
                if response.status >= 400:
                    raise ProviderHttpError(
                        response.status,
                        response.reason or "",
                        _error_message(text),
                        response.headers.get("retry-after"),
                    )
        except TimeoutError:
            raise ProviderUnreachable(f"no answer within {timeout_s:g} s") from None
        except aiohttp.ClientError as error:
            raise ProviderUnreachable(f"{type(error).__name__}: {error}") from None
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ProviderBadAnswer(f"the answer is not a JSON object: {text[:200]!r}")
        return self.answer(payload)

    def retryable(self, error: Exception) -> bool:
        if isinstance(error, ProviderHttpError):
            return error.status in _RETRYABLE_STATUSES or error.status >= 500
        return isinstance(error, ProviderUnreachable)

    def retry_after(self, error: Exception) -> float | None:
        return error.retry_after if isinstance(error, ProviderHttpError) else None


class OpenAIWire(_HttpWire):
    path = "/chat/completions"

    def headers(self, ref: ModelRef) -> dict[str, str]:
        return {"Authorization": f"Bearer {ref.provider.api_key() or 'none'}"}

    def body(self, ref: ModelRef, request: dict[str, Any]) -> dict[str, Any]:
        body = {key: value for key, value in request.items() if key != "drop_params"}
        body["model"] = ref.model
        if ref.info.reasoning:
            # OpenAI's reasoning models refuse max_tokens and any temperature but the default.
            body.pop("temperature", None)
            if "max_tokens" in body:
                body["max_completion_tokens"] = body.pop("max_tokens")
        return body


class AnthropicWire(_HttpWire):
    path = "/v1/messages"

    def headers(self, ref: ModelRef) -> dict[str, str]:
        return {
            "x-api-key": ref.provider.api_key() or "none",
            "anthropic-version": ANTHROPIC_VERSION,
        }

    def body(self, ref: ModelRef, request: dict[str, Any]) -> dict[str, Any]:
        return anthropic_request(ref.model, request)

    def answer(self, payload: dict[str, Any]) -> Any:
        return openai_response(payload)


class LiteLLMWire:
    async def send(self, ref: ModelRef, request: dict[str, Any], timeout_s: float) -> Any:
        response = await litellm_module().acompletion(
            **request,
            model=ref.litellm_model,
            api_base=ref.provider.base_url,
            api_key=ref.provider.api_key() or "none",
            timeout=timeout_s,
            num_retries=0,  # retries are the gateway's
        )
        return response.model_dump(mode="json")

    def retryable(self, error: Exception) -> bool:
        litellm = litellm_module()
        return isinstance(
            error,
            (
                litellm.RateLimitError,
                litellm.Timeout,
                litellm.APIConnectionError,
                litellm.InternalServerError,
                litellm.ServiceUnavailableError,
                litellm.BadGatewayError,
            ),
        )

    def retry_after(self, error: Exception) -> float | None:
        headers = getattr(error, "litellm_response_headers", None) or {}
        return _seconds(headers.get("retry-after"))


def failure_text(error: Exception, ref: ModelRef) -> str:
    """What went wrong, on one line, with the cause beneath where there is one (litellm's
    messages, "Connection error.", say little; the transport's cause names the host and the
    reason), and the provider's key never in it, in any form it may be echoed in."""
    text = " ".join(str(error).split())
    cause = error.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({' '.join(str(cause).split())})"
    # Object reprs say nothing to a person: aiohttp's "ssl:<ssl.SSLContext object at 0x7f...>".
    text = _OBJECT_REPR.sub("", text)
    return redact(text, [ref.provider.api_key()])


_OBJECT_REPR = re.compile(r"\s*(?:\w+:)?<[^<>]* object at 0x[0-9a-fA-F]+>")


def _session() -> Any:
    import aiohttp

    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = _sessions[loop] = aiohttp.ClientSession()
    return session


def _error_message(text: str) -> str:
    """The message of an error answer: both protocols put it in {"error": {"message": ...}}."""
    try:
        found = json.loads(text)["error"]
        return str(found["message"] if isinstance(found, dict) else found)
    except (ValueError, KeyError, TypeError):
        return " ".join(text.split())[:200]


def _seconds(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_LITELLM = LiteLLMWire()
_WIRES: dict[str, Wire] = {"openai": OpenAIWire(), "anthropic": AnthropicWire()}
