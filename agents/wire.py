"""How one request reaches a provider, by the provider's wire protocol.

The gateway speaks OpenAI chat completions (the shape agno's LiteLLM model sends and reads) and
hands each request to a wire:

- `OpenAIWire` for every OpenAI-compatible server (openai, groq, deepseek, xai, openrouter,
  vLLM, LM Studio): the body goes as it is, through the openai SDK's client. The SDK's typed
  request builder is skipped (`post(..., cast_to=httpx.Response)`): it validates every message
  against its TypedDicts, which with litellm's bookkeeping made a call cost 12 ms of CPU here
  against 2 ms for the SDK's plain POST (bench/agent_overhead.py).
- `LiteLLMWire` for the protocols that need translating (Anthropic messages, Gemini, Ollama),
  which litellm does well and we do not write by hand.

Both answer with the response as OpenAI chat-completion JSON, and both tell a failure worth
retrying (rate limit, timeout, lost connection, server error) from one that is not (a bad key,
a bad request).
"""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
import weakref
from typing import Any, Protocol

import httpx

from agents.providers import ModelRef

# litellm's TypedDicts trip this pydantic warning, worded "Item ... is" or "Items ... are".
LITELLM_TYPES_WARNING = r"Items? .* using the `ReadOnly` qualifier"
# The statuses the openai SDK itself retries: timeout, lock conflict, rate limit, server error.
_RETRYABLE_STATUSES = frozenset({408, 409, 429})


class Wire(Protocol):
    async def send(self, ref: ModelRef, request: dict[str, Any], timeout_s: float) -> Any:
        """The provider's answer as OpenAI chat-completion JSON."""

    def retryable(self, error: Exception) -> bool:
        """Whether another try of the same model may succeed."""

    def retry_after(self, error: Exception) -> float | None:
        """The provider's Retry-After in seconds, where it sent one."""


def wire_for(ref: ModelRef) -> Wire:
    return _OPENAI if ref.provider.protocol == "openai" else _LITELLM


def litellm_module() -> Any:
    """litellm, imported without its network price-map fetch and its console banner."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # litellm's own types trip a pydantic warning on first use; it says nothing to a user.
    warnings.filterwarnings("ignore", message=LITELLM_TYPES_WARNING, category=UserWarning)
    import litellm

    litellm.suppress_debug_info = True
    return litellm


async def close_model_clients() -> None:
    """Close the HTTP clients kept for the running event loop. Call it before the loop ends:
    they stay open across calls, and once their loop is gone nothing can close their sockets
    but the garbage collector, which warns about each one."""
    clients = _openai_clients.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.close()
    if "litellm" in sys.modules:  # nothing to close where litellm was never loaded
        await litellm_module().close_litellm_async_clients()


# One openai client per (event loop, base URL, key): a client's connection pool belongs to the
# loop it was opened on, and the weak key lets a forgotten loop take its clients with it.
_openai_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Any]] = (
    weakref.WeakKeyDictionary()
)


class OpenAIWire:
    async def send(self, ref: ModelRef, request: dict[str, Any], timeout_s: float) -> Any:
        body = {key: value for key, value in request.items() if key != "drop_params"}
        body["model"] = ref.model
        if ref.info.reasoning:
            # OpenAI's reasoning models refuse max_tokens and any temperature but the default.
            body.pop("temperature", None)
            if "max_tokens" in body:
                body["max_completion_tokens"] = body.pop("max_tokens")
        response = await self._client(ref).post(
            "/chat/completions", body=body, cast_to=httpx.Response, options={"timeout": timeout_s}
        )
        return response.json()

    def retryable(self, error: Exception) -> bool:
        import openai

        if isinstance(error, openai.APIStatusError):
            return error.status_code in _RETRYABLE_STATUSES or error.status_code >= 500
        return isinstance(error, openai.APIConnectionError)  # timeouts included

    def retry_after(self, error: Exception) -> float | None:
        response = getattr(error, "response", None)
        return _seconds(response.headers.get("retry-after") if response is not None else None)

    @staticmethod
    def _client(ref: ModelRef) -> Any:
        import openai  # loaded with the first OpenAI-protocol call, not at start-up

        clients = _openai_clients.setdefault(asyncio.get_running_loop(), {})
        key = ref.provider.api_key() or "none"
        client = clients.get((ref.provider.base_url, key))
        if client is None:
            # Retries are the gateway's: counted, backed off and logged there.
            client = openai.AsyncOpenAI(base_url=ref.provider.base_url, api_key=key, max_retries=0)
            clients[(ref.provider.base_url, key)] = client
        return client


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


def _seconds(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_OPENAI = OpenAIWire()
_LITELLM = LiteLLMWire()
