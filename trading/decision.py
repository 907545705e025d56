"""The decision interface every entrant implements, quant or LLM: a point-in-time snapshot in,
target weights out. It lives in the core so replays, tools and agents all speak it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple, Protocol

from trading.data import PointInTimeView
from trading.ledger import Portfolio


# A NamedTuple, as `Portfolio`: read-only, and a replay builds one per bar, where a frozen
# dataclass's `__init__` (an `object.__setattr__` per field) took ~0.37 us and `tuple.__new__`
# on the fields, what `CycleEngine.decide` calls, ~0.08.
class Snapshot(NamedTuple):
    """What an agent may know at `now`: market data through a point-in-time view (nothing that
    closes later exists for it), and its own portfolio."""

    now: datetime
    symbols: tuple[str, ...]
    view: PointInTimeView
    portfolio: Portfolio


@dataclass(frozen=True, slots=True)
class Decision:
    """Target weights of equity per symbol: 1 fully long, -1 fully short, 0 flat. A symbol left
    out keeps its current position."""

    targets: Mapping[str, Decimal]
    rationale: str = ""
    details: Mapping[str, float] = field(default_factory=dict)
    # Symbols the agent declined to judge, with why: recorded, never read as a hold.
    abstentions: Mapping[str, str] = field(default_factory=dict)


class TradingAgent(Protocol):
    @property
    def name(self) -> str: ...

    async def decide(self, snapshot: Snapshot) -> Decision: ...


async def aclose_agent(agent: object) -> None:
    """Close what an agent holds open (an LLM agent's MCP servers; a team's, through its
    members); an agent that holds nothing open has no `aclose`."""
    close = getattr(agent, "aclose", None)
    if close is not None:
        await close()
