"""`tools_via: mcp`: an LLM agent gathers its evidence through tradepit's own MCP server, in
memory and over stdio, and the model reads what it reads in-process: the same tools, the same
results at the same decision time, the same thesis."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agents.gateway import LlmGateway, ReplayMiss
from agents.llm_agent import Turn
from agents.mcp_calls import McpCallStore
from tests.agents.test_llm_agent import NOW, SUMMARY, World
from tests.fakes.agents import thesis_json
from tests.fakes.llm_server import CallTool, Say, fake_llm
from trading.data import Catalog

INDICATOR = CallTool(
    "compute_indicator", {"symbol": "SPX", "indicator": "rsi", "params": {"period": 14}}
)
LATER = datetime(2008, 10, 10, tzinfo=UTC)
SCRIPT = [SUMMARY, INDICATOR, Say(thesis_json())]


def tool_messages(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


async def two_turns(tmp_path: Path, **spec: Any) -> tuple[list[Turn], list[dict[str, Any]]]:
    """Two decisions, a month apart, by one agent: the clock must move between them."""
    with fake_llm(SCRIPT * 2) as server:
        world = World(server, tmp_path, Catalog.default())
        agent = world.agent(**spec)
        try:
            turns = [
                await agent.thesis(world.snapshot(NOW), "SPX"),
                await agent.thesis(world.snapshot(LATER), "SPX"),
            ]
        finally:
            await agent.aclose()
        server.assert_done()
    return turns, server.requests


@pytest.mark.parametrize("transport", ["memory", "stdio"])
async def test_evidence_through_mcp_equals_evidence_in_process(
    tmp_path: Path, transport: str
) -> None:
    (tmp_path / "direct").mkdir()
    (tmp_path / "mcp").mkdir()
    in_process, direct = await two_turns(tmp_path / "direct")
    through_mcp, via = await two_turns(tmp_path / "mcp", tools_via="mcp", mcp_transport=transport)
    assert [t.thesis for t in through_mcp] == [t.thesis for t in in_process]
    assert all(t.thesis is not None for t in through_mcp)
    # The model read the same results, byte for byte, at both decision times.
    assert [tool_messages(r) for r in via] == [tool_messages(r) for r in direct]
    first_summary = json.loads(tool_messages(via[1])[0])["symbols"][0]
    later_summary = json.loads(tool_messages(via[4])[0])["symbols"][0]
    assert first_summary["price"] == "1213.60"  # 2008-09-16's close
    assert later_summary["price"] != first_summary["price"]  # the run moved the clock
    offered = {tool["function"]["name"] for tool in via[0]["tools"]}
    assert offered == {"get_market_summary", "compute_indicator", "get_news_sentiment"}


async def test_order_tools_are_never_offered_through_mcp(tmp_path: Path) -> None:
    with fake_llm([Say(thesis_json(evidence=[{"tool": "prompt", "detail": "close"}]))]) as server:
        world = World(server, tmp_path, Catalog.default())
        agent = world.agent(tools_via="mcp", tools=("get_price", "get_ohlcv"))
        await agent.thesis(world.snapshot(), "SPX")
        server.assert_done()
    offered = {tool["function"]["name"] for tool in server.requests[0]["tools"]}
    assert offered == {"get_price", "get_ohlcv"}
    assert agent.mcp is not None
    served = {t.tool for t in agent.mcp.offered}
    assert not served & {"place_order", "cancel_order", "advance_clock"}


async def test_a_replay_through_mcp_answers_from_the_stored_calls(tmp_path: Path) -> None:
    with fake_llm(SCRIPT) as server:
        world = World(server, tmp_path, Catalog.default())
        original = await world.agent(tools_via="mcp").thesis(world.snapshot(), "SPX")
        server.assert_done()
        asked = len(server.requests)
        replay = LlmGateway(
            run_id="replay-1",
            store=world.store,
            clock=world.gateway().clock,
            replay=True,
            answers_from="run-1",  # the original's recordings answer
        )
        replayed = await world.agent(replay, tools_via="mcp").thesis(world.snapshot(), "SPX")
        assert replayed == original
        assert len(server.requests) == asked
        stored = McpCallStore(world.store.engine).calls("run-1")
        assert [(c.server, c.tool) for c in stored] == [
            ("tradepit", "get_market_summary"),
            ("tradepit", "compute_indicator"),
        ]
        with pytest.raises(ReplayMiss):
            await world.agent(replay, tools_via="mcp").thesis(world.snapshot(LATER), "SPX")


async def one_call(tmp_path: Path, call: CallTool, **spec: Any) -> tuple[Turn, list[str]]:
    cited = thesis_json(evidence=[{"tool": "prompt", "detail": "the last close"}])
    with fake_llm([call, Say(cited)]) as server:
        world = World(server, tmp_path, Catalog.default())
        agent = world.agent(**spec)
        try:
            turn = await agent.thesis(world.snapshot(NOW), "SPX")
        finally:
            await agent.aclose()
        server.assert_done()
    return turn, tool_messages(server.requests[1])


@pytest.mark.parametrize("transport", ["memory", "stdio"])
async def test_unknown_arguments_are_refused_through_mcp_as_in_process(
    tmp_path: Path, transport: str
) -> None:
    call = CallTool("get_market_summary", {"symbols": ["SPX"], "window": 20})
    (tmp_path / "direct").mkdir()
    (tmp_path / "mcp").mkdir()
    direct, said = await one_call(tmp_path / "direct", call)
    via, read = await one_call(tmp_path / "mcp", call, tools_via="mcp", mcp_transport=transport)
    assert direct.attempts[0].tools[0].error
    assert via.attempts[0].tools[0].error
    assert read == said  # the same error text, word for word
