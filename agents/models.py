"""Each provider on its own SDK, through agno's model classes, metered at one place.

- `openai` and every OpenAI-compatible server (groq, deepseek, xai, openrouter, vLLM,
  LM Studio, llama.cpp): agno's `OpenAIChat` (OpenAI itself) or `OpenAILike`, on the `openai`
  SDK;
- `anthropic`: agno's `Claude`, on the `anthropic` SDK;
- `gemini` and `ollama`: agno's `LiteLLM`, litellm's translation on its own httpx handler.

Every SDK client is given an httpx client whose transport is the door
(`agents.door.recording_transport`): cache, replay, budget, concurrency and the tries of each
call are handled there for all of them. Around the SDK, `ainvoke` opens each call's scope and,
when the SDK is done, settles it: usage is read from agno's parsed `response_usage` metrics
(never from the provider's JSON), checked (`agents.usage`), priced and logged with the call's
tries in one commit; a refused key or a missing model stops the run with one line; any other
failure is described from the tries the door saw and handed to agno, whose fallback model is
tried next.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx
import httpx2
from agno.exceptions import ModelProviderError
from agno.models.anthropic import Claude
from agno.models.litellm import LiteLLM
from agno.models.openai import OpenAIChat, OpenAILike

from agents.door import REFUSED, CallScope, Try, current_call, recording_transport
from agents.llm_calls import LlmCall, Recording
from agents.usage import BadUsage, count
from trading.errors import ConfigError, TradepitError
from trading.redaction import redact

if TYPE_CHECKING:
    from agno.models.base import Model

    from agents.gateway import ModelClient
    from agents.providers import ModelRef


class ProviderKeyRefused(ConfigError):
    """The provider refused the key (HTTP 401 or 403): no call of the run can succeed."""


class ModelNotFound(ConfigError):
    """The provider has no such model (HTTP 404) at the configured URL."""


def agno_model(client: ModelClient, ref: ModelRef) -> Model:
    """The agno model for `ref`, its SDK client on the door of `client`'s gateway."""
    gateway = client.gateway
    timeout = ref.provider.call_timeout(client.timeout_s, client.max_tokens)
    retries = 0 if gateway.replay else gateway.retry.attempts - 1
    key = ref.provider.api_key() or "none"  # a local server takes none; the SDKs want one
    protocol = ref.provider.protocol
    model: Any
    if protocol == "openai":
        base = _MeteredOpenAIChat if ref.provider_name == "openai" else _MeteredOpenAILike
        reasoning = ref.info.reasoning  # refuse max_tokens and any temperature but the default
        model = base(
            id=ref.model,
            api_key=key,
            base_url=ref.provider.base_url,
            # The openai SDK speaks the protocol; its http_client hook only routes each request
            # through the door (recording, replay, budget, limits), which reads no provider JSON.
            http_client=httpx.AsyncClient(transport=recording_transport(gateway, ref)),
            timeout=timeout,
            max_retries=retries,
            temperature=None if reasoning else client.temperature,
            max_tokens=None if reasoning else client.max_tokens,
            max_completion_tokens=client.max_tokens if reasoning else None,
            seed=gateway.seed,
        )
    elif protocol == "anthropic":
        model = _MeteredClaude(
            id=ref.model,
            api_key=key,
            # The anthropic SDK runs on httpx2; agno's field is typed for httpx's client.
            http_client=httpx2.AsyncClient(  # type: ignore[arg-type]
                transport=recording_transport(gateway, ref, httpx2)
            ),
            timeout=timeout,
            client_params={"base_url": ref.provider.base_url, "max_retries": retries},
            temperature=client.temperature,
            max_tokens=client.max_tokens,
            append_trailing_user_message=False,
        )
    else:
        model = _metered_litellm(client, ref, timeout, retries, key)
    model.door = _Door(client, ref, timeout, dict(model.request_params or {}))
    return model  # type: ignore[no-any-return]


def set_request_params(model: Model, params: dict[str, Any] | None) -> None:
    """Send `params` (a turn's structured-output form, `agents.structured`) with `model`'s next
    requests, beside the door's own: litellm takes its http handler, the door, as one, and
    replacing it would send the request past the door."""
    if not isinstance(model, _Metered):
        raise TradepitError(f"{model.id}: not a model built by agno_model")
    model.request_params = {**model.door.own_params, **(params or {})} or None


