"""Framework time per LLM agent turn against a zero-latency loopback model, and the wall time of
8 agents in parallel against 8 in sequence when each model reply takes 200 ms, in one run.

A turn is `LlmAgent.thesis(snapshot, "SPX")`: agno, the provider's SDK (openai or anthropic)
through the gateway's door (agents/door.py: the recording lookup, loopback HTTP; the SQLite
recording and cost log), for a turn with a tool the in-process
`get_market_summary`, and validation of the JSON thesis. The model is the scripted loopback
server of the tests (tests/fakes/llm_server.py), on threads of this process. Each turn asks
about a different day, so no recording answers for the model, except in the cached figure, a
replay of the same questions.

Goals: overhead (a turn's wall time minus the server's scripted latency) under 20 ms per turn;
8 agents in parallel within 1.3x of one agent's turn. Turns are measured on both wires the
tests speak, OpenAI chat completions and Anthropic messages, and the slower one is held to the
goal; the parallel comparison runs on the OpenAI wire.

    python bench/agent_overhead.py [--turns 100] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import http.client
import importlib.metadata
import inspect
import ipaddress
import json
import os
import platform
import pstats
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from agents.door import close_model_clients

# Importing `agents` first sets AGNO_TELEMETRY=false and LITELLM_LOCAL_MODEL_COST_MAP=True.
from agents.gateway import LlmGateway
from agents.llm_agent import LlmAgent, build_models
from agents.llm_calls import LlmCallStore
from agents.specs import AgentSpec, Role
from tools.context import ToolContext
from tools.market import get_market_summary
from trading.clock import ReplayClock
from trading.data import Catalog, PointInTimeView
from trading.decision import Snapshot
from trading.ledger import Ledger

# The scripted model lives in tests/, which is not installed: import it from this checkout.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.fakes.agents import loopback_providers, thesis_json  # noqa: E402 (path set above)
from tests.fakes.llm_server import CallTool, FakeLlm, Say, Step, fake_llm  # noqa: E402

SYMBOL = "SPX"
OPENAI = "local:primary"  # an OpenAI-compatible server (tests/fakes/agents.py)
ANTHROPIC = "claude:claude-test"
FIRST_DAY = 1000  # index of the first SPX bar asked about (late 2002); each turn takes the next
WARMUP_TURNS = 3
TEAM = 8
LATENCY_S = 0.2
OVERHEAD_GOAL_MS = 20.0
PARALLEL_GOAL = 1.3
PROFILE_TURNS = 20
SUMMARY = CallTool("get_market_summary", {"symbols": [SYMBOL]})
CITES_PROMPT = Say(thesis_json(evidence=[{"tool": "prompt", "detail": "last close"}]))
CITES_TOOL = Say(thesis_json())


def answer_at_once(body: dict[str, Any]) -> Step:
    return CITES_PROMPT


def call_a_tool_first(body: dict[str, Any]) -> Step:
    return CITES_TOOL if has_tool_result(body["messages"][-1]) else SUMMARY


def has_tool_result(message: dict[str, Any]) -> bool:
    """An OpenAI tool message, or an Anthropic user turn carrying a tool_result block."""
    content = message.get("content")
    blocks = content if isinstance(content, list) else []
    return message["role"] == "tool" or any(b.get("type") == "tool_result" for b in blocks)


def loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def loopback_only() -> None:
    """Refuse connections off this machine: the bench must never reach a real provider, and a
    hidden call (telemetry, a price map) would distort what it measures."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(str(address[0])):
            raise ConnectionRefusedError(f"bench tried to reach {address[0]!r}; loopback only")
        real_connect(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]


