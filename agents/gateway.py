"""The one door every LLM call goes through: cache, budget, retries, fallback and the cost log.

agno's `LiteLLM` model sends each request, in OpenAI chat-completion form, to
`client.acompletion(**kwargs)`; a `ModelClient` stands in for litellm there, so every provider
and every agent shares one code path:

1. The request is keyed by (model reference, messages, tools, parameters). A cached answer
   is returned as it was first given; a replay accepts nothing else.
2. Otherwise the budget is checked, and the models are tried in order (primary, then the
   fallback), each with retries and exponential backoff on rate limits, timeouts and server
   errors. Client errors (bad key, bad request) move straight to the next model. The request
   travels on the model's wire (`agents.wire`): the OpenAI-compatible and Anthropic
   protocols spoken directly, Gemini and Ollama through litellm's translation.
3. Every answered call is priced from `providers.yaml`, cached and logged in one commit,
   then charged. An answer whose token usage no call can have (`agents.usage`) is a failed
   call instead, not retried, and never charged.

An agent's turn (one thesis) opens a `turn` on its client: the turn may make so many model
calls and last so long, cached calls included so that a replay stops where its original did.
The call past the cap is refused and one in flight at the deadline is cut, both with
`TurnLimitReached`, which the agent turns into an abstention: agno, past its tool-call limit,
asks the model again with the tools still offered, so a model that keeps calling tools would
otherwise never end its turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from agents.llm_calls import Budget, LlmCall, LlmCallStore, cache_key
from agents.providers import ModelRef
from agents.usage import BadUsage, token_counts
from agents.wire import failure_text, litellm_module, wire_for
from trading.clock import Clock
from trading.errors import FatalError, RetryableError, TradepitError

_log = logging.getLogger(__name__)

# Request fields that shape the answer besides model, messages and tools.
_ANSWER_PARAMS = ("temperature", "top_p", "max_tokens", "tool_choice", "seed", "response_format")


class LlmUnavailable(RetryableError):
    """No model of an agent answered: every try of the primary and the fallback failed."""


class ReplayMiss(FatalError):
    """A replay asked a question the original run never asked, so it cannot be answered
    without a real call: the data, the code or the agent's spec differs from the original."""


class TurnLimitReached(TradepitError):
    """A turn made as many model calls as it may, or ran past its deadline: the agent abstains
    with this reason and the run goes on."""


@dataclass(frozen=True, slots=True)
class TurnLimits:
    max_calls: int  # model calls in one turn, cached ones included
    deadline_s: float  # from the turn's start, on the gateway's monotonic timer

    def __post_init__(self) -> None:
        if self.max_calls < 1 or not self.deadline_s > 0:
            raise FatalError(f"turn limits must be positive, got {self!r}")


@dataclass(slots=True)
class _TurnState:
    limits: TurnLimits
    started: float
    calls: int = 0

    def admit(self, now: float) -> float:
        """Count one more call, or refuse it; the seconds left before the deadline."""
        if self.calls >= self.limits.max_calls:
            cap = self.limits.max_calls
            raise TurnLimitReached(
                f"model call cap reached: {self.calls} calls in one turn (cap {cap}); "
                "the model did not end its turn"
            )
        left = self.started + self.limits.deadline_s - now
        if left <= 0:
            raise self.past_deadline(now)
        self.calls += 1
        return left

    def past_deadline(self, now: float) -> TurnLimitReached:
        calls = f"{self.calls} model call{'s' if self.calls != 1 else ''}"
        return TurnLimitReached(
            f"turn deadline passed: {now - self.started:.0f} s of "
            f"{self.limits.deadline_s:g} s, after {calls}"
        )


