"""An LLM agent on agno: asked for one typed thesis per symbol, it gathers evidence with the
project's tools in-process and answers in JSON that must validate as a `Thesis`.

An invalid answer (not JSON, wrong fields, a confidence of 7, evidence from a tool it never
called) goes back to the model with the validation error, at most twice; after that, when no
model answers, or when the turn reaches its cap on model calls or its deadline, the agent
abstains with the reason. It never crashes the run and never turns
a failure into a hold. Only two things stop a run: the budget (`BudgetExceeded`) and a replay
that meets a question its original never asked (`ReplayMiss`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from agents.anonymise import Anonymiser
from agents.availability import availability
from agents.gateway import LlmGateway, LlmUnavailable, TurnLimitReached, TurnLimits
from agents.mcp_sources import caveat, refuse_on_history
from agents.mcp_tools import McpToolset, external_server, own_server
from agents.portfolio_thesis import (
    PortfolioThesis,
    PortfolioThesisReply,
    check_reply,
    now_text,
    portfolio_request,
    portfolio_schema,
    to_thesis,
)
from agents.prompts import instructions, reask, thesis_request
from agents.providers import ModelRef, ProvidersConfig
from agents.specs import NOT_FOR_AGENTS, Abstention, AgentSpec, Thesis, ThesisReply
from agents.structured import (
    PROMPT_SOURCE,
    SUBMIT_TOOL,
    answer_schema,
    mode_for,
    request_params,
    submit_tool,
    submitted,
    weight_bound_pct,
)
from agents.turn_counts import TurnCounts
from agents.universe_table import render, universe_rows
from tools.context import ToolContext
from tools.registry import TOOLS, ToolSpec, bind
from trading.clock import ReplayClock
from trading.closed import Closed
from trading.data import EARLIEST, Catalog
from trading.decision import Decision, Snapshot
from trading.errors import ConfigError

if TYPE_CHECKING:
    from agno.models.message import Message

MAX_REASKS = 2
TOOL_CALLS_PER_ATTEMPT = 8
# Room for an attempt that spends every tool call one by one (9 calls) and two short re-asks;
# past it the model is looping, which agno's tool-call limit does not stop.
MODEL_CALLS_PER_TURN = 16
TURN_DEADLINE_TIMEOUTS = 5  # a turn may last five of its calls' timeouts (the longest model's)
WEIGHT_PLACES = Decimal("0.0001")
Answer = TypeVar("Answer", Thesis, PortfolioThesis)


class ToolUse(Closed):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    error: bool = False
    result: str = ""


class Attempt(Closed):
    reply: str
    tools: list[ToolUse] = Field(default_factory=list)
    error: str | None = None  # why the reply was refused, or why none came; None: accepted
    # False when no model answered (a timeout, an outage): the tools are those it called first.
    answered: bool = True


class Turn(Closed):
    """One request for a thesis and everything that came of it, for the transcript."""

    agent: str
    symbol: str
    attempts: list[Attempt]
    outcome: Thesis | Abstention
    caveat: str | None = None  # e.g. the agent's external tools are not proven point-in-time

    @property
    def thesis(self) -> Thesis | None:
        return self.outcome if isinstance(self.outcome, Thesis) else None


class PortfolioTurn(Closed):
    """One request for a whole portfolio (`agents.portfolio_thesis`): one conversation for
    every symbol of the snapshot, ending in a thesis per symbol or one abstention for all."""

    agent: str
    symbols: tuple[str, ...]
    attempts: list[Attempt]
    outcome: PortfolioThesis | Abstention

    def turns(self) -> list[Turn]:
        """Its views as single-symbol turns, the form debate and the coordinator weigh; the
        attempts stay with this record, which the transcript keeps once."""
        outcome = self.outcome
        if isinstance(outcome, Abstention):
            return [
                Turn(
                    agent=self.agent,
                    symbol=s,
                    attempts=[],
                    outcome=outcome.model_copy(update={"symbol": s}),
                )
                for s in self.symbols
            ]
        theses = outcome.by_symbol()
        return [
            Turn(agent=self.agent, symbol=s, attempts=[], outcome=theses[s]) for s in self.symbols
        ]


class LlmAgent:
    """Lives for the whole run. Symbols are judged one after another (one agno agent, one
    conversation at a time); a team runs its agents concurrently."""

    def __init__(
        self,
        spec: AgentSpec,
        gateway: LlmGateway,
        models: Sequence[ModelRef],
        catalog: Catalog,
        *,
        on_history: bool = True,
        anonymiser: Anonymiser | None = None,
    ) -> None:
        """`on_history`: the run trades past bars (not a live market), so an external MCP
        server that cannot be proven point-in-time is refused."""
        if anonymiser is not None and (spec.tools or spec.mcp_servers):
            # Tools read the real series under their real names and dates: they would undo
            # the renaming and rebasing the table does.
            raise ConfigError(
                f"agent {spec.name!r}: anonymise: true needs an agent without tools (tools: "
                "[]), which judges from the anonymised table in its prompt"
            )
        barred = sorted(set(spec.tools) & NOT_FOR_AGENTS)
        if barred:
            raise ConfigError(
                f"agent {spec.name!r}: tools {barred!r} are not for agents (the portfolio is in "
                "the prompt; orders are placed by the team after the risk gate); remove them"
            )
        unable = [ref.reference for ref in models if not ref.info.tools]
        if (spec.tools or spec.mcp_servers) and unable:
            # Refused, not rewritten: a model that cannot call tools would cite data it never
            # saw. An agent without tools judges from the figures in its prompt.
            raise ConfigError(
                f"agent {spec.name!r}: model {', '.join(unable)} does not call tools "
                "(providers.yaml: tools: false); give the agent tools: [] to judge from the "
                "figures in its prompt, or a model that calls tools"
            )
        if on_history:
            refuse_on_history(spec.name, spec.mcp_servers)
        quiet_agno()
        self.spec = spec
        self.caveat = caveat(spec.mcp_servers)
        self.anonymiser = anonymiser
        # How the answer's schema is asked for (`agents.structured`), the same for every turn.
        self._mode = mode_for(models)
        self._submit = submit_tool() if self._mode == "tool_call" else None
        lock = asyncio.Lock()
        self._client = gateway.client(
            spec.name,
            models,
            spec.timeout_s,
            temperature=spec.temperature,
            max_tokens=spec.max_tokens,
        )
        call_s = max(ref.provider.call_timeout(spec.timeout_s, spec.max_tokens) for ref in models)
        self._limits = TurnLimits(MODEL_CALLS_PER_TURN, TURN_DEADLINE_TIMEOUTS * call_s)
        # The tools' world: the run's data as of the snapshot being judged.
        self._clock = ReplayClock(EARLIEST)
        self._context = ToolContext.paper(catalog, clock=self._clock, session=spec.name)
        from agno.agent import Agent
        from agno.models.fallback import FallbackConfig

        self.mcp = self._mcp_toolset(gateway)
        offered = [] if self.mcp is None else self.mcp.functions()
        local = [t for t in TOOLS if t.name in spec.tools] if spec.tools_via == "in_process" else []
        tools: list[Any] = [*offered, *(_agent_tool(t, self._context, lock) for t in local)]
        # The tools a thesis may cite: those offered, in process or through MCP.
        self._citable = tuple([str(f.name) for f in offered] + [t.name for t in local])
        if self._submit is not None:
            tools.append(self._submit)
        primary, *fallbacks = self._client.models
        self._agent = Agent(
            name=spec.name,
            model=primary,
            # agno asks the fallback for the whole reply when the primary fails for a reason
            # another model may not have (5xx, timeouts, rate limits; never a refused request).
            fallback_config=FallbackConfig(on_error=list(fallbacks)) if fallbacks else None,
            instructions=instructions(spec),
            tools=tools,
            tool_call_limit=TOOL_CALLS_PER_ATTEMPT,
            telemetry=False,
        )
        self._bars_seen = 0
        self.turns: list[Turn] = []  # the latest decision's turns, for transcripts
        self.portfolio_turns: list[PortfolioTurn] = []  # the latest decision's, if it asked so
        self.turn_counts = TurnCounts()  # every turn's, for the run's report (calls aside)

    def _mcp_toolset(self, gateway: LlmGateway) -> McpToolset | None:
        """The spec's MCP servers, started and listed now: one that fails stops the run
        before its first cycle."""
        spec = self.spec
        servers = [external_server(source) for source in spec.mcp_servers]
        if spec.tools_via == "mcp":
            from mcp_server.server import build_server

            context = self._context
            servers.insert(
                0, own_server(spec.mcp_transport, spec.tools, lambda: build_server(context))
            )
        return McpToolset(spec.name, servers, gateway, self._clock) if servers else None

    async def aclose(self) -> None:
        """Close the agent's MCP connections (a run's end cancels them otherwise)."""
        if self.mcp is not None:
            await self.mcp.aclose()

    @property
    def name(self) -> str:
        return self.spec.name

    async def thesis(self, snapshot: Snapshot, symbol: str, note: str | None = None) -> Turn:
        """Ask for a thesis on `symbol` at the snapshot's moment; `note` adds context, such
        as the other agents' theses in a debate round."""
        turn = await self._thesis(snapshot, symbol, note)
        self.turn_counts += TurnCounts.of(
            attempts=len(turn.attempts), valid=turn.thesis is not None
        )
        return turn

    async def _thesis(self, snapshot: Snapshot, symbol: str, note: str | None) -> Turn:
        if snapshot.now > self._clock.now():
            self._clock.advance_to(snapshot.now)
        bar = snapshot.view.last_bar(symbol)
        portfolio = snapshot.portfolio
        schema = answer_schema(symbol, self._citable, self.spec.max_weight)
        # One conversation at a time (see the class), so the model's parameters are this turn's.
        self._client.ask_with(request_params(self._mode, schema))
        if self._submit is not None:
            self._submit.parameters = schema
        prompt = thesis_request(
            self.spec,
            symbol=symbol,
            now=snapshot.now,
            last_close=bar.close,
            last_bar=bar.time,
            equity=portfolio.equity,
            cash=portfolio.cash,
            weight=portfolio.weight(symbol),
            schema=schema,
            mode=self._mode,
            note=note,
        )
        from agno.models.message import Message

        with self._client.turn(self._limits):
            return await self._converse(symbol, [Message(role="user", content=prompt)])

    @property
    def judges_portfolios(self) -> bool:
        """Whether it answers every symbol in one turn (`portfolio`) rather than one each."""
        return self.spec.portfolio or self.anonymiser is not None

    async def portfolio(self, snapshot: Snapshot, note: str | None = None) -> PortfolioTurn:
        """Ask for a view on every symbol of the snapshot in one turn, from a point-in-time
        table of the universe (anonymised when the agent is); `note` adds context, such as
        the other members' views in a debate round."""
        if snapshot.now > self._clock.now():
            self._clock.advance_to(snapshot.now)
        symbols = snapshot.symbols
        anonymiser = self.anonymiser
        shown = {s: s if anonymiser is None else anonymiser.alias(s) for s in symbols}
        real = {name: s for s, name in shown.items()}
        rows = universe_rows(snapshot, anonymiser)
        schema = portfolio_schema([r.symbol for r in rows], self._citable, self.spec.max_weight)
        self._client.ask_with(request_params(self._mode, schema))
        if self._submit is not None:
            self._submit.parameters = schema
        prompt = portfolio_request(
            self.spec,
            now=now_text(snapshot.now) if anonymiser is None else anonymiser.day(snapshot.now),
            table=render(rows),
            equity=snapshot.portfolio.equity,
            cash=snapshot.portfolio.cash,
            schema=schema,
            mode=self._mode,
            note=note,
        )

        def validate(reply: str, called: set[str]) -> PortfolioThesis:
            answer = _parsed(PortfolioThesisReply, reply)
            check_reply(answer, list(real), self.spec.max_weight, called)
            return to_thesis(answer, real)

        from agno.models.message import Message

        with self._client.turn(self._limits):
            attempts, outcome = await self._conversation(
                [Message(role="user", content=prompt)], validate
            )
        result = PortfolioTurn(
            agent=self.name,
            symbols=symbols,
            attempts=attempts,
            outcome=outcome
            if isinstance(outcome, PortfolioThesis)
            else Abstention(agent=self.name, symbol=",".join(symbols), reason=outcome),
        )
        self.turn_counts += TurnCounts.of(
            attempts=len(attempts), valid=isinstance(outcome, PortfolioThesis)
        )
        return result

    async def _converse(self, symbol: str, messages: list[Message]) -> Turn:
        attempts, outcome = await self._conversation(
            messages, lambda reply, called: self._validate(reply, symbol, called)
        )
        if isinstance(outcome, str):
            return self._turn(symbol, attempts, outcome)
        return Turn(
            agent=self.name, symbol=symbol, attempts=attempts, outcome=outcome, caveat=self.caveat
        )

    async def _conversation(
        self, messages: list[Message], validate: Callable[[str, set[str]], Answer]
    ) -> tuple[list[Attempt], Answer | str]:
        """The attempts, and the answer `validate` accepted or why none was (an abstention)."""
        from agno.models.message import Message

        attempts: list[Attempt] = []
        called: set[str] = {PROMPT_SOURCE}
        error = ""
        for _ in range(1 + MAX_REASKS):
            try:
                reply, tools, failure = await self._ask(messages)
            except TurnLimitReached as limit:
                return attempts, str(limit)
            if failure is not None:
                reason = f"no model answered: {failure}"
                attempts.append(Attempt(reply=reply, tools=tools, error=reason, answered=False))
                return attempts, reason
            called |= {t.name for t in tools if not t.error and t.name != SUBMIT_TOOL}
            try:
                answer = validate(reply, called)
            except ValueError as refused:
                error = str(refused)
                attempts.append(Attempt(reply=reply, tools=tools, error=error))
                messages += [
                    Message(role="assistant", content=reply or "(empty reply)"),
                    Message(role="user", content=reask(error)),
                ]
                continue
            attempts.append(Attempt(reply=reply, tools=tools))
            return attempts, answer
        return attempts, f"no valid thesis after {len(attempts)} tries: {error}"

    async def decide(self, snapshot: Snapshot) -> Decision:
        """Targets from this agent's own theses, every `decide_every` bars; hold in between."""
        self._bars_seen += 1
        if (self._bars_seen - 1) % self.spec.decide_every:
            return Decision({}, rationale="between decisions")
        if self.judges_portfolios:
            self.portfolio_turns = [await self.portfolio(snapshot)]
            self.turns = self.portfolio_turns[0].turns()
            return decision_from_theses(self.spec, self.turns)
        self.turns = [await self.thesis(snapshot, symbol) for symbol in snapshot.symbols]
        return decision_from_theses(self.spec, self.turns)

    async def _ask(
        self, messages: list[Message]
    ) -> tuple[str, list[ToolUse], LlmUnavailable | None]:
        """The reply and the tools called for it; or, when no model answered, the tools called
        before that and why. Every other failure (the budget, a replay miss) is raised."""
        self._client.begin()
        from agno.run.base import RunStatus

        output = await self._agent.arun(input=list(messages))
        failure: LlmUnavailable | None = None
        if self._client.error is not None:
            # agno turns exceptions into an errored run; ours carry meaning, so raise them.
            raise self._client.error
        if output.status == RunStatus.error:
            failure = self._client.unavailable() or LlmUnavailable(
                f"the agent run failed: {output.content}"
            )
        if failure is not None:
            # An errored run lists no tools; the tool messages of its conversation hold them.
            called = [m for m in output.messages or [] if m.role == "tool"]
            tools = [
                _tool_use(m.tool_name, m.tool_args, m.tool_call_error, m.content) for m in called
            ]
            return "", tools, failure
        executions = output.tools or []
        tools = [
            _tool_use(t.tool_name, t.tool_args, t.tool_call_error, t.result) for t in executions
        ]
        # A tool_call model answers through submit_thesis: its arguments are the reply.
        answers = [submitted(str(t.tool_name), t.tool_args) for t in executions]
        answer = next((a for a in reversed(answers) if a is not None), None)
        return answer or _final_reply(output), tools, None

    def _validate(self, reply: str, symbol: str, called: set[str]) -> Thesis:
        answer = _parsed(ThesisReply, reply)
        if answer.symbol != symbol:
            raise ValueError(f"symbol must be {symbol!r}, got {answer.symbol!r}")
        bound = weight_bound_pct(self.spec.max_weight)
        if abs(answer.target_weight_pct) > bound:
            raise ValueError(
                f"target_weight_pct {answer.target_weight_pct!r} is outside [-{bound}, {bound}]"
            )
        uncited = sorted({e.tool for e in answer.evidence} - called)
        if uncited:
            raise ValueError(
                f"evidence cites {uncited!r}, which gave no result in this conversation; cite "
                f"only tools you called ({', '.join(sorted(called - {PROMPT_SOURCE})) or 'none'}) "
                'or "prompt"'
            )
        return answer.thesis()

    def _turn(self, symbol: str, attempts: list[Attempt], reason: str) -> Turn:
        outcome = Abstention(agent=self.name, symbol=symbol, reason=reason)
        return Turn(
            agent=self.name, symbol=symbol, attempts=attempts, outcome=outcome, caveat=self.caveat
        )


