"""How a member's requests for a thesis went, counted: the LLM calls they took, the valid
theses, the re-asks after a refused reply, and the abstentions. A model that never answers
validly holds its team's position like a flat strategy would; these counts tell the two apart.

A turn is one request for a thesis (`agents.llm_agent.Turn`); its attempts are the asks it
took, so every attempt after the first is a re-ask. Transcripts store turns as JSON, and
`of_turn` reads that form too, so a run's report counts what its cycles stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TurnCounts:
    calls: int = 0  # LLM calls, answers from the cache included
    valid_theses: int = 0
    reasks: int = 0
    abstains: int = 0

    @classmethod
    def of(cls, *, attempts: int, valid: bool) -> TurnCounts:
        """One turn: `attempts` asks, ending in a valid thesis or an abstention."""
        return cls(valid_theses=int(valid), reasks=max(0, attempts - 1), abstains=int(not valid))

    @classmethod
    def of_turn(cls, turn: Mapping[str, Any]) -> TurnCounts:
        """One turn as a transcript stores it: an abstention's outcome gives a reason."""
        valid = "reason" not in turn["outcome"]
        return cls.of(attempts=len(turn.get("attempts") or []), valid=valid)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TurnCounts:
        """As `to_json` wrote it; a count missing (a record from before it was kept) is 0."""
        return cls(
            calls=int(data.get("calls", 0)),
            valid_theses=int(data.get("valid_theses", 0)),
            reasks=int(data.get("reasks", 0)),
            abstains=int(data.get("abstains", 0)),
        )

    def __add__(self, other: TurnCounts) -> TurnCounts:
        return TurnCounts(
            calls=self.calls + other.calls,
            valid_theses=self.valid_theses + other.valid_theses,
            reasks=self.reasks + other.reasks,
            abstains=self.abstains + other.abstains,
        )

    def to_json(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "valid_theses": self.valid_theses,
            "reasks": self.reasks,
            "abstains": self.abstains,
        }


def counts_by_member(
    turns: Iterable[Mapping[str, Any]], call_agents: Iterable[str], members: Iterable[str] = ()
) -> dict[str, TurnCounts]:
    """Each member's counts from its stored turns and the agent names of the run's LLM calls;
    `members` come first, in their order, with zeros when they took no turn."""
    counts: dict[str, TurnCounts] = {name: TurnCounts() for name in members}
    for turn in turns:
        agent = str(turn["agent"])
        counts[agent] = counts.get(agent, TurnCounts()) + TurnCounts.of_turn(turn)
    for agent in call_agents:
        counts[agent] = counts.get(agent, TurnCounts()) + TurnCounts(calls=1)
    return counts
