"""Whether a provider can be used here, and one tiny real call to prove a model works.

These make live calls (a local server's URL, a model's API, through the same SDK and door as an
agent's calls), so they sit apart from the provider config (`agents.providers`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from agents.providers import ModelRef, Provider, ProviderError
from trading.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Availability:
    usable: bool
    reason: str


def availability(provider: Provider, timeout: float = 0.5) -> Availability:
    """Whether this machine can use the provider: its key is set, or its local server answers.
    Says which variable or server would enable it when it cannot."""
    if provider.local:
        try:
            httpx.get(provider.base_url, timeout=timeout)
        except httpx.HTTPError:
            return Availability(False, f"no server answering at {provider.base_url}")
        return Availability(True, f"server answering at {provider.base_url}")
    if provider.api_key():
        return Availability(True, f"key in ${provider.api_key_env}")
    return Availability(False, f"set ${provider.api_key_env} to enable it")


@dataclass(frozen=True, slots=True)
class CheckResult:
    reference: str
    reply: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    latency_s: float


def check_model(ref: ModelRef, timeout: float = 30.0) -> CheckResult:
    """One tiny real call (a few tokens) to prove the key, URL and model work, through the
    same SDK and door as an agent's calls (one try, nothing kept)."""
    if ref.provider.key_required and not ref.provider.local and not ref.provider.api_key():
        raise ConfigError(
            f"{ref.provider_name}: ${ref.provider.api_key_env} is not set; export it to check"
        )
    started = time.perf_counter()
    # Inside asyncio.run, which also closes the connections it opened.
    reply, call = asyncio.run(_check_call(ref, timeout))
    return CheckResult(
        reference=ref.reference,
        reply=reply,
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
        cost_usd=call.cost_usd,
        latency_s=time.perf_counter() - started,
    )


async def _check_call(ref: ModelRef, seconds: float) -> tuple[str, Any]:
    # These import agno and this module.
    from agno.models.message import Message

    from agents.door import close_model_clients
    from agents.gateway import LlmGateway, RetryPolicy
    from agents.llm_calls import LlmCallStore
    from trading.clock import LiveClock

    store = LlmCallStore("sqlite://")
    gateway = LlmGateway(
        run_id="check", store=store, clock=LiveClock(), retry=RetryPolicy(attempts=1)
    )
    client = gateway.client("check", [ref], seconds, temperature=0.0, max_tokens=5)
    try:
        message = Message(role="user", content="Reply with the single word OK.")
        try:
            response = await client.models[0].aresponse(messages=[message])
        except Exception as error:  # the SDK's and agno's failures, described by the door
            if client.error is not None:
                raise client.error from None
            reason = client.unavailable() or error
            raise ProviderError(f"{ref.reference}: the check call failed: {reason}") from None
        if client.error is not None:
            raise client.error
        if not gateway.calls:
            raise ProviderError(f"{ref.reference}: the check call failed: no answer logged")
        return str(response.content or "").strip(), gateway.calls[-1]
    finally:
        await close_model_clients()
        store.close()
