"""One gateway per run: the cost log, the recordings, the budget and the retry policy that every
LLM call of the run's agents shares, whatever the provider.

A call travels agno -> the provider's SDK (`agents.models`) -> the door under the SDK
(`agents.door`, an httpx transport) -> the provider. The gateway holds what those layers
share: which run's recordings may answer (`answers_from`: none for a new run, which asks its
models afresh; the original for a replay; the run itself for a resume or an evolution's
repeated genome), whether a real call is allowed at all (`replay`), the budget, and the
tries the SDKs make (`RetryPolicy`; the SDKs wait as the providers' retry hints say).

An agent's turn (one thesis) opens a `turn` on its client: the turn may make so many model
calls and last so long, replayed calls included so that a replay stops where its original did.
The call past the cap is refused and one in flight at the deadline is cut, both with
`TurnLimitReached`, which the agent turns into an abstention: agno, past its tool-call limit,
asks the model again with the tools still offered, so a model that keeps calling tools would
otherwise never end its turn.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from agents.door import ReplayMiss, provider_slot
from agents.llm_calls import Budget, LlmCall, LlmCallStore, Recording
from agents.providers import ModelRef
from trading.clock import Clock
from trading.errors import FatalError, RetryableError, TradepitError

if TYPE_CHECKING:
    from agno.models.base import Model

__all__ = [
    "LlmGateway",
    "LlmUnavailable",
    "ModelClient",
    "ReplayMiss",
    "RetryPolicy",
    "TurnLimitReached",
    "TurnLimits",
]

_T = TypeVar("_T")


class LlmUnavailable(RetryableError):
    """No model of an agent answered: every try of the primary and the fallback failed."""


class TurnLimitReached(TradepitError):
    """A turn made as many model calls as it may, or ran past its deadline: the agent abstains
    with this reason and the run goes on."""


@dataclass(frozen=True, slots=True)
class TurnLimits:
    max_calls: int  # model calls in one turn, replayed ones included
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
    """Tries per model call, the first included. The SDKs make them, waiting as the provider's
    `retry-after` / `retry-after-ms` says, else with their own exponential backoff, and never
    when it answers `x-should-retry: false`."""

    attempts: int = 3

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise FatalError(f"a call needs at least one try, got {self.attempts!r}")


class LlmGateway:
    """One per run: owns the cost log, the recordings and the budget for all its agents."""

    def __init__(
        self,
        *,
        run_id: str,
        store: LlmCallStore,
        clock: Clock,
        budget: Budget | None = None,
        replay: bool = False,
        answers_from: str | None = None,
        retry: RetryPolicy | None = None,
        timer: Callable[[], float] = time.perf_counter,
        seed: int | None = None,
    ) -> None:
        """`answers_from` names the run whose recordings answer this run's questions; a replay
        without one replays its own run id. `seed` goes with every request that takes one,
        and into every call's key, so runs with different seeds (an arena's repeats of a
        stochastic entrant) never share answers."""
        self.run_id = run_id
        self.seed = seed
        self.store = store
        self.clock = clock
        self.budget = budget or Budget()
        self.replay = replay
        self.answers_from = answers_from if answers_from is not None or not replay else run_id
        self.retry = retry or RetryPolicy()
        self.timer = timer  # monotonic: call latencies and turn deadlines
        self.calls: list[LlmCall] = []  # the answered calls, in order
        self._occurrences: Counter[str] = Counter()

    def client(
        self,
        agent: str,
        models: Sequence[ModelRef],
        timeout_s: float,
        *,
        temperature: float | None = None,
        max_tokens: int = 1024,
    ) -> ModelClient:
        if not models:
            raise FatalError(f"agent {agent!r} has no model to call")
        return ModelClient(self, agent, tuple(models), timeout_s, temperature, max_tokens)

    def next_occurrence(self, key: str) -> int:
        """How many calls with this key the run made before this one."""
        occurrence = self._occurrences[key]
        self._occurrences[key] += 1
        return occurrence

    def recorded(self, key: str, occurrence: int) -> Recording | None:
        """The recording that answers this call, if one may: a replay replays failures too
        (they caused the abstains it must reproduce); a run continuing itself takes only
        answers, and asks again where its earlier try failed."""
        if self.answers_from is None:
            return None
        found = self.store.recording(self.answers_from, key, occurrence)
        if found is None or self.replay:
            return found
        return found if found.kind == "answer" and found.status < 400 else None

    @asynccontextmanager
    async def slot(self, base_url: str, limit: int | None) -> AsyncIterator[None]:
        """Hold one of the provider's places in flight, where it has a limit."""
        if limit is None:
            yield
            return
        async with provider_slot(base_url, limit):
            yield

    def call_record(
        self,
        agent: str,
        ref: ModelRef,
        key: str,
        prompt: int,
        completion: int,
        latency: float,
        cached: bool,
        outcome: str,
    ) -> LlmCall:
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
            outcome=outcome,
        )


class ModelClient:
    """One agent's models (primary, then fallbacks) on the gateway's door, and what their
    calls left behind for the agent: the error that must stop it, the failures that make it
    abstain."""

    def __init__(
        self,
        gateway: LlmGateway,
        agent: str,
        refs: tuple[ModelRef, ...],
        timeout_s: float,
        temperature: float | None,
        max_tokens: int,
    ) -> None:
        self.gateway = gateway
        self.agent = agent
        self.refs = refs
        self.timeout_s = timeout_s
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.error: TradepitError | None = None  # agno would swallow it; the agent raises it
        self.failures: list[str] = []
        # agno and the SDKs take seconds to import: loaded with the first LLM agent.
        from agents.models import agno_model

        self.models: list[Model] = [agno_model(self, ref) for ref in refs]

    def ask_with(self, params: dict[str, Any] | None) -> None:
        """Every model, primary and fallbacks, sends `params` with its next requests (the
        same request goes to each in turn)."""
        from agents.models import set_request_params

        for model in self.models:
            set_request_params(model, params)

    @contextmanager
    def turn(self, limits: TurnLimits) -> Iterator[None]:
        """Every call made inside counts against `limits` (see the module's docstring)."""
        token = _turn.set(_TurnState(limits, started=self.gateway.timer()))
        try:
            yield
        finally:
            _turn.reset(token)

    def begin(self) -> None:
        """Forget the previous ask's error and failures."""
        self.error = None
        self.failures = []

    def keep(self, error: TradepitError) -> TradepitError:
        if self.error is None:
            self.error = error
        return error

    def failed(self, text: str) -> None:
        self.failures.append(text)

    def unavailable(self) -> LlmUnavailable | None:
        return LlmUnavailable("; then ".join(self.failures)) if self.failures else None

    def settle(self, call: LlmCall) -> None:
        """Count an answered, logged call against the budget."""
        self.gateway.calls.append(call)
        try:
            self.gateway.budget.charge(call)
        except TradepitError as error:
            raise self.keep(error) from None

    async def limited(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """`call()` within the turn's limits, where a turn is open."""
        turn = _turn.get()
        if turn is None:
            return await call()
        try:
            left = turn.admit(self.gateway.timer())
        except TurnLimitReached as limit:
            raise self.keep(limit) from None
        deadline = asyncio.timeout(left)
        try:
            async with deadline:
                return await call()
        except TimeoutError:
            if deadline.expired():
                raise self.keep(turn.past_deadline(self.gateway.timer())) from None
            raise
