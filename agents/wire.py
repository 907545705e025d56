"""How one request reaches a provider, by the provider's wire protocol.

The gateway speaks OpenAI chat completions (the shape agno's LiteLLM model sends and reads) and
hands each request to a wire:

- `OpenAIWire` for every OpenAI-compatible server (openai, groq, deepseek, xai, openrouter,
  vLLM, LM Studio): the body goes as it is.
- `AnthropicWire` for Anthropic: the body is translated to Anthropic messages and the answer
  back (`agents.anthropic_format`).
- `LiteLLMWire` for Gemini and Ollama, which litellm translates.

The first two post through the provider's own SDK client (auth, API version, typed errors) but
skip its typed request builder (`post(..., cast_to=dict[str, object])`), which validates every
message against its TypedDicts: a call costs about 2 ms of CPU so, against 12 ms through
litellm's bookkeeping (bench/agent_overhead.py), and agents run many calls on one event loop.

Every wire answers with OpenAI chat-completion JSON, and tells a failure worth retrying (rate
limit, timeout, lost connection, server error) from one that is not (a bad key, a bad request).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import warnings
import weakref
from typing import Any, Protocol

from agents.anthropic_format import anthropic_request, openai_response
from agents.providers import ModelRef

# litellm's TypedDicts trip this pydantic warning, worded "Item ... is" or "Items ... are".
LITELLM_TYPES_WARNING = r"Items? .* using the `ReadOnly` qualifier"
# The statuses the SDKs themselves retry: timeout, lock conflict, rate limit; and every 5xx.
_RETRYABLE_STATUSES = frozenset({408, 409, 429})


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
    """Close the HTTP clients kept for the running event loop. Call it before the loop ends:
    they stay open across calls, and once their loop is gone nothing can close their sockets
    but the garbage collector, which warns about each one."""
    clients = _sdk_clients.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.close()
    if "litellm" in sys.modules:  # nothing to close where litellm was never loaded
        await litellm_module().close_litellm_async_clients()


# One SDK client per (event loop, SDK, base URL, key): a client's connection pool belongs to the
# loop it was opened on, and the weak key lets a forgotten loop take its clients with it.
_sdk_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Any]] = (
    weakref.WeakKeyDictionary()
)


class _SdkWire:
    """A provider's own SDK client: openai and anthropic are generated alike, with the same
    client options and error types."""

    sdk: str  # the SDK's module
    client_class: str
    path: str

    def body(self, ref: ModelRef, request: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def answer(self, payload: Any) -> Any:
        return payload

    async def send(self, ref: ModelRef, request: dict[str, Any], timeout_s: float) -> Any:
        payload = await self._client(ref).post(
            self.path,
            body=self.body(ref, request),
            cast_to=dict[str, object],
            options={"timeout": timeout_s},
        )
        return self.answer(payload)

    def retryable(self, error: Exception) -> bool:
        sdk = importlib.import_module(self.sdk)
        if isinstance(error, sdk.APIStatusError):
            return error.status_code in _RETRYABLE_STATUSES or error.status_code >= 500
        return isinstance(error, sdk.APIConnectionError)  # timeouts included

    def retry_after(self, error: Exception) -> float | None:
        response = getattr(error, "response", None)
        return _seconds(response.headers.get("retry-after") if response is not None else None)

    def _client(self, ref: ModelRef) -> Any:
        clients = _sdk_clients.setdefault(asyncio.get_running_loop(), {})
        key = (self.sdk, ref.provider.base_url, ref.provider.api_key() or "none")
        client = clients.get(key)
        if client is None:
            # Loaded with the first call, not at start-up. Retries are the gateway's: counted,
            # backed off and logged there.
            sdk = importlib.import_module(self.sdk)
            client = clients[key] = getattr(sdk, self.client_class)(
                base_url=key[1],
                api_key=key[2],
                max_retries=0,
                # The SDKs' aiohttp transport: about 0.5-1 ms less CPU per call than httpx's.
                http_client=sdk.DefaultAioHttpClient(),
            )
        return client


class OpenAIWire(_SdkWire):
    sdk, client_class, path = "openai", "AsyncOpenAI", "/chat/completions"

    def body(self, ref: ModelRef, request: dict[str, Any]) -> dict[str, Any]:
        body = {key: value for key, value in request.items() if key != "drop_params"}
        body["model"] = ref.model
        if ref.info.reasoning:
            # OpenAI's reasoning models refuse max_tokens and any temperature but the default.
            body.pop("temperature", None)
            if "max_tokens" in body:
                body["max_completion_tokens"] = body.pop("max_tokens")
        return body


class AnthropicWire(_SdkWire):
    sdk, client_class, path = "anthropic", "AsyncAnthropic", "/v1/messages"

    def body(self, ref: ModelRef, request: dict[str, Any]) -> dict[str, Any]:
        return anthropic_request(ref.model, request)

    def answer(self, payload: Any) -> Any:
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


def failure_text(error: Exception) -> str:
    """What went wrong, on one line: the SDKs' messages ("Connection error.", "Request timed
    out.") say little, and the transport's cause beneath them names the host and the reason
    (an aiohttp connection refusal even reaches the openai SDK as a timeout)."""
    text = " ".join(str(error).split())
    cause = error.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({' '.join(str(cause).split())})"
    return text


def _seconds(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_LITELLM = LiteLLMWire()
_WIRES: dict[str, Wire] = {"openai": OpenAIWire(), "anthropic": AnthropicWire()}
