"""A portfolio decision in one turn: the model sees a table of the whole universe and answers
one `PortfolioThesisReply`, a stance, confidence and weight for every symbol, with evidence.
It becomes one `Thesis` per symbol, so debate and the coordinator merge it per symbol exactly
as they merge single-symbol theses; only the number of LLM calls changes (one per agent per
decision, never one per symbol).

The reply is held to its schema the way a single thesis is (`agents.structured`): whole
percents, enum stances, the universe's symbols and the agent's tools as enums, the list of
views exactly as long as the universe, in the flat subset grammar engines handle.
"""

from __future__ import annotations

import copy
import functools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from agents.prompts import with_rules
from agents.providers import StructuredOutput
from agents.specs import PERCENT, AgentSpec, Evidence, EvidenceReply, Thesis, check_stance
from agents.structured import PROMPT_SOURCE, grammar_schema, weight_bound_pct
from trading.closed import Closed

MAX_SYMBOLS = 64


class SymbolViewReply(Closed):
    """One symbol's view inside a portfolio answer, in whole percents."""

    symbol: str = Field(min_length=1, max_length=32, description="The instrument judged.")
    stance: Literal["buy", "sell", "hold"]
    confidence_pct: int = Field(
        ge=0, le=PERCENT, description="Confidence in whole percent: 0 a guess, 100 certain."
    )
    target_weight_pct: int = Field(
        ge=-PERCENT,
        le=PERCENT,
        description="Share of equity to hold in this symbol, in whole percent; negative: short.",
    )
    rationale: str = Field(min_length=1, max_length=600)
    evidence: list[EvidenceReply] = Field(min_length=1, max_length=4)

    @model_validator(mode="after")
    def _stance_matches_weight(self) -> Self:
        check_stance(self.stance, self.target_weight_pct, "target_weight_pct", who=self.symbol)
        return self


class PortfolioThesisReply(Closed):
    """A portfolio as a model writes it: one view per symbol of the universe, each once."""

    horizon_days: int = Field(ge=1, le=365, description="Days the views are meant to hold.")
    rationale: str = Field(min_length=1, max_length=2000, description="The portfolio's case.")
    views: list[SymbolViewReply] = Field(min_length=1, max_length=MAX_SYMBOLS)

    @model_validator(mode="after")
    def _each_symbol_once(self) -> Self:
        counts = Counter(v.symbol for v in self.views)
        twice = sorted(s for s, n in counts.items() if n > 1)
        if twice:
            raise ValueError(f"symbols judged twice: {twice!r}")
        return self


class PortfolioThesis(Closed):
    """One agent's portfolio, in fractions: a `Thesis` per symbol, under the real names."""

    theses: tuple[Thesis, ...] = Field(min_length=1, max_length=MAX_SYMBOLS)
    rationale: str = Field(min_length=1, max_length=2000)

    def by_symbol(self) -> dict[str, Thesis]:
        return {t.symbol: t for t in self.theses}


def check_reply(
    answer: PortfolioThesisReply,
    symbols: Sequence[str],
    max_weight: float,
    called: set[str],
) -> None:
    """What the schema cannot say or a server may not enforce; `ValueError` names the fault,
    for the re-ask."""
    judged = [v.symbol for v in answer.views]
    unknown = sorted(set(judged) - set(symbols))
    if unknown:
        raise ValueError(f"symbols {unknown!r} are not in the universe ({', '.join(symbols)})")
    missing = [s for s in symbols if s not in judged]
    if missing:
        raise ValueError(f"views are missing for {missing!r}; judge every symbol once")
    bound = weight_bound_pct(max_weight)
    outside = [v.symbol for v in answer.views if abs(v.target_weight_pct) > bound]
    if outside:
        raise ValueError(f"target_weight_pct of {outside!r} is outside [-{bound}, {bound}]")
    gross = sum(abs(v.target_weight_pct) for v in answer.views if v.stance != "hold")
    if gross > PERCENT:
        raise ValueError(
            f"the buy and sell weights add up to {gross}% of equity in absolute value; "
            f"keep the sum of |target_weight_pct| at {PERCENT} or below"
        )
    cited = {e.tool for v in answer.views for e in v.evidence}
    uncited = sorted(cited - called)
    if uncited:
        raise ValueError(
            f"evidence cites {uncited!r}, which gave no result in this conversation; cite "
            f"only tools you called ({', '.join(sorted(called - {PROMPT_SOURCE})) or 'none'}) "
            'or "prompt"'
        )