# The turn of the task asking: agno makes a turn's calls from the task that runs it.
_turn: ContextVar[_TurnState | None] = ContextVar("tradepit_turn", default=None)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3  # tries per model, the first included
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff, no shorter than the provider's Retry-After, never past the cap.
        No jitter: runs must replay identically, and one process rarely stampedes a provider."""
        backoff = self.base_delay_s * 2**attempt
        return float(min(self.max_delay_s, max(backoff, retry_after or 0.0)))


class LlmGateway:
    """One per run: owns the cost log, the cache and the budget for all of the run's agents."""

    def __init__(
        self,
        *,
        run_id: str,
        store: LlmCallStore,
        clock: Clock,
        budget: Budget | None = None,
        replay: bool = False,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timer: Callable[[], float] = time.perf_counter,
        seed: int | None = None,
    ) -> None:
        """`seed` goes with every request: it is one of the parameters the cache key covers, so
        runs with different seeds (an arena's repeats of a stochastic entrant) never share
        answers; `drop_params` lets litellm leave it out for providers that take no seed (the
        OpenAI wire sends it: OpenAI-compatible servers take it or ignore it)."""
        self.run_id = run_id
        self.seed = seed
        self.store = store
        self.clock = clock
        self.budget = budget or Budget()
        self.replay = replay
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.timer = timer  # monotonic: call latencies and turn deadlines
        self._litellm = litellm_module()
        self.calls: list[LlmCall] = []

    def client(self, agent: str, models: Sequence[ModelRef], timeout_s: float) -> ModelClient:
        if not models:
            raise FatalError(f"agent {agent!r} has no model to call")
        return ModelClient(self, agent, tuple(models), timeout_s)

    async def complete(
        self, agent: str, models: tuple[ModelRef, ...], timeout_s: float, request: dict[str, Any]
    ) -> Any:
        if self.seed is not None:
            request = {**request, "seed": self.seed, "drop_params": True}
        keyed = [(ref, self._key(ref, request)) for ref in models]
        for ref, key in keyed:
            hit = self.store.cached(key)
            if hit is not None:
                counts = token_counts(hit)  # checked when it was stored
                call = self._priced(agent, ref, key, counts, latency=0.0, cached=True)
                self.store.record(call)
                return self._settle(call, hit)
        if self.replay:
            raise ReplayMiss(
                f"replay of run {self.run_id!r}: agent {agent!r} asked something the original "
                f"run never asked (cache key {keyed[0][1][:12]}); the data, code or spec differs"
            )
        failures: list[str] = []
        for ref, key in keyed:
            try:
                return await self._call(agent, ref, key, timeout_s, request)
            except LlmUnavailable as error:
                failures.append(str(error))
        raise LlmUnavailable(f"agent {agent!r}: " + "; then ".join(failures))

    async def _call(
        self, agent: str, ref: ModelRef, key: str, timeout_s: float, request: dict[str, Any]
    ) -> Any:
        wire = wire_for(ref)
        last = ""
        for attempt in range(self.retry.attempts):
            self.budget.ensure_room()
            started = self.timer()
            try:
                payload = await wire.send(ref, request, timeout_s)
                counts = token_counts(payload)
            except Exception as error:
                failure = (
                    f"{ref.reference} {type(error).__name__}: {failure_text(error, ref)[:300]}"
                )
                if isinstance(error, BadUsage):
                    _log.warning("agent %r: answer refused: %s", agent, failure)
                # A bad key, a bad request, impossible usage: no use trying again.
                if isinstance(error, BadUsage) or not wire.retryable(error):
                    raise LlmUnavailable(failure) from None
                last = failure
                if attempt + 1 < self.retry.attempts:
                    await self._sleep(self.retry.delay(attempt, wire.retry_after(error)))
                continue
            latency = self.timer() - started
            call = self._priced(agent, ref, key, counts, latency=latency, cached=False)
            # Saved before charging: if this call ends the budget, a replay still has it.
            self.store.save(call, payload)
            return self._settle(call, payload)
        raise LlmUnavailable(f"{last} (after {self.retry.attempts} tries)")

    def _priced(
        self,
        agent: str,
        ref: ModelRef,
        key: str,
        counts: tuple[int, int],
        *,
        latency: float,
        cached: bool,
    ) -> LlmCall:
        prompt, completion = counts
        return LlmCall(
            run_id=self.run_id,
            agent=agent,
            model=ref.reference,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=ref.info.cost(prompt, completion),
            latency_s=latency,
            cache_key=key,
            cached=cached,
            time=self.clock.now(),
        )

    def _settle(self, call: LlmCall, payload: Any) -> Any:
        """Count a logged call against the budget and hand agno litellm's response type."""
        self.calls.append(call)
        self.budget.charge(call)
        return self._litellm.ModelResponse(**payload)

    @staticmethod
    def _key(ref: ModelRef, request: dict[str, Any]) -> str:
        params = {name: request[name] for name in _ANSWER_PARAMS if name in request}
        return cache_key(ref.reference, request["messages"], request.get("tools") or [], params)


class ModelClient:
    """What agno's LiteLLM model takes for `client`: litellm's call signature, our gateway."""

    def __init__(
        self, gateway: LlmGateway, agent: str, models: tuple[ModelRef, ...], timeout_s: float
    ) -> None:
        self.gateway = gateway
        self.agent = agent
        self.models = models
        self.timeout_s = timeout_s

    @contextmanager
    def turn(self, limits: TurnLimits) -> Iterator[None]:
        """Every call made inside counts against `limits` (see the module's docstring)."""
        token = _turn.set(_TurnState(limits, started=self.gateway.timer()))
        try:
            yield
        finally:
            _turn.reset(token)

    async def acompletion(self, **request: Any) -> Any:
        # agno fills in its own model id and credentials; the gateway routes by ModelRef.
        for name in ("model", "api_key", "api_base", "timeout", "num_retries"):
            request.pop(name, None)
        if request.get("stream"):
            raise FatalError("streaming is not supported: answers must be cached whole")
        turn = _turn.get()
        if turn is None:
            return await self._complete(request)
        deadline = asyncio.timeout(turn.admit(self.gateway.timer()))
        try:
            async with deadline:
                return await self._complete(request)
        except TimeoutError:
            if deadline.expired():
                raise turn.past_deadline(self.gateway.timer()) from None
            raise

    async def _complete(self, request: dict[str, Any]) -> Any:
        return await self.gateway.complete(self.agent, self.models, self.timeout_s, request)

    def completion(self, **request: Any) -> Any:
        raise FatalError("LLM agents run asynchronously; call arun, not run")
