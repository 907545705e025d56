"""Whether a model really calls tools: one scripted tool round, as `tradepit providers check`
runs it.

A server may accept `tools` and ignore them (llama.cpp's default chat template), or call them
with junk arguments (its `chatml-function-calling` template), and say nothing either way. So
the round offers one trivial tool, `add_numbers`, asks the model to add two given numbers with
it, and looks at what came back: a call with exactly those numbers is a model that calls
tools; no call, or a call with other or malformed arguments, is one that does not, and an
agent holding tools is refused on it once providers.yaml says `tools: false`.

The round goes through the same door as every agent call (an agno agent on the gateway's
client), with a throwaway call log, so what it sees is what an agent would see.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.gateway import LlmGateway, LlmUnavailable, RetryPolicy
from agents.llm_agent import quiet_agno
from agents.llm_calls import LlmCallStore
from agents.providers import ModelRef
from trading.clock import LiveClock

PROBE_TOOL = "add_numbers"
FIRST, SECOND = 17, 25
PROBE_PROMPT = (
    f"Use the {PROBE_TOOL} tool to add {FIRST} and {SECOND}, then reply with the sum only."
)
PROBE_CALLS = 3  # the tool call, the reply, and one spare for a model that calls twice


@dataclass(frozen=True, slots=True)
class ToolProbe:
    calls_tools: bool | None  # None: the round itself failed, so nothing is known
    detail: str


def add_numbers(a: int, b: int) -> int:
    """Add two whole numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def probe_tools(ref: ModelRef, timeout_s: float = 30.0) -> ToolProbe:
    """Run the tool round against `ref` (real calls: a few hundred tokens)."""
    with tempfile.TemporaryDirectory(prefix="tradepit-probe-") as folder:
        store = LlmCallStore(f"sqlite:///{Path(folder) / 'probe.db'}")
        try:
            return asyncio.run(_probe(ref, store, timeout_s))
        finally:
            store.engine.dispose()


async def _probe(ref: ModelRef, store: LlmCallStore, timeout_s: float) -> ToolProbe:
    from agno.agent import Agent

    from agents.door import close_model_clients

    quiet_agno()
    gateway = LlmGateway(
        run_id="providers-check",
        store=store,
        clock=LiveClock(),
        retry=RetryPolicy(attempts=1),
    )
    client = gateway.client("providers-check", [ref], timeout_s, temperature=0.0, max_tokens=200)
    client.begin()
    agent = Agent(
        name="providers-check",
        model=client.models[0],
        tools=[add_numbers],
        tool_call_limit=PROBE_CALLS - 1,
        telemetry=False,
    )
    try:
        output = await agent.arun(input=PROBE_PROMPT)
    finally:
        await close_model_clients()
    from agno.run.base import RunStatus

    if client.error is not None:
        raise client.error  # a refused key, the budget: the check says so in one line
    if output.status == RunStatus.error:
        failure = client.unavailable() or LlmUnavailable(f"the agent run failed: {output.content}")
        return ToolProbe(None, f"the tool round failed: {failure}")
    # The calls as the model wrote them, malformed and unknown ones included (agno runs only
    # the well-formed calls of tools it holds, and lists only those in `output.tools`).
    calls = [
        ToolCall(str(call["function"].get("name")), str(call["function"].get("arguments")))
        for message in output.messages or []
        if message.role == "assistant"
        for call in message.tool_calls or []
        if isinstance(call.get("function"), dict)
    ]
    return judge(calls, str(output.content or ""))


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: str  # the JSON text the model wrote


def judge(calls: list[ToolCall], reply: str) -> ToolProbe:
    """What the round's tool calls say about the model."""
    if not calls:
        return ToolProbe(False, f"answered without calling {PROBE_TOOL}: {reply.strip()[:80]!r}")
    for call in calls:
        if call.name == PROBE_TOOL and _parsed(call.arguments) == {"a": FIRST, "b": SECOND}:
            return ToolProbe(True, f"called {PROBE_TOOL}(a={FIRST}, b={SECOND}) as asked")
    first = calls[0]
    return ToolProbe(
        False,
        f"called {first.name} with {first.arguments[:120]}, not {PROBE_TOOL} with a={FIRST} "
        f"and b={SECOND}",
    )


def _parsed(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return None
