"""What an LLM agent is (its spec, the genome evolution tunes) and what it must answer (typed
theses and decisions). Every field is bounded, so a mutation or a model's reply can never take
a value outside what the rest of the system is built for."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from agents.mcp_sources import McpSource, Transport, check_sources
from tools.registry import TOOLS
from trading.closed import Closed

# Tools an agent may not hold: its portfolio is in the prompt, and orders are the team's
# decision after the risk gate, never an analyst's side effect.
NOT_FOR_AGENTS = frozenset({"get_portfolio", "analyze_portfolio"}) | frozenset(
    t.name for t in TOOLS if t.trading
)

TOOL_NAMES = frozenset(spec.name for spec in TOOLS)
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class Role(StrEnum):
    MARKET_ANALYST = "market_analyst"
    TECHNICAL_ANALYST = "technical_analyst"
    SENTIMENT_ANALYST = "sentiment_analyst"
    BULL = "bull"
    BEAR = "bear"
    RISK_MANAGER = "risk_manager"
    PORTFOLIO_MANAGER = "portfolio_manager"
    QUANT_RESEARCHER = "quant_researcher"
    CUSTOM = "custom"


DEFAULT_TOOLS = ("get_market_summary", "compute_indicator", "get_news_sentiment")
# A role whose work needs tools beyond the default: what its spec holds unless it names its own.
ROLE_TOOLS: dict[Role, tuple[str, ...]] = {
    Role.QUANT_RESEARCHER: ("evaluate_factor", "get_factor_series", "get_market_summary"),
}


class AgentSpec(Closed):
    name: Name = Field(description="Unique agent name: lower case, digits, - and _.")
    role: Role
    persona: str | None = Field(
        None, max_length=4000, description="The system prompt of a custom role; custom only."
    )
    model: str = Field(
        min_length=3, max_length=128, description="provider:model from providers.yaml, or alias."
    )
    fallback_model: str | None = Field(None, min_length=3, max_length=128)
    temperature: float = Field(0.2, ge=0.0, le=1.5)
    max_tokens: int = Field(1024, ge=64, le=16_384)
    tools: tuple[str, ...] = Field(
        DEFAULT_TOOLS,
        max_length=len(TOOL_NAMES),
        description="Tools the agent may call; order tools are never offered to analysts.",
    )
    max_weight: float = Field(1.0, ge=0.0, le=1.0, description="Largest |target weight|.")
    min_confidence: float = Field(
        0.0, ge=0.0, le=1.0, description="Theses below this confidence count as hold."
    )
    timeout_s: float = Field(60.0, ge=1.0, le=600.0, description="Per LLM call.")
    portfolio: bool = Field(
        False,
        description="Judge every symbol of a decision in one turn, from a table of the "
        "universe (one LLM call per decision, not one per symbol).",
    )
    decide_every: int = Field(
        5,
        ge=1,
        le=250,
        description="Decide on every n-th bar and hold in between: LLM calls are slow and paid.",
    )
    tools_via: Literal["in_process", "mcp"] = Field(
        "in_process", description="Reach tradepit's own tools in-process or via its MCP server."
    )
    mcp_transport: Transport = Field(
        "memory",
        description="With tools_via mcp: the server in memory, or a stdio subprocess serving "
        "the bundled data.",
    )
    mcp_servers: tuple[McpSource, ...] = Field(
        (), max_length=8, description="External MCP servers, each with an allow-list of tools."
    )

    @model_validator(mode="before")
    @classmethod
    def _role_tools(cls, data: object) -> object:
        if isinstance(data, dict) and "tools" not in data:
            role = data.get("role")
            if role in {r.value for r in ROLE_TOOLS}:
                return {**data, "tools": ROLE_TOOLS[Role(role)]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        unknown = sorted(set(self.tools) - TOOL_NAMES)
        if unknown:
            raise ValueError(
                f"unknown tools {unknown!r}; available: {', '.join(sorted(TOOL_NAMES))}"
            )
        if len(set(self.tools)) != len(self.tools):
            raise ValueError(f"tools are listed twice: {list(self.tools)!r}")
        if (self.role is Role.CUSTOM) != (self.persona is not None):
            raise ValueError("a custom role needs a persona, and only a custom role takes one")
        check_sources(self.mcp_servers)
        return self


class Evidence(Closed):
    tool: str = Field(max_length=64, description="The tool whose result is cited.")
    detail: str = Field(max_length=500, description="The figure or fact taken from it.")


class Thesis(Closed):
    """One agent's view of one symbol, in fractions: what teams weigh. An LLM writes a
    `ThesisReply`; a quant member states its exact target weight here directly."""

    symbol: str = Field(min_length=1, max_length=32)
    stance: Literal["buy", "sell", "hold"]
    confidence: float = Field(ge=0.0, le=1.0)
    target_weight: float = Field(ge=-1.0, le=1.0, description="Share of equity; negative: short.")
    horizon_days: int = Field(ge=1, le=365)
    rationale: str = Field(min_length=1, max_length=2000)
    evidence: list[Evidence] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _stance_matches_weight(self) -> Self:
        check_stance(self.stance, self.target_weight, "target_weight")
        return self


def check_stance(stance: str, weight: float, field: str, *, who: str = "") -> None:
    """A buy holds a positive weight; a sell holds none or a short one. `who`: the symbol the
    error names first, if any."""
    at = f"{who}: " if who else ""
    if stance == "buy" and weight <= 0:
        raise ValueError(f"{at}a buy stance needs a positive {field}")
    if stance == "sell" and weight > 0:
        raise ValueError(f"{at}a sell stance needs a {field} of zero or below")


PERCENT = 100


class EvidenceReply(Closed):
    tool: str = Field(
        max_length=64,
        description='The tool whose result is cited, or "prompt" for a figure '
        "stated in the request.",
    )
    detail: str = Field(max_length=500, description="The figure or fact taken from it.")


class ThesisReply(Closed):
    """A thesis as a model writes it: whole percents and closed choices, so that a model held
    to this schema by constrained decoding (`agents.structured`) cannot write a weight of
    -25.8 or a confidence of 7. It becomes a `Thesis`, in fractions, once it validates."""

    symbol: str = Field(min_length=1, max_length=32, description="The instrument judged.")
    # Every field has a description: agno's Claude class writes an empty one into each tool
    # parameter without one, so the submit_thesis schema would differ from the turn's.
    stance: Literal["buy", "sell", "hold"] = Field(description="The view on the instrument.")
    confidence_pct: int = Field(
        ge=0, le=PERCENT, description="Confidence in whole percent: 0 a guess, 100 certain."
    )
    target_weight_pct: int = Field(
        ge=-PERCENT,
        le=PERCENT,
        description="Share of equity to hold, in whole percent; negative: short.",
    )
    horizon_days: int = Field(ge=1, le=365, description="Days the view is meant to hold.")
    rationale: str = Field(min_length=1, max_length=2000, description="Why, in a few sentences.")
    evidence: list[EvidenceReply] = Field(
        min_length=1,
        max_length=10,
        description="The figures the thesis rests on, each from a tool result or the prompt.",
    )

    @model_validator(mode="after")
    def _stance_matches_weight(self) -> Self:
        check_stance(self.stance, self.target_weight_pct, "target_weight_pct")
        return self

    def thesis(self) -> Thesis:
        return Thesis(
            symbol=self.symbol,
            stance=self.stance,
            confidence=self.confidence_pct / PERCENT,
            target_weight=self.target_weight_pct / PERCENT,
            horizon_days=self.horizon_days,
            rationale=self.rationale,
            evidence=[Evidence(tool=e.tool, detail=e.detail) for e in self.evidence],
        )


class TradeDecision(Closed):
    """The team's decision for one symbol, before the risk gate."""

    symbol: str = Field(min_length=1, max_length=32)
    action: Literal["buy", "sell", "hold"]
    target_weight: float = Field(ge=-1.0, le=1.0)
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(min_length=1, max_length=2000)


class Abstention(Closed):
    """An agent that gave no valid thesis says so, with the reason: it is left out of the
    team's weights, never counted as a hold."""

    agent: str
    symbol: str
    reason: str = Field(min_length=1)
