"""An LLM agent on a real model (SmolLM2-135M behind llama.cpp's OpenAI-compatible server):
whatever it answers, its turn ends in an accepted thesis or a recorded abstain, an order comes
only from an accepted thesis, every call is logged and priced, and a replay with the server
stopped gives the same decision from the cache alone."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from agents.gateway import LlmGateway
from agents.llm_agent import TURN_DEADLINE_TIMEOUTS, LlmAgent, build_models
from agents.llm_calls import LlmCallStore
from agents.specs import AgentSpec, Role
from tests.real_model.checks import logged, outcomes, settled
from tests.real_model.server import MODEL, ModelServer, providers
from trading.clock import ReplayClock
from trading.data import Catalog, PointInTimeView
from trading.decision import Snapshot
from trading.ledger import Ledger

pytestmark = pytest.mark.real_model

NOW = datetime(2008, 9, 17, tzinfo=UTC)  # the daily bars of 2008-09-16 have closed
TIMEOUT_S = 60.0
SPEC = AgentSpec(
    name="analyst",
    role=Role.MARKET_ANALYST,
    model=MODEL,
    temperature=0.0,
    max_tokens=128,  # room for a compact thesis, and a turn of seconds
    timeout_s=TIMEOUT_S,
    decide_every=1,
)


def agent(server: ModelServer, gateway: LlmGateway) -> LlmAgent:
    return LlmAgent(SPEC, gateway, build_models(SPEC, providers(server)), Catalog.default())


def gateway(
    store: LlmCallStore, run_id: str, *, replay: bool, answers_from: str | None = None
) -> LlmGateway:
    return LlmGateway(
        run_id=run_id,
        store=store,
        clock=ReplayClock(NOW),
        replay=replay,
        answers_from=answers_from,
    )


def snapshot() -> Snapshot:
    view = PointInTimeView(Catalog.default(), ReplayClock(NOW))
    return Snapshot(NOW, ("SPX",), view, Ledger(cash=Decimal(100_000)).portfolio())


async def test_a_real_model_decision_holds_whatever_the_model_says_and_replays_with_no_call(
    model_server: ModelServer, tmp_path: Path
) -> None:
    store = LlmCallStore(f"sqlite:///{tmp_path / 'llm.db'}")
    paying = gateway(store, "run-1", replay=False)
    original = agent(model_server, paying)
    started = time.monotonic()
    decision = await original.decide(snapshot())
    elapsed = time.monotonic() - started
    turns = [settled(turn) for turn in original.turns]
    assert [t.symbol for t in turns] == ["SPX"]
    assert elapsed < len(turns) * TURN_DEADLINE_TIMEOUTS * TIMEOUT_S  # no turn hung

    # A target only from an accepted buy or sell; an abstain is recorded, never a hold.
    acting = {t.symbol for t in turns if t.thesis is not None and t.thesis.stance != "hold"}
    assert set(decision.targets) == acting
    abstained = {t.symbol: t.outcome.reason for t in turns if t.thesis is None}
    assert dict(decision.abstentions) == abstained

    calls = store.calls("run-1")
    logged(calls, TIMEOUT_S, cached=False)
    assert len(calls) >= sum(len(t.attempts) for t in turns)  # every reply was a call
    assert paying.budget.tokens == sum(c.tokens for c in calls)

    with model_server.stopped():
        replay = gateway(store, "replay-1", replay=True, answers_from="run-1")
        replayed = agent(model_server, replay)
        again = await replayed.decide(snapshot())
    assert outcomes(replayed.turns) == outcomes(turns)
    assert again == decision
    replay_calls = store.calls("replay-1")
    logged(replay_calls, TIMEOUT_S, cached=True)
    assert [c.cache_key for c in replay_calls] == [c.cache_key for c in calls]
    store.close()