def bare_round_trips(server: FakeLlm, body: bytes, count: int = 50) -> list[float]:
    """POSTs with http.client on one kept-alive connection: loopback HTTP plus the server's
    handling, with no framework at all."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    headers = {"Content-Type": "application/json"}
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("POST", "/v1/chat/completions", body, headers)
        connection.getresponse().read()
        seconds.append(time.perf_counter() - started)
    connection.close()
    return seconds


class Rig:
    """Agents, their gateway and a fresh SQLite call store, with a supply of days never asked
    about before."""

    def __init__(self, catalog: Catalog, folder: Path) -> None:
        self.catalog = catalog
        self.folder = folder
        self._series = catalog.load(SYMBOL)
        self._day = FIRST_DAY
        self._stores = 0

    def days(self, count: int) -> list[Snapshot]:
        snapshots = []
        for _ in range(count):
            now = self._series.bar(self._day).close_time  # the day's bar has just closed
            self._day += 1
            view = PointInTimeView(self.catalog, ReplayClock(now))
            portfolio = Ledger(cash=Decimal(100_000)).portfolio()
            snapshots.append(Snapshot(now, (SYMBOL,), view, portfolio))
        return snapshots

    def gateway(self) -> LlmGateway:
        self._stores += 1
        store = LlmCallStore(f"sqlite:///{self.folder / f'calls{self._stores}.db'}")
        start = self._series.bar(FIRST_DAY).close_time
        return LlmGateway(run_id=f"bench-{self._stores}", store=store, clock=ReplayClock(start))

    def replay_of(self, gateway: LlmGateway) -> LlmGateway:
        return LlmGateway(
            run_id=f"{gateway.run_id}-replay",
            store=gateway.store,
            clock=gateway.clock,
            replay=True,
            answers_from=gateway.run_id,
        )

    def agent(
        self, server: FakeLlm, gateway: LlmGateway, name: str = "analyst", model: str = OPENAI
    ) -> LlmAgent:
        spec = AgentSpec(name=name, role=Role.MARKET_ANALYST, model=model)
        return LlmAgent(spec, gateway, build_models(spec, loopback_providers(server)), self.catalog)


async def turns(agent: LlmAgent, snapshots: list[Snapshot]) -> list[float]:
    """Wall time of each turn, one after another; every turn must end in a thesis."""
    seconds = []
    for snapshot in snapshots:
        started = time.perf_counter()
        turn = await agent.thesis(snapshot, SYMBOL)
        seconds.append(time.perf_counter() - started)
        if turn.thesis is None:
            raise RuntimeError(f"a bench turn did not end in a thesis: {turn.outcome!r}")
    return seconds


def timed(original: Callable[..., Any], label: str, seconds: dict[str, float]) -> Any:
    def add(started: float) -> None:
        seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - started

    if inspect.iscoroutinefunction(original):

        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                add(started)

        return timed_async

    def timed_sync(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            add(started)

    return timed_sync


@contextmanager
def stopwatch(gateway: LlmGateway) -> Iterator[dict[str, float]]:
    """Wall time in the model calls (`_Door.invoke`: the SDK, the door, HTTP) and the SQLite
    store, unprofiled: the store's methods are wrapped on the live instance, the door's on
    its class, and unwrapped after."""
    from agents.models import _Door

    seconds: dict[str, float] = {}
    watched = [(gateway.store, m) for m in ("recording", "save")]
    for owner, method in watched:
        setattr(owner, method, timed(getattr(owner, method), method, seconds))
    invoke = _Door.invoke
    _Door.invoke = timed(invoke, "invoke", seconds)  # type: ignore[method-assign]
    try:
        yield seconds
    finally:
        _Door.invoke = invoke  # type: ignore[method-assign]
        for owner, method in watched:
            delattr(owner, method)  # the class's method shows through again


async def zero_latency(rig: Rig, count: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    kinds = (
        ("direct", answer_at_once, 1, OPENAI),
        ("tool", call_a_tool_first, 2, OPENAI),
        ("anthropic_direct", answer_at_once, 1, ANTHROPIC),
        ("anthropic_tool", call_a_tool_first, 2, ANTHROPIC),
    )
    for label, script, calls, model in kinds:
        with fake_llm(script) as server:
            gateway = rig.gateway()
            agent = rig.agent(server, gateway, model=model)
            warm = await turns(agent, rig.days(WARMUP_TURNS))
            found.setdefault("cold", warm[0])  # the process's first turn: lazy imports
            asked = rig.days(count)
            before = len(server.requests)
            with stopwatch(gateway) as found[f"{label}_parts"]:
                found[label] = await turns(agent, asked)
            assert len(server.requests) - before == count * calls, "unexpected LLM calls"
            if label == "tool":
                # The same questions in a replay: every call is answered by the recording.
                before = len(server.requests)
                replay = rig.replay_of(gateway)
                with stopwatch(replay) as found["cached_parts"]:
                    found["cached"] = await turns(rig.agent(server, replay), asked)
                assert len(server.requests) == before, "the recording did not answer"
                body = json.dumps(server.requests[-1]).encode()  # a realistic request
                found["floor"] = bare_round_trips(server, body)
            gateway.store.close()
    return found


def tool_seconds(rig: Rig, count: int) -> list[float]:
    """`get_market_summary` called directly, as a turn's tool call runs it (on a worker
    thread, which cProfile of the event loop does not see)."""
    snapshots = rig.days(count)
    clock = ReplayClock(snapshots[0].now)
    ctx = ToolContext.paper(rig.catalog, clock=clock)
    seconds = []
    for snapshot in snapshots:
        clock.advance_to(snapshot.now)
        started = time.perf_counter()
        get_market_summary(ctx, [SYMBOL])
        seconds.append(time.perf_counter() - started)
    return seconds


async def with_latency(rig: Rig, rounds: int) -> dict[str, list[float]]:
    """One agent's turn, 8 agents in sequence and 8 in parallel, interleaved round by round so
    that machine noise falls on all three alike."""
    found: dict[str, list[float]] = {"one": [], "one_server": [], "sequence": [], "parallel": []}
    found["sequence_server"] = []
    with fake_llm(call_a_tool_first, latency_s=LATENCY_S) as server:
        gateway = rig.gateway()
        team = [rig.agent(server, gateway, f"agent-{i}") for i in range(TEAM)]
        for agent in team:
            await turns(agent, rig.days(1))
        for _ in range(rounds):
            served = server.server_seconds
            found["one"] += await turns(team[0], rig.days(1))
            found["one_server"].append(server.server_seconds - served)
            served = server.server_seconds
            started = time.perf_counter()
            for agent, snapshot in zip(team, rig.days(TEAM), strict=True):
                await turns(agent, [snapshot])
            found["sequence"].append(time.perf_counter() - started)
            found["sequence_server"].append(server.server_seconds - served)
            started = time.perf_counter()
            done = await asyncio.gather(
                *(turns(a, [s]) for a, s in zip(team, rig.days(TEAM), strict=True))
            )
            found["parallel"].append(time.perf_counter() - started)
            assert len(done) == TEAM
        gateway.store.close()
    return found


def median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1e3


def p95_ms(seconds: list[float]) -> float:
    return statistics.quantiles(seconds, n=20, method="inclusive")[-1] * 1e3


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def print_parts(zero: dict[str, Any]) -> None:
    """Mean time per turn in the gateway's parts, from the stopwatch on the live objects."""
    kinds = ("direct", "tool", "cached")
    print(
        f"{'where a turn goes, mean ms per turn':54s} {'no tool':>8s} {'one tool':>8s} "
        f"{'cached':>8s}"
    )

    def row(label: str, figure: Callable[[dict[str, float], float], float]) -> None:
        cells = []
        for kind in kinds:
            parts, seconds = zero[f"{kind}_parts"], zero[kind]
            cells.append(f"{figure(parts, sum(seconds)) * 1e3 / len(seconds):8.2f}")
        print(f"{label:54s} {' '.join(cells)}")

    sqlite = ("recording", "save")
    row("whole turn (OpenAI wire)", lambda parts, total: total)
    row("  SQLite recording lookup (LlmCallStore.recording)", lambda p, _: p.get("recording", 0))
    row("  SQLite recording + cost log (LlmCallStore.save)", lambda p, _: p.get("save", 0.0))
    row(
        "  the SDK, the door, loopback HTTP, server (calls - SQLite)",
        lambda p, _: p["invoke"] - sum(p.get(k, 0.0) for k in sqlite),
    )
    row("  agno, tool, prompt, validation (turn - calls)", lambda p, t: t - p["invoke"])


