"""What must hold whatever a real model says: every turn ends in a thesis the agent accepted
or an abstain with its reason, within the re-asks allowed, and every call is in the log with
its tokens, its cost and a latency inside its timeout."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from agents.llm_agent import MAX_REASKS, Turn
from agents.llm_calls import LlmCall
from agents.specs import Abstention, Thesis
from tests.real_model.server import MODEL, PRICES


def settled(turn: Turn | Mapping[str, Any]) -> Turn:
    """The turn, checked: a thesis only from an accepted last reply citing tools it called, an
    abstain only after every reply was refused (or the turn's limits ended it), with a reason."""
    turn = turn if isinstance(turn, Turn) else Turn.model_validate(_without_round(turn))
    assert 0 <= len(turn.attempts) <= 1 + MAX_REASKS, turn
    refused = [a for a in turn.attempts if a.error is not None]
    if isinstance(turn.outcome, Thesis):
        assert turn.attempts, turn
        assert turn.attempts[-1].error is None, turn
        assert len(refused) == len(turn.attempts) - 1, turn
        assert turn.outcome.symbol == turn.symbol
        called = {t.name for a in turn.attempts for t in a.tools if not t.error} | {"prompt"}
        assert {e.tool for e in turn.outcome.evidence} <= called, turn
    else:
        assert isinstance(turn.outcome, Abstention)
        assert turn.outcome.reason.strip(), turn
        assert (turn.outcome.agent, turn.outcome.symbol) == (turn.agent, turn.symbol)
        assert len(refused) == len(turn.attempts), turn  # no accepted reply was dropped
    return turn


def transcript_turns(transcript: Mapping[str, Any], agents: set[str]) -> list[Turn]:
    """The turns of `agents` (the team's LLM members) in a team's decision, checked with
    `settled`."""
    turns = [turn for step in transcript["steps"] for turn in step.get("turns", ())]
    return [settled(turn) for turn in turns if turn["agent"] in agents]


def logged(calls: Sequence[LlmCall], timeout_s: float, *, cached: bool) -> None:
    """Each call is in the log as asked (from the model or from the cache), with its tokens,
    a cost that is those tokens at the providers file's prices, and a latency inside its
    timeout."""
    assert calls
    for call in calls:
        assert call.model == MODEL
        assert call.cached is cached, call
        assert call.prompt_tokens > 0, call
        assert call.completion_tokens >= 0, call
        expected = (
            call.prompt_tokens * Decimal(PRICES["input_per_mtok"])
            + call.completion_tokens * Decimal(PRICES["output_per_mtok"])
        ) / 1_000_000
        assert call.cost_usd == expected, call
        assert 0 <= call.latency_s <= timeout_s, call


def outcomes(turns: Iterable[Turn]) -> list[dict[str, Any]]:
    """What a replay must reproduce: each turn's outcome and replies."""
    return [t.model_dump(mode="json") for t in turns]


def _without_round(turn: Mapping[str, Any]) -> dict[str, Any]:
    # A debate's turns carry their round number beside the turn's own fields.
    return {k: v for k, v in turn.items() if k != "round"}
