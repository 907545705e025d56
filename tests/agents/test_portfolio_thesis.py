"""A portfolio decision in one turn: one LLM call per agent per decision sees a point-in-time
table of the whole universe and answers a typed `PortfolioThesis`, never one call per symbol."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from agents.gateway import LlmGateway, RetryPolicy
from agents.llm_agent import LlmAgent, build_models
from agents.llm_calls import LlmCallStore
from agents.portfolio_thesis import PortfolioThesis, portfolio_schema
from agents.specs import Abstention, AgentSpec, Role
from agents.universe_table import render, universe_rows
from tests.fakes.agents import loopback_providers, portfolio_json
from tests.fakes.llm_server import FakeLlm, Say, Script, fake_llm
from tests.helpers import FrameSource
from trading.clock import ReplayClock
from trading.data import BarSeries, Catalog, PointInTimeView
from trading.data.series import to_ns
from trading.data.universe import SP20
from trading.decision import Snapshot
from trading.ledger import Ledger

NOW = datetime(2012, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.default()


def snapshot(catalog: Catalog, now: datetime = NOW) -> Snapshot:
    view = PointInTimeView(catalog, ReplayClock(now))
    return Snapshot(now, SP20, view, Ledger(cash=Decimal(100_000)).portfolio())


def agent(server: FakeLlm, tmp_path: Path, catalog: Catalog, **spec: Any) -> LlmAgent:
    fields: dict[str, Any] = {"name": "pm", "role": Role.PORTFOLIO_MANAGER, "tools": []}
    fields |= {"model": "local:primary", "timeout_s": 5.0, "decide_every": 1, "portfolio": True}
    agent_spec = AgentSpec(**(fields | spec))
    gateway = LlmGateway(
        run_id="run-1",
        store=LlmCallStore(f"sqlite:///{tmp_path / 'llm.db'}"),
        clock=ReplayClock(NOW),
        retry=RetryPolicy(attempts=1),
    )
    models = build_models(agent_spec, loopback_providers(server))
    return LlmAgent(agent_spec, gateway, models, catalog)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[FakeLlm]:
    script: Script = request.param
    with fake_llm(script) as fake:
        yield fake
        fake.assert_done()


def scripted(*steps: Any) -> Any:
    return pytest.mark.parametrize("server", [list(steps)], indirect=True)


def user_message(body: dict[str, Any]) -> str:
    return str(next(m["content"] for m in body["messages"] if m["role"] == "user"))


@scripted(Say(portfolio_json(SP20, {"AAPL": 20, "MSFT": 15})))
async def test_twenty_symbols_are_judged_in_one_llm_call(
    server: FakeLlm, tmp_path: Path, catalog: Catalog
) -> None:
    pm = agent(server, tmp_path, catalog)
    decision = await pm.decide(snapshot(catalog))
    assert len(server.requests) == 1
    assert decision.targets == {"AAPL": Decimal("0.2000"), "MSFT": Decimal("0.1500")}
    assert [t.symbol for t in pm.turns] == list(SP20)
    [turn] = pm.portfolio_turns
    assert isinstance(turn.outcome, PortfolioThesis)
    assert len(turn.outcome.theses) == 20
    prompt = user_message(server.requests[0])
    for symbol in SP20:
        assert f"\n{symbol}," in prompt  # a table row per symbol
    assert pm.turn_counts.valid_theses == 1


@scripted(
    Say(portfolio_json(SP20[:19])),  # one symbol left out
    Say(portfolio_json(SP20, {"AAPL": 60, "AMD": 50})),  # 110% gross
    Say(portfolio_json(SP20, {"AAPL": 60})),
)
async def test_a_portfolio_missing_a_symbol_or_over_full_is_re_asked(
    server: FakeLlm, tmp_path: Path, catalog: Catalog
) -> None:
    pm = agent(server, tmp_path, catalog)
    turn = await pm.portfolio(snapshot(catalog))
    errors = [a.error or "" for a in turn.attempts]
    assert f"views are missing for {[SP20[-1]]!r}" in errors[0]
    assert "add up to 110%" in errors[1]
    assert isinstance(turn.outcome, PortfolioThesis)
    assert len(server.requests) == 3


@scripted(Say("no"), Say("still no"), Say("never"))
async def test_three_invalid_portfolios_abstain_on_every_symbol(
    server: FakeLlm, tmp_path: Path, catalog: Catalog
) -> None:
    pm = agent(server, tmp_path, catalog)
    decision = await pm.decide(snapshot(catalog))
    assert decision.targets == {}
    assert set(decision.abstentions) == set(SP20)
    assert all(isinstance(t.outcome, Abstention) for t in pm.turns)


def test_the_schema_asks_for_every_symbol_once_in_whole_percents() -> None:
    schema = portfolio_schema(SP20, (), max_weight=0.25)
    views = schema["properties"]["views"]
    assert (views["minItems"], views["maxItems"]) == (20, 20)
    item = views["items"]["properties"]
    assert item["symbol"]["enum"] == list(SP20)
    assert (item["target_weight_pct"]["minimum"], item["target_weight_pct"]["maximum"]) == (
        -25,
        25,
    )
    assert item["evidence"]["items"]["properties"]["tool"]["enum"] == ["prompt"]
    assert "$ref" not in json.dumps(schema)
    assert "maxLength" not in json.dumps(schema)
    jsonschema.validate(json.loads(portfolio_json(SP20, {"AAPL": 25})), schema)


def test_the_table_reads_only_closes_known_now(catalog: Catalog) -> None:
    # The same moment through a catalog that holds nothing after it gives the same table.
    early = snapshot(catalog)
    full = render(universe_rows(early))
    cut = Catalog([FrameSource({s: truncated(catalog.load(s), NOW) for s in SP20})])
    assert render(universe_rows(snapshot(cut))) == full
    aapl = next(r for r in universe_rows(early) if r.symbol == "AAPL")
    closes = early.view.closes("AAPL")
    assert aapl.close == pytest.approx(float(closes[-1]))
    assert aapl.returns_pct[1] == pytest.approx((closes[-1] / closes[-22] - 1) * 100)


def truncated(series: BarSeries, now: datetime) -> BarSeries:
    """`series` without the bars that close after `now`."""
    n = int(np.searchsorted(series.close_times, to_ns(now), side="right"))
    columns = ("times", "close_times", "open", "high", "low", "close", "volume")
    return dataclasses.replace(series, **{c: getattr(series, c)[:n] for c in columns})