def report(zero: dict[str, Any], tool: list[float], latency: dict[str, list[float]]) -> bool:
    floor = median_ms(zero["floor"])
    print(
        f"loopback floor: bare HTTP round trip to the fake, same request body, no framework: "
        f"{floor:.2f} ms median"
    )
    print(f"get_market_summary alone (the tool a turn calls): {median_ms(tool):.2f} ms median")
    print(f"first turn of the process (cold: lazy imports): {zero['cold'] * 1e3:.0f} ms")
    print()
    print(
        f"zero-latency model: {len(zero['tool'])} turns of each kind, a different day per turn; "
        "the whole turn is overhead"
    )
    print(f"{'turn':44s} {'median':>9s} {'p95':>9s} {'per call':>9s} {'- floor':>9s}")
    rows = (
        ("no tool: 1 LLM call (OpenAI wire)", zero["direct"], 1),
        ("one tool: 2 LLM calls + a tool (OpenAI wire)", zero["tool"], 2),
        ("no tool (Anthropic wire)", zero["anthropic_direct"], 1),
        ("one tool (Anthropic wire)", zero["anthropic_tool"], 2),
        ("cached: the tool turn again, 2 cache hits", zero["cached"], 2),
    )
    for label, seconds, calls in rows:
        median = median_ms(seconds)
        live = 0 if label.startswith("cached") else calls
        print(
            f"{label:44s} {median:6.1f} ms {p95_ms(seconds):6.1f} ms {median / calls:6.1f} ms "
            f"{median - live * floor:6.1f} ms"
        )
    print()
    print_parts(zero)
    print()
    one = statistics.median(latency["one"])
    one_server = statistics.median(latency["one_server"])
    sequence = statistics.median(latency["sequence"])
    sequence_server = statistics.median(latency["sequence_server"])
    parallel = statistics.median(latency["parallel"])
    rounds = len(latency["parallel"])
    print(
        f"{LATENCY_S * 1e3:.0f} ms per model reply, tool turns (2 replies each), median of "
        f"{rounds} rounds"
    )
    print(f"{'one agent, one turn':34s} {one:6.3f} s   overhead {(one - one_server) * 1e3:5.1f} ms")
    print(
        f"{f'{TEAM} agents in sequence':34s} {sequence:6.3f} s   overhead "
        f"{(sequence - sequence_server) / TEAM * 1e3:5.1f} ms per turn"
    )
    print(f"{f'{TEAM} agents in parallel (gather)':34s} {parallel:6.3f} s")
    print()
    # The slower wire of the two is held to the goal.
    direct = max(median_ms(zero["direct"]), median_ms(zero["anthropic_direct"]))
    with_tool = max(median_ms(zero["tool"]), median_ms(zero["anthropic_tool"]))
    goals = [
        (
            f"overhead per turn, no tool: {direct:.1f} ms (goal < {OVERHEAD_GOAL_MS:.0f} ms)",
            direct < OVERHEAD_GOAL_MS,
        ),
        (
            f"overhead per turn, one tool: {with_tool:.1f} ms (goal < {OVERHEAD_GOAL_MS:.0f} ms)",
            with_tool < OVERHEAD_GOAL_MS,
        ),
        (
            f"parallel / one turn: {parallel / one:.2f}x (goal <= {PARALLEL_GOAL}x)",
            parallel / one <= PARALLEL_GOAL,
        ),
    ]
    for line, met in goals:
        print(f"{line}: {verdict(met)}")
    print(f"parallel / sequence: {parallel / sequence:.3f}x (ideal {1 / TEAM:.3f}x)")
    return all(met for _, met in goals)


