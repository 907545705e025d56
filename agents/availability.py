"""Whether a provider can be used here, and one tiny real call to prove a model works.

These make live calls (a local server's URL, a model's API), so they sit apart from the
provider config (`agents.providers`) that the wires read.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from agents.providers import ModelRef, Provider, ProviderError
from agents.usage import token_counts
from agents.wire import close_model_clients, failure_text, wire_for
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
    """One tiny real call (a few tokens) to prove the key, URL and model work."""
    if ref.provider.key_required and not ref.provider.local and not ref.provider.api_key():
        raise ConfigError(
            f"{ref.provider_name}: ${ref.provider.api_key_env} is not set; export it to check"
        )
    started = time.perf_counter()
    try:
        # The wire's async call inside asyncio.run, which also closes the clients it opened.
        payload = asyncio.run(_check_call(ref, timeout))
        prompt, completion = token_counts(payload)
    except Exception as error:  # each wire maps its provider's failures to its own types
        raise ProviderError(
            f"{ref.reference}: the check call failed: {failure_text(error, ref)}"
        ) from None
    latency = time.perf_counter() - started
    choices = payload.get("choices") or [{}]
    return CheckResult(
        reference=ref.reference,
        reply=str((choices[0].get("message") or {}).get("content") or "").strip(),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=ref.info.cost(prompt, completion),
        latency_s=latency,
    )


async def _check_call(ref: ModelRef, seconds: float) -> Any:
    request = {
        "messages": [{"role": "user", "content": "Reply with the single word OK."}],
        "max_tokens": 5,
        "temperature": 0,
    }
    try:
        return await wire_for(ref).send(ref, request, seconds)
    finally:
        await close_model_clients()
