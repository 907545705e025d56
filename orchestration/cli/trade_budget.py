"""An LLM budget of a `tradepit trade` run: the limits given by `--budget-usd` and
`--budget-tokens`, the default when neither is, and the `Budget` that counts a run's spend
against them (a resumed run's earlier calls included)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agents.llm_calls import Budget, LlmCall
from orchestration.cli.common import parse_decimal


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    usd: Decimal | None = None
    tokens: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"usd": None if self.usd is None else str(self.usd), "tokens": self.tokens}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BudgetLimits:
        usd, tokens = data.get("usd"), data.get("tokens")
        return cls(None if usd is None else Decimal(usd), None if tokens is None else int(tokens))

    def budget(self, earlier: list[LlmCall] | None = None) -> Budget:
        """A `Budget` with these limits that has already spent what `earlier` calls of the run
        cost: a resumed run keeps counting from where it stopped."""
        budget = Budget(max_tokens=self.tokens, max_usd=self.usd)
        for call in earlier or []:
            if not call.cached:
                budget.tokens += call.tokens
                budget.usd += call.cost_usd
        return budget

    @property
    def bounded(self) -> bool:
        return self.usd is not None or self.tokens is not None


# What a run may spend when no budget is given: a model that loops or a team larger than
# meant stops there (resumable with a larger budget) instead of spending without end.
DEFAULT_BUDGET = BudgetLimits(usd=Decimal(5), tokens=2_000_000)
DEFAULT_BUDGET_HELP = (
    f"[default: ${DEFAULT_BUDGET.usd} and {DEFAULT_BUDGET.tokens} tokens when neither "
    "budget is given]"
)


def run_budget(given: BudgetLimits | None, stored: BudgetLimits | None = None) -> BudgetLimits:
    """The budget given, else the one the run started with, else `DEFAULT_BUDGET` (a run
    stored with no limit, from before there was a default, gets it too)."""
    for limits in (given, stored):
        if limits is not None and limits.bounded:
            return limits
    return DEFAULT_BUDGET


def budget_limits(usd: str | None, tokens: int | None) -> BudgetLimits | None:
    """`--budget-usd` and `--budget-tokens` (None: neither given)."""
    if usd is None and tokens is None:
        return None
    dollars = None if usd is None else parse_decimal("--budget-usd", usd, Decimal("0.000001"))
    return BudgetLimits(dollars, tokens)