async def profiled(rig: Rig, count: int) -> pstats.Stats:
    with fake_llm(call_a_tool_first) as server:
        gateway = rig.gateway()
        agent = rig.agent(server, gateway)
        await turns(agent, rig.days(WARMUP_TURNS))
        asked = rig.days(count)
        profile = cProfile.Profile()
        profile.enable()
        await turns(agent, asked)
        profile.disable()
        gateway.store.close()
    return pstats.Stats(profile)


def package(filename: str) -> str:
    """agno, openai, anthropic, httpx, sqlalchemy...; agents, tools, trading; or stdlib."""
    parts = Path(filename).parts
    if "site-packages" in parts and parts[-1] != "site-packages":
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if filename.startswith(str(ROOT)):
        return Path(filename).relative_to(ROOT).parts[0]
    return "stdlib"


def print_profile(stats: pstats.Stats, count: int) -> None:
    """Time spent entering each part from outside it, and self time by package (a C function
    charged to its caller's package), per turn."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]

    def entered(inside: Callable[[Any], bool], caller_inside: Callable[[Any], bool]) -> float:
        total = 0.0
        for func, (_, _, _, _, callers) in table.items():
            if inside(func):
                total += sum(v[3] for c, v in callers.items() if caller_inside(c) and not inside(c))
        return total * 1e3 / count

    def named(path: str, *names: str) -> Callable[[Any], bool]:
        return lambda f: f[0].endswith(path) and f[2] in names

    def under(*packages: str) -> Callable[[Any], bool]:
        return lambda f: f[0] != "~" and package(f[0]) in packages

    turn = sum(v[3] for f, v in table.items() if named("agents/llm_agent.py", "thesis")(f))
    turn_ms = turn * 1e3 / count
    agno = entered(under("agno"), under("agents"))
    gateway = entered(named("agents/models.py", "invoke"), lambda f: True)
    sdks = ("openai", "anthropic", "httpx", "httpx2", "httpcore", "httpcore2", "anyio")
    wire = entered(under(*sdks), under("agno", "agents"))
    store = entered(named("agents/llm_calls.py", "recording", "save"), under("agents"))
    hop = entered(under("tools"), under("agents"))
    waiting = sum(v[2] for f, v in table.items() if f[0] == "~" and "poll" in f[2]) * 1e3 / count
    print()
    print(
        f"cProfile of {count} zero-latency tool turns (the event loop thread; profiling slows "
        "Python code, so read shares, not absolute times), ms per turn:"
    )
    print(f"  LlmAgent.thesis, all of it (CPU on the event loop)    {turn_ms:6.2f}")
    print(f"    agno Agent.arun, all of it                         {agno:6.2f}")
    print(f"      model calls through the door (invoke), all of it {gateway:6.2f}")
    print(f"        the SDK and httpx (entered from agno/agents)  {wire:6.2f}")
    print(f"        SQLite: recording lookups and writes, cost log {store:6.2f}")
    print(f"      tool hop to the worker thread (not the tool)     {hop:6.2f}")
    print(f"      agno itself (arun minus gateway and tool hop)    {agno - gateway - hop:6.2f}")
    print(f"    prompt, validation, bookkeeping (thesis - arun)    {turn_ms - agno:6.2f}")
    print(f"  waiting in epoll (server, tool thread, loopback)     {waiting:6.2f}")
    own: dict[str, float] = {}
    for func, (_, _, tottime, _, callers) in table.items():
        if func[0] == "~" and "poll" in func[2]:
            continue  # waiting, shown above
        name = "stdlib" if func[0] == "~" else package(func[0])
        if name != "stdlib":
            own[name] = own.get(name, 0.0) + tottime
            continue
        for caller, values in callers.items():  # typing and json work for whoever calls them
            charged = "stdlib" if caller[0] == "~" else package(caller[0])
            own[charged] = own.get(charged, 0.0) + values[2]
    print("  self time by package (C and stdlib calls charged to the caller's package):")
    for name, seconds in sorted(own.items(), key=lambda item: -item[1])[:10]:
        print(f"    {name:20s} {seconds * 1e3 / count:6.2f}")
    print(f"top functions by self time over {count} turns:")
    stats.sort_stats("tottime").print_stats(15)


async def run(rig: Rig, args: argparse.Namespace) -> bool:
    # One event loop for everything: the wires keep their HTTP clients from call to call.
    try:
        zero = await zero_latency(rig, args.turns)
        tool = tool_seconds(rig, args.turns)
        latency = await with_latency(rig, args.rounds)
        met = report(zero, tool, latency)
        if args.profile:
            print_profile(await profiled(rig, PROFILE_TURNS), PROFILE_TURNS)
        elif not met:
            print("a goal was missed: run with --profile to see where a turn's time goes")
    finally:
        await close_model_clients()
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100, help="zero-latency turns of each kind")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the 200 ms comparison")
    parser.add_argument("--profile", action="store_true", help="cProfile some tool turns")
    args = parser.parse_args()
    loopback_only()
    print(
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores; agno {importlib.metadata.version('agno')}, "
        f"openai {importlib.metadata.version('openai')}, "
        f"anthropic {importlib.metadata.version('anthropic')}"
    )
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(Rig(Catalog.default(), Path(folder)), args))
    sys.exit(0)  # a missed goal is a figure to read, not a failure


if __name__ == "__main__":
    main()