def to_thesis(answer: PortfolioThesisReply, real: Mapping[str, str]) -> PortfolioThesis:
    """The reply in fractions, each view under its real symbol (`real` maps the names the
    model saw, aliases under anonymisation, to the traded ones)."""
    return PortfolioThesis(
        rationale=answer.rationale,
        theses=tuple(
            Thesis(
                symbol=real[v.symbol],
                stance=v.stance,
                confidence=v.confidence_pct / PERCENT,
                target_weight=v.target_weight_pct / PERCENT,
                horizon_days=answer.horizon_days,
                rationale=v.rationale,
                evidence=[Evidence(tool=e.tool, detail=e.detail) for e in v.evidence],
            )
            for v in answer.views
        ),
    )


def portfolio_schema(
    symbols: Sequence[str], tools: Iterable[str], max_weight: float
) -> dict[str, Any]:
    """The JSON schema of one portfolio turn's answer; a fresh copy."""
    schema: dict[str, Any] = copy.deepcopy(
        _portfolio_schema(tuple(symbols), tuple(sorted(set(tools))), max_weight)
    )
    return schema


@functools.cache
def _portfolio_schema(
    symbols: tuple[str, ...], tools: tuple[str, ...], max_weight: float
) -> dict[str, Any]:
    schema = grammar_schema(PortfolioThesisReply)
    views = schema["properties"]["views"]
    views |= {"minItems": len(symbols), "maxItems": len(symbols)}
    view = views["items"]
    view.pop("description", None)
    view["properties"]["symbol"]["enum"] = list(symbols)
    bound = weight_bound_pct(max_weight)
    view["properties"]["target_weight_pct"] |= {"minimum": -bound, "maximum": bound}
    view["properties"]["evidence"]["items"]["properties"]["tool"]["enum"] = [
        *tools,
        PROMPT_SOURCE,
    ]
    return schema


PORTFOLIO_RULES = """You judge every instrument of this universe at once, in one answer: a
view on each symbol in the table, each exactly once.
Answer rules:
- stance "buy" needs a positive target_weight_pct; "sell" a target_weight_pct of zero or below
  (below zero is a short); "hold" keeps the current position whatever target_weight_pct says.
- target_weight_pct is the share of equity to hold in that symbol in whole percent, from {low}
  to {high}; the absolute buy and sell weights together add up to at most 100.
- confidence_pct runs from 0 (a guess) to 100 (certain), in whole percent.
- Every evidence item names the tool whose result it cites, or "prompt" for a figure stated in
  this message (the table's included), and quotes the figure.
{how}
JSON schema of the answer:
{schema}"""


def portfolio_request(
    spec: AgentSpec,
    *,
    now: str,
    table: str,
    equity: Decimal,
    cash: Decimal,
    schema: dict[str, Any],
    mode: StructuredOutput = "none",
    note: str | None = None,
) -> str:
    """The user message asking for one portfolio; `now` is as the model may see it (a date,
    or an offset under anonymisation), `table` the universe (`agents.universe_table`)."""
    lines = [
        f"Time now: {now}.",
        f"Your portfolio: equity {equity:.2f}, cash {cash:.2f}.",
        "The universe, from the closes known now (returns and drawdown in percent; weight: "
        "your current share of equity in it, in percent):",
        table,
    ]
    return with_rules(lines, note, PORTFOLIO_RULES, spec, schema, mode)


def now_text(now: datetime) -> str:
    return f"{now.isoformat()} (UTC)"
