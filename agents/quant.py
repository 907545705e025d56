"""Quant baseline agents: no LLM, the same interface LLM agents use. Their signals are the
rule-based strategies of `trading.strategies`."""

from __future__ import annotations

from collections.abc import Mapping

from trading.decision import Decision, Snapshot
from trading.portfolio_strategies import PortfolioParams
from trading.running_strategy import RunningStrategy
from trading.strategies import STRATEGIES, QuantParams, strategy_targets, validate_params

__all__ = ["STRATEGIES", "QuantAgent", "build_quant_agent"]


class QuantAgent:
    def __init__(self, kind: str, params: QuantParams, name: str | None = None) -> None:
        self.kind = kind
        self.params = params
        self._name = name or kind
        # A per-symbol strategy runs from bar to bar; a cross-sectional one decides afresh.
        self._running = (
            None if isinstance(params, PortfolioParams) else RunningStrategy(kind, params)
        )

    @property
    def name(self) -> str:
        return self._name

    async def decide(self, snapshot: Snapshot) -> Decision:
        if self._running is not None:
            return self._running.decision(snapshot)
        return Decision(strategy_targets(self.kind, self.params, snapshot))


def build_quant_agent(
    kind: str, params: Mapping[str, object] | None = None, name: str | None = None
) -> QuantAgent:
    """A quant agent from its kind and raw parameters; `ConfigError` names what is wrong."""
    return QuantAgent(kind, validate_params(kind, params), name)
