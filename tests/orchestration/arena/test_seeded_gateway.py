"""A gateway with a seed (an arena's stochastic entrants): the seed reaches providers that
take one, is dropped for those that do not, and keys the cache, so repeats of an entrant never
share answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from agents.gateway import LlmGateway
from agents.llm_agent import LlmAgent, build_models
from agents.llm_calls import LlmCallStore
from agents.specs import AgentSpec
from tests.fakes.agents import loopback_providers, thesis_json
from tests.fakes.llm_server import FakeLlm, Say, fake_llm
from trading.clock import ReplayClock
from trading.data import Catalog, PointInTimeView
from trading.decision import Snapshot
from trading.ledger import Ledger

NOW = datetime(2008, 9, 17, tzinfo=UTC)
ANSWER = Say(thesis_json(evidence=[{"tool": "prompt", "detail": "last close"}]))


@pytest.fixture
def server() -> Iterator[FakeLlm]:
    with fake_llm(lambda body: ANSWER) as fake:
        yield fake
        assert not fake.errors


async def ask(
    server: FakeLlm, store: LlmCallStore, model: str, seed: int, replay: bool = False
) -> None:
    catalog = Catalog.default()
    spec = AgentSpec(name="a", role="market_analyst", model=model, tools=(), timeout_s=5)
    gateway = LlmGateway(seed=seed, run_id="r", store=store, clock=ReplayClock(NOW), replay=replay)
    agent = LlmAgent(spec, gateway, build_models(spec, loopback_providers(server)), catalog)
    view = PointInTimeView(catalog, ReplayClock(NOW))
    snapshot = Snapshot(NOW, ("SPX",), view, Ledger(cash=Decimal(100_000)).portfolio())
    turn = await agent.thesis(snapshot, "SPX")
    assert turn.thesis is not None


async def test_the_seed_goes_to_openai_wire_providers_and_keys_the_cache(
    server: FakeLlm, tmp_path: Path
) -> None:
    store = LlmCallStore(f"sqlite:///{tmp_path / 'llm.db'}")
    await ask(server, store, "local:primary", seed=7)
    # The same question in a replay of the run: from its recording.
    await ask(server, store, "local:primary", seed=7, replay=True)
    await ask(server, store, "local:primary", seed=8)  # another seed: asked anew
    assert [body["seed"] for body in server.requests] == [7, 8]


async def test_providers_that_take_no_seed_are_asked_without_one(
    server: FakeLlm, tmp_path: Path
) -> None:
    store = LlmCallStore(f"sqlite:///{tmp_path / 'llm.db'}")
    await ask(server, store, "claude:claude-test", seed=7)
    await ask(server, store, "claude:claude-test", seed=8)
    assert server.paths == ["/v1/messages", "/v1/messages"]
    assert all("seed" not in body for body in server.requests)