def decision_from_theses(spec: AgentSpec, turns: Sequence[Turn]) -> Decision:
    """Buy and sell theses set targets (capped by the spec); a hold, a thesis below the spec's
    confidence floor and an abstention leave the position as it is, each said so."""
    targets: dict[str, Decimal] = {}
    notes: list[str] = []
    details: dict[str, float] = {}
    abstentions: dict[str, str] = {}
    for turn in turns:
        outcome = turn.outcome
        if isinstance(outcome, Abstention):
            abstentions[turn.symbol] = outcome.reason
            notes.append(f"{turn.symbol}: abstain ({outcome.reason})")
            continue
        details[f"{turn.symbol}.confidence"] = outcome.confidence
        if outcome.stance == "hold":
            notes.append(f"{turn.symbol}: hold, {outcome.rationale}")
        elif outcome.confidence < spec.min_confidence:
            notes.append(
                f"{turn.symbol}: {outcome.stance} at confidence {outcome.confidence} is below "
                f"{spec.min_confidence}, so hold"
            )
        else:
            weight = max(-spec.max_weight, min(spec.max_weight, outcome.target_weight))
            targets[turn.symbol] = Decimal(str(weight)).quantize(WEIGHT_PLACES)
            notes.append(f"{turn.symbol}: {outcome.stance} {weight:+.4f}, {outcome.rationale}")
    return Decision(targets, rationale="; ".join(notes), details=details, abstentions=abstentions)


