"""A quant agent's bar-to-bar decisions equal the straightforward `strategy_targets` on every
bar of real replays: every per-symbol strategy, several symbols, positions as they come."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, datetime
from decimal import Decimal

import pytest

from agents.quant import QuantAgent, build_quant_agent
from trading.data import Catalog, PointInTimeView
from trading.data.series import from_ns
from trading.decision import Decision, Snapshot
from trading.ledger import Portfolio, PositionView
from trading.replay import ReplayConfig, run_replay
from trading.strategies import strategy_targets

CASES = [
    ("buy_and_hold", {}),
    ("buy_and_hold", {"weight": 0.7}),
    ("sma_cross", {"fast": 10, "slow": 50}),
    ("sma_cross", {"fast": 2, "slow": 3, "allow_short": True}),
    ("sma_cross", {"fast": 20, "slow": 200, "weight": 0.3}),
    ("momentum", {"lookback": 20, "allow_short": True}),
    ("momentum", {"lookback": 60, "threshold": 0.05}),
    ("mean_reversion", {"window": 10, "entry_z": 1.5, "exit_z": 0.2, "allow_short": True}),
    ("mean_reversion", {}),
    ("rsi", {"period": 5, "lower": 40, "upper": 60, "allow_short": True}),
    ("rsi", {}),
]


class Checked:
    """The agent, with each of its decisions checked against `strategy_targets` at that bar."""

    def __init__(self, agent: QuantAgent) -> None:
        self.agent = agent
        self.decisions: list[Decision] = []

    @property
    def name(self) -> str:
        return self.agent.name

    async def decide(self, snapshot: Snapshot) -> Decision:
        decision = await self.agent.decide(snapshot)
        expected = strategy_targets(self.agent.kind, self.agent.params, snapshot)
        # Equal weights, in the same order and spelled alike (the store writes str(weight)).
        assert [(s, str(w)) for s, w in decision.targets.items()] == [
            (s, str(w)) for s, w in expected.items()
        ], snapshot.now
        assert (decision.rationale, decision.details, decision.abstentions) == ("", {}, {})
        self.decisions.append(decision)
        return decision


async def checked_run(agent: QuantAgent, symbols: tuple[str, ...]) -> Checked:
    checked = Checked(agent)
    config = ReplayConfig(
        symbols=symbols, start=date(2007, 1, 1), end=date(2010, 12, 31), cash=Decimal(100_000)
    )
    result = await run_replay(checked, Catalog.default(), config, run_id="r")
    assert len(checked.decisions) == len(result.equity) - 1 > 900
    return checked


@pytest.mark.parametrize(("kind", "params"), CASES)
@pytest.mark.parametrize("symbols", [("SPX",), ("IXIC", "AAPL", "XOM")])
async def test_every_bars_decision_is_the_straightforward_one(
    kind: str, params: dict[str, object], symbols: tuple[str, ...]
) -> None:
    checked = await checked_run(build_quant_agent(kind, params), symbols)
    assert len({id(d) for d in checked.decisions}) > 1 or kind == "buy_and_hold"


async def test_an_unchanged_signal_returns_the_previous_decision_object() -> None:
    checked = await checked_run(build_quant_agent("sma_cross", {"fast": 10, "slow": 50}), ("SPX",))
    decisions = checked.decisions
    changes = sum(a is not b for a, b in itertools.pairwise(decisions))
    # A few dozen crossings in four years; every other bar shares its predecessor's object.
    assert 0 < changes < 100
    for a, b in itertools.pairwise(decisions):
        assert (a is b) == (a.targets == b.targets)


async def test_an_agent_reused_for_another_run_decides_as_a_new_one() -> None:
    agent = build_quant_agent("sma_cross", {"fast": 5, "slow": 30})
    first = await checked_run(agent, ("SPX",))
    again = await checked_run(agent, ("SPX",))  # starts over at the first bar: checked afresh
    other = await checked_run(agent, ("IXIC", "SPX"))
    assert [d.targets for d in again.decisions] == [d.targets for d in first.decisions]
    assert len(other.decisions) == len(first.decisions)


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


@pytest.mark.parametrize(
    ("kind", "params"), [case for case in CASES if case[0] in ("sma_cross", "rsi")]
)
def test_a_clock_that_jumps_stands_still_or_goes_back_gives_the_straightforward_decision(
    kind: str, params: dict[str, object]
) -> None:
    # The trackers read only the closes new since their last bar; wherever the clock goes
    # (several bars at once, none, back), the decision is still `strategy_targets`' own.
    catalog = Catalog.default()
    close_times = [from_ns(ns) for ns in catalog.load("SPX").close_times.tolist()]
    clock = MovableClock(close_times[0])
    view = PointInTimeView(catalog, clock)
    agent = build_quant_agent(kind, params)
    moves = itertools.cycle([1, 1, 3, 0, 1, -2, 7, 1, -40, 60, 1])
    held = Decimal(0)
    bar = 0
    for _ in range(600):
        bar = max(0, min(bar + next(moves), len(close_times) - 1))
        clock.moment = close_times[bar]
        positions = {"SPX": PositionView("SPX", held, *[Decimal(0)] * 5)} if held else {}
        portfolio = Portfolio(clock.moment, Decimal(1), Decimal(1), positions, *[Decimal(0)] * 3)
        snapshot = Snapshot(clock.moment, ("SPX",), view, portfolio)
        decision = asyncio.run(agent.decide(snapshot))
        assert decision.targets == strategy_targets(kind, agent.params, snapshot), bar
        held = decision.targets.get("SPX", held)