class _Door:
    """What a metered model knows of its run: the client (gateway and kept error) and the
    model reference. Shared, not copied, when agno copies the model for its fallback list."""

    def __init__(
        self, client: ModelClient, ref: ModelRef, timeout_s: float, own_params: dict[str, Any]
    ) -> None:
        self.client = client
        self.ref = ref
        self.timeout_s = timeout_s
        self.own_params = own_params  # the request parameters the door itself needs

    def __deepcopy__(self, memo: dict[int, Any]) -> _Door:
        return self

    async def invoke(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        return await self.client.limited(lambda: self._invoke(call, args, kwargs))

    async def _invoke(self, call: Any, args: Any, kwargs: Any) -> Any:
        scope = CallScope(self.ref, self.timeout_s)
        token = current_call.set(scope)
        try:
            try:
                response = await call(*args, **kwargs)
            except ModelProviderError as error:
                raise self._failed(scope, error) from None
            except (asyncio.CancelledError, TimeoutError):
                self._commit(scope, None)  # cut at the turn's deadline: the tries were made
                raise
            except TradepitError:
                raise
            except Exception as error:  # litellm's own exceptions, which agno passes on
                raise self._failed(scope, ModelProviderError(str(error))) from None
            return self._answered(scope, response)
        finally:
            current_call.reset(token)

    def _answered(self, scope: CallScope, response: Any) -> Any:
        usage = response.response_usage
        try:
            counts = _token_counts(usage, self.ref.provider.protocol)
        except BadUsage as bad:
            failure = f"{self.ref.reference}: answer refused: BadUsage: {bad}"
            self.client.failed(failure)
            self._commit(scope, None)
            raise ModelProviderError(failure, status_code=502) from None
        call = self._commit(scope, counts)
        if call is not None:
            self.client.settle(call)
        return response

    def _failed(self, scope: CallScope, error: ModelProviderError) -> BaseException:
        """The exception to raise for an SDK failure: the door's reason, a fatal error, or
        agno's own (described first), for its fallback model to take over."""
        self._commit(scope, None)
        if scope.stop is not None:
            return self.client.keep(scope.stop)
        last = _last(scope)
        provider = self.ref.provider
        if last is not None and last.kind == "answer" and last.status in (401, 403):
            where = f"${provider.api_key_env}" if provider.api_key_env else "no key variable"
            return self.client.keep(
                ProviderKeyRefused(
                    f"{self.ref.provider_name} refused the key ({where}, HTTP {last.status}): "
                    f"{self._text(error.message)}; check the key, or set api_key_env for this "
                    "provider in providers.yaml"
                )
            )
        if last is not None and last.kind == "answer" and last.status == 404:
            return self.client.keep(
                ModelNotFound(
                    f"{self.ref.reference}: the provider has no model {self.ref.model!r} at "
                    f"{provider.base_url} (HTTP 404): {self._text(error.message)}"
                )
            )
        self.client.failed(f"{self.ref.reference}: {self._describe(scope, error)}")
        return error

    def _describe(self, scope: CallScope, error: ModelProviderError) -> str:
        last = _last(scope)
        tries = scope.replayed.tries if scope.replayed is not None else len(scope.tries)
        if last is None:
            text = self._text(str(error.message))
        elif last.kind == "timeout":
            text = f"no answer within {self.timeout_s:g} s"
            if self.ref.provider.local:
                text += " (not retried: a local server may still be working on it)"
        elif last.kind == "unreachable":
            text = f"cannot connect: {self._text(last.detail)}"
        else:
            phrase = httpx.codes.get_reason_phrase(last.status)
            text = f"HTTP {last.status} {phrase}: {self._text(error.message)}"
        return f"{text} (after {tries} tries)" if tries > 1 else text

    def _text(self, message: object) -> str:
        return redact(" ".join(str(message).split())[:300], [self.ref.provider.api_key()])

    def _commit(self, scope: CallScope, counts: tuple[int, int] | None) -> LlmCall | None:
        """Log the call's tries and record how it ended, in one commit; the answered call."""
        if scope.key is None or (scope.stop is not None and not scope.tries):
            return None  # refused before any try (the reason is raised), or never sent
        gateway = self.client.gateway
        if scope.replayed is not None:
            prompt, completion = counts or (0, 0)
            recorded = scope.replayed
            outcome = _outcome(recorded.kind, recorded.status, counts is not None)
            call = gateway.call_record(
                self.client.agent, self.ref, scope.key, prompt, completion, 0.0, True, outcome
            )
            # Recorded again under this run, so that a replay of the replay finds it.
            fresh = gateway.answers_from != gateway.run_id
            gateway.store.save([call], recorded if fresh else None, scope.occurrence)
            return call if counts is not None else None
        calls = []
        for number, attempt in enumerate(scope.tries):
            answered = counts is not None and number == len(scope.tries) - 1
            prompt, completion = counts if answered and counts else (0, 0)
            outcome = _outcome(attempt.kind, attempt.status, answered)
            calls.append(
                gateway.call_record(
                    self.client.agent,
                    self.ref,
                    scope.key,
                    prompt,
                    completion,
                    attempt.latency_s,
                    False,
                    outcome,
                )
            )
        last = scope.tries[-1]
        recording = Recording(
            kind=last.kind if last.kind != "cut" else "timeout",
            status=last.status,
            body=last.body,
            tries=len(scope.tries),
            detail=last.detail,
        )
        # A call cut at the turn's deadline ends the turn there, on replay too.
        gateway.store.save(calls, recording if last.kind != "cut" else None, scope.occurrence)
        return calls[-1] if counts is not None else None


def _outcome(kind: str, status: int, answered: bool) -> str:
    if answered:
        return "answered"
    if kind == "answer" and status not in (REFUSED,):
        return "failed"
    return {"timeout": "timed out", "unreachable": "failed", "cut": "cut"}.get(kind, "failed")


def _last(scope: CallScope) -> Try | None:
    if scope.replayed is not None:
        r = scope.replayed
        return Try(r.kind, 0.0, r.status, r.body, r.detail)
    return scope.tries[-1] if scope.tries else None


def _token_counts(usage: Any, protocol: str) -> tuple[int, int]:
    """Prompt and completion tokens from agno's metrics of one answer. Anthropic counts the
    tokens read from and written to its prompt cache apart from `input_tokens`; they are
    prompt tokens too (OpenAI's cached tokens are already inside its prompt count)."""
    if usage is None:
        return 0, 0
    prompt = count(usage.input_tokens, "input_tokens")
    if protocol == "anthropic":
        prompt += count(usage.cache_read_tokens, "cache_read_tokens")
        prompt += count(usage.cache_write_tokens, "cache_write_tokens")
    return prompt, count(usage.output_tokens, "output_tokens")


class _Metered:
    """Mixed into an agno model class: each call goes through its `_Door`."""

    door: _Door
    request_params: dict[str, Any] | None  # a field of every agno class mixed with this

    async def ainvoke(self, *args: Any, **kwargs: Any) -> Any:
        return await self.door.invoke(super().ainvoke, *args, **kwargs)  # type: ignore[misc]

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        raise TradepitError("LLM agents run asynchronously; call arun, not run")

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # agno's copy drops the SDK and http clients; the http client is the door's transport.
        copied = super().__deepcopy__(memo)  # type: ignore[misc]
        copied.http_client = self.http_client  # type: ignore[attr-defined]
        return copied


class _MeteredOpenAIChat(_Metered, OpenAIChat):
    pass


class _MeteredOpenAILike(_Metered, OpenAILike):
    pass


class _MeteredClaude(_Metered, Claude):
    pass


class _MeteredLiteLLM(_Metered, LiteLLM):
    pass


def _metered_litellm(
    client: ModelClient, ref: ModelRef, timeout: float, retries: int, key: str
) -> _MeteredLiteLLM:
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    handler = AsyncHTTPHandler(timeout=timeout, transport=recording_transport(client.gateway, ref))
    return _MeteredLiteLLM(
        id=ref.litellm_model,
        api_key=key,
        api_base=ref.provider.base_url,
        temperature=client.temperature if client.temperature is not None else 0.2,
        max_tokens=client.max_tokens,
        request_params={"client": handler, "timeout": timeout, "num_retries": retries},
    )