def build_models(spec: AgentSpec, providers: ProvidersConfig) -> list[ModelRef]:
    """The spec's model, then its fallback, resolved against providers.yaml."""
    refs = [providers.resolve(spec.model)]
    if spec.fallback_model:
        refs.append(providers.resolve(spec.fallback_model))
    return refs


def usable_models(agent: str, models: Sequence[ModelRef]) -> list[ModelRef]:
    """The models this machine can call (key set, or local server answering), in order; when
    there are none, a `ConfigError` saying which variable or server would enable one."""
    usable, reasons = [], []
    for ref in models:
        state = availability(ref.provider)
        if state.usable:
            usable.append(ref)
        else:
            reasons.append(f"{ref.reference}: {state.reason}")
    if not usable:
        raise ConfigError(f"agent {agent!r} has no usable model here; " + "; ".join(reasons))
    return usable


def _agent_tool(spec: ToolSpec, ctx: ToolContext, lock: asyncio.Lock) -> Callable[..., Any]:
    """The bound tool, answering in JSON text: what the model reads in the tool message."""
    bound = bind(spec, ctx, lock)

    @functools.wraps(bound)
    async def tool(*args: Any, **kwargs: Any) -> str:
        result = await bound(*args, **kwargs)
        if isinstance(result, BaseModel):
            return result.model_dump_json()
        return json.dumps(result, default=str)

    tool.__signature__ = bound.__signature__.replace(  # type: ignore[attr-defined]
        return_annotation=str
    )
    tool.__annotations__ = {**bound.__annotations__, "return": str}
    del tool.__wrapped__  # introspection must see the signature above
    return tool


