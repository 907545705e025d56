"""What each role is told: its job, and only the tools it holds."""

from __future__ import annotations

import pytest

from agents.prompts import instructions
from agents.specs import AgentSpec, Role
from tools.registry import TOOLS

TOOL_NAMES = sorted(t.name for t in TOOLS)


def spec(role: Role, tools: tuple[str, ...]) -> AgentSpec:
    return AgentSpec(name="a", role=role, model="local:primary", tools=tools)


def test_a_market_analyst_with_only_the_summary_is_not_told_of_ohlcv() -> None:
    prompt = instructions(spec(Role.MARKET_ANALYST, ("get_market_summary",)))
    assert "get_market_summary" in prompt
    assert "get_ohlcv" not in prompt


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.CUSTOM])
@pytest.mark.parametrize(
    "tools",
    [(), ("get_market_summary",), ("compute_indicator",), ("get_news_sentiment", "get_ohlcv")],
)
def test_a_prompt_names_no_tool_the_agent_does_not_hold(role: Role, tools: tuple[str, ...]) -> None:
    prompt = instructions(spec(role, tools))
    named = {name for name in TOOL_NAMES if name in prompt}
    assert named <= set(tools)
    assert prompt.startswith("You are one member of a trading team.")
    assert f"Role: {role.value.replace('_', ' ')}" in prompt


def test_an_agent_without_tools_is_told_to_cite_the_prompt() -> None:
    prompt = instructions(spec(Role.TECHNICAL_ANALYST, ()))
    assert "You hold no tools" in prompt
    assert "compute_indicator" not in prompt
    held = instructions(spec(Role.TECHNICAL_ANALYST, ("compute_indicator",)))
    assert (
        "Where you can, prefer compute_indicator (RSI, MACD, moving averages, Bollinger bands)"
        in held
    )