def _final_reply(output: Any) -> str:
    """The model's last message: agno's run content joins the text of every round, and a
    model may write a line before its tool calls ("Let me look that up."), as Claude does."""
    replies = [m for m in output.messages or [] if m.role == "assistant"]
    if not replies:
        return str(output.content or "").strip()
    return str(replies[-1].get_content_string() or "").strip()


def _tool_use(name: object, arguments: object, error: object, result: object) -> ToolUse:
    return ToolUse(
        name=str(name),
        arguments=dict(arguments) if isinstance(arguments, dict) else {},
        error=bool(error),
        result=str(result or "")[:2000],
    )


Reply = TypeVar("Reply", ThesisReply, PortfolioThesisReply)


def _parsed(model: type[Reply], reply: str) -> Reply:
    """The reply as `model`; `ValueError` with what is wrong, for the re-ask."""
    if not reply:
        raise ValueError("the reply was empty; a JSON object is required")
    try:
        return model.model_validate_json(_unfenced(reply))
    except ValidationError as invalid:
        raise ValueError(_explain(invalid)) from None


def _unfenced(reply: str) -> str:
    """Models often wrap JSON in a Markdown code fence; the JSON inside is still the answer."""
    text = reply.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.removesuffix("```").strip()
    return text


def _explain(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "answer"
        problems.append(f"{field}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def quiet_agno() -> None:
    # agno logs tool failures to stdout, which would corrupt `--json` output; the transcript
    # records every tool error instead. Disabled, not levelled: agno resets its level each run.
    logging.getLogger("agno").disabled = True
