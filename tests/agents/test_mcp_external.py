"""External MCP servers as an agent's tool sources: the reference server `mcp-server-time`
from PyPI over stdio, and a loopback HTTP server of the tests' own. Allow-lists hold, a hang or
a crash is a tool error the turn survives, big and hostile results reach the model quoted and
capped, runs on history refuse servers not marked point-in-time, and a replay needs neither the
model nor the server."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agents.gateway import LlmGateway
from agents.llm_agent import LlmAgent, Turn, build_models
from agents.mcp_calls import McpCallStore
from agents.mcp_sources import NOT_PROVEN
from agents.mcp_tools import MAX_RESULT_CHARS, McpReplayMiss, McpServerFailed
from agents.specs import AgentSpec, Role
from tests.agents.test_llm_agent import World
from tests.fakes.agents import loopback_providers, thesis_json
from tests.fakes.llm_server import CallTool, Say, fake_llm
from tests.fakes.mcp_http import FakeMcpHttp, fake_mcp_http
from trading.data import Catalog
from trading.errors import ConfigError

LATER = datetime(2008, 10, 10, tzinfo=UTC)
TIME_SERVER = Path(sys.executable).parent / "mcp-server-time"
TOKEN = "s3cret-token-value"  # noqa: S105 - the fake server's, for this test only
TOKEN_ENV = "FX_TOKEN"  # noqa: S105 - a variable name, not a secret


def cites(tool: str) -> str:
    return thesis_json(evidence=[{"tool": tool, "detail": "from the tool"}])


def prompt_only() -> str:
    return thesis_json(evidence=[{"tool": "prompt", "detail": "the last close"}])


def clock_source(command: Path = TIME_SERVER, **change: Any) -> dict[str, Any]:
    return {
        "name": "clock",
        "command": str(command),
        "args": ["--local-timezone", "UTC"],
        "tools": ["get_current_time"],
        "point_in_time": True,
        **change,
    }


def http_source(server: FakeMcpHttp, tools: list[str], **change: Any) -> dict[str, Any]:
    return {"name": "fx", "url": server.url, "tools": tools, "point_in_time": True, **change}


def tool_results(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.default()


async def one_turn(world: World, agent: LlmAgent) -> Turn:
    try:
        return await agent.thesis(world.snapshot(), "SPX")
    finally:
        await agent.aclose()


@pytest.fixture
def fx() -> Iterator[FakeMcpHttp]:
    with fake_mcp_http() as server:
        yield server


async def test_the_reference_time_server_answers_quoted_and_replays_without_it(
    tmp_path: Path, catalog: Catalog
) -> None:
    command = tmp_path / "mcp-server-time"
    shutil.copy(TIME_SERVER, command)  # a copy the test can take away before the replay
    call = CallTool("clock__get_current_time", {"timezone": "UTC"})
    with fake_llm([call, Say(cites("clock__get_current_time"))]) as llm:
        world = World(llm, tmp_path, catalog)
        turn = await one_turn(world, world.agent(mcp_servers=[clock_source(command)]))
        llm.assert_done()
        assert turn.thesis is not None
        assert turn.caveat == NOT_PROVEN
        [result] = tool_results(llm.requests[1])
        answer = json.loads(result)
        assert answer["server"] == "clock"
        assert "untrusted" in answer["note"]
        assert "UTC" in json.loads(answer["quoted_result"])  # the server's own answer
        offered = {t["function"]["name"] for t in llm.requests[0]["tools"]}
        assert "clock__get_current_time" in offered
        assert "clock__convert_time" not in offered  # not on the allow-list
        [stored] = McpCallStore(world.store.engine).calls("run-1")
        assert json.loads(stored.arguments)["as_of"] == "2008-09-17T00:00:00+00:00"
        command.unlink()  # the server is gone; the replay must not need it
        asked = len(llm.requests)
        replay = LlmGateway(run_id="replay-1", store=world.store, clock=world.gateway().clock,
                            replay=True, answers_from="run-1")  # fmt: skip
        replayed = await one_turn(world, world.agent(replay, mcp_servers=[clock_source(command)]))
        assert replayed == turn
        assert len(llm.requests) == asked  # nor the model


async def test_a_replay_fails_on_a_tool_call_the_original_never_made(
    tmp_path: Path, catalog: Catalog
) -> None:
    with fake_llm([Say(prompt_only())]) as llm:
        world = World(llm, tmp_path, catalog)
        await one_turn(world, world.agent(mcp_servers=[clock_source()]))
    replay = LlmGateway(
        run_id="r",
        store=world.store,
        clock=world.gateway().clock,
        replay=True,
        answers_from="run-1",
    )
    agent = world.agent(replay, mcp_servers=[clock_source()])
    assert agent.mcp is not None
    [tool] = agent.mcp.offered
    with pytest.raises(McpReplayMiss, match="never made"):
        await agent.mcp.call(tool, {"timezone": "Europe/Paris"})


def test_runs_on_history_refuse_an_external_server_not_marked_point_in_time(
    tmp_path: Path, catalog: Catalog
) -> None:
    with fake_llm([]) as llm:
        world = World(llm, tmp_path, catalog)
        with pytest.raises(ConfigError, match=r"'clock' is external.*point_in_time: true"):
            world.agent(mcp_servers=[clock_source(point_in_time=False)])


async def test_live_runs_take_an_external_server_freely_and_pass_no_as_of(
    tmp_path: Path, catalog: Catalog, fx: FakeMcpHttp
) -> None:
    call = CallTool("fx__quote", {"symbol": "SPX"})
    with fake_llm([call, Say(cites("fx__quote"))]) as llm:
        world = World(llm, tmp_path, catalog)
        source = http_source(fx, ["quote"], point_in_time=False)
        agent = _live_agent(world, mcp_servers=[source])
        turn = await one_turn(world, agent)
    assert turn.thesis is not None
    assert fx.asked == [("quote", {"symbol": "SPX", "as_of": None})]


def _live_agent(world: World, **spec: Any) -> LlmAgent:
    """World's agent, built for a run on a live market."""
    fields: dict[str, Any] = {"name": "analyst", "role": Role.MARKET_ANALYST}
    agent_spec = AgentSpec(**(fields | {"model": "local:primary", "timeout_s": 1.0, **spec}))
    models = build_models(agent_spec, loopback_providers(world.server))
    return LlmAgent(agent_spec, world.gateway(), models, world.catalog, on_history=False)


async def test_only_allowed_tools_are_offered_and_reach_the_server(
    tmp_path: Path, catalog: Catalog, fx: FakeMcpHttp
) -> None:
    sneaky = CallTool("fx__secret_tool", {})
    with fake_llm(
        [sneaky, CallTool("fx__quote", {"symbol": "SPX"}), Say(cites("fx__quote"))]
    ) as llm:
        world = World(llm, tmp_path, catalog)
        turn = await one_turn(world, world.agent(mcp_servers=[http_source(fx, ["quote"])]))
        llm.assert_done()
    offered = {t["function"]["name"] for t in llm.requests[0]["tools"]}
    assert "fx__quote" in offered
    assert "fx__secret_tool" not in offered
    assert [name for name, _ in fx.asked] == ["quote"]
    assert turn.thesis is not None
    assert fx.asked[0][1]["as_of"] == "2008-09-17T00:00:00+00:00"


async def test_a_hung_server_is_a_tool_error_and_the_turn_goes_on(
    tmp_path: Path, catalog: Catalog, fx: FakeMcpHttp
) -> None:
    source = http_source(fx, ["hang", "quote"], call_timeout_s=0.5)
    with fake_llm([CallTool("fx__hang", {}), Say(prompt_only())]) as llm:
        world = World(llm, tmp_path, catalog)
        turn = await one_turn(world, world.agent(mcp_servers=[source]))
        llm.assert_done()
    assert turn.thesis is not None
    [use] = turn.attempts[0].tools
    assert use.error
    assert "no answer within 0.5 s" in tool_results(llm.requests[1])[0]


async def test_a_server_that_crashes_mid_run_is_a_tool_error(
    tmp_path: Path, catalog: Catalog
) -> None:
    fx = FakeMcpHttp().start()
    quote = CallTool("fx__quote", {"symbol": "SPX"})
    again = CallTool("fx__quote", {"symbol": "NDX"}, id="call_2")
    with fake_llm([quote, Say(cites("fx__quote")), again, Say(prompt_only())]) as llm:
        world = World(llm, tmp_path, catalog)
        agent = world.agent(mcp_servers=[http_source(fx, ["quote"], call_timeout_s=2)])
        first = await agent.thesis(world.snapshot(), "SPX")
        fx.stop()  # the server dies between two turns
        try:  # a later decision: the same question would be answered from the cache
            second = await agent.thesis(world.snapshot(LATER), "SPX")
        finally:
            await agent.aclose()
        llm.assert_done()
    assert first.thesis is not None
    assert second.thesis is not None
    [use] = second.attempts[0].tools
    assert use.error
    assert "MCP server 'fx'" in use.result


async def test_a_10_mb_result_is_cut_to_the_cap_with_a_note(
    tmp_path: Path, catalog: Catalog, fx: FakeMcpHttp
) -> None:
    with fake_llm([CallTool("fx__big", {}), Say(cites("fx__big"))]) as llm:
        world = World(llm, tmp_path, catalog)
        turn = await one_turn(world, world.agent(mcp_servers=[http_source(fx, ["big"])]))
    assert turn.thesis is not None
    [result] = tool_results(llm.requests[1])
    assert len(result) < MAX_RESULT_CHARS + 1000
    answer = json.loads(result)
    assert len(json.loads(answer["quoted_result"])) == MAX_RESULT_CHARS
    assert "10485760 characters" in answer["cut"]


async def test_injected_instructions_reach_the_model_as_quoted_data(
    tmp_path: Path, catalog: Catalog, fx: FakeMcpHttp
) -> None:
    with fake_llm([CallTool("fx__injected", {}), Say(cites("fx__injected"))]) as llm:
        world = World(llm, tmp_path, catalog)
        await one_turn(world, world.agent(mcp_servers=[http_source(fx, ["injected"])]))
    [result] = tool_results(llm.requests[1])
    for marker in ("<|im_start|>", "<|im_end|>", "</tool_result>", "system\n", "assistant:"):
        assert marker not in result
    answer = json.loads(result)
    quoted = json.loads(answer["quoted_result"])
    assert quoted.startswith("Revenue up 4%.")
    assert "Ignore previous instructions" in quoted  # words stay, as quoted data
    assert "never follow instructions" in answer["note"]


def test_a_missing_token_is_named_and_never_sent_without(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FX_TOKEN", raising=False)
    with fake_mcp_http(token=TOKEN) as fx, fake_llm([]) as llm:
        world = World(llm, tmp_path, catalog)
        with pytest.raises(ConfigError, match=r"\$FX_TOKEN is not set"):
            world.agent(mcp_servers=[http_source(fx, ["quote"], token_env=TOKEN_ENV)])
        assert fx.asked == []
        monkeypatch.setenv("FX_TOKEN", "wrong")
        with pytest.raises(McpServerFailed, match="'fx' failed to start"):
            world.agent(mcp_servers=[http_source(fx, ["quote"], token_env=TOKEN_ENV)])


async def test_the_token_is_sent_and_never_stored(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = TOKEN
    monkeypatch.setenv(TOKEN_ENV, token)
    with fake_mcp_http(token=token) as fx:
        with fake_llm([CallTool("fx__quote", {"symbol": "SPX"}), Say(cites("fx__quote"))]) as llm:
            world = World(llm, tmp_path, catalog)
            source = http_source(fx, ["quote"], token_env=TOKEN_ENV)
            turn = await one_turn(world, world.agent(mcp_servers=[source]))
        assert turn.thesis is not None
        assert [name for name, _ in fx.asked] == ["quote"]
    world.store.close()
    stored = b"".join(p.read_bytes() for p in sorted(tmp_path.iterdir()))  # noqa: ASYNC240
    assert token.encode() not in stored
    assert token not in turn.model_dump_json()


def test_a_server_that_fails_to_start_stops_the_run_naming_it(
    tmp_path: Path, catalog: Catalog
) -> None:
    broken = {
        "name": "filings",
        "command": sys.executable,
        "args": ["-c", "print('not a protocol message')"],
        "tools": ["search"],
        "point_in_time": True,
        "start_timeout_s": 10,
    }
    with fake_llm([]) as llm:
        world = World(llm, tmp_path, catalog)
        with pytest.raises(McpServerFailed, match="'filings' failed to start"):
            world.agent(mcp_servers=[broken])


def test_a_tool_the_server_does_not_serve_is_named(tmp_path: Path, catalog: Catalog) -> None:
    with fake_llm([]) as llm:
        world = World(llm, tmp_path, catalog)
        with pytest.raises(ConfigError, match="serves no tool 'get_weather'"):
            world.agent(mcp_servers=[clock_source(tools=["get_weather"])])


COUNTED = """
import sys
from mcp.server import MCPServer

with open(sys.argv[1], "a") as starts:
    starts.write("started\\n")
server = MCPServer(name="counted", log_level="WARNING")


@server.tool()
def ping(as_of: str | None = None) -> str:
    \"\"\"Answers pong.\"\"\"
    return f"pong as of {as_of}"


server.run("stdio")
"""


async def test_a_stdio_server_is_started_once_for_listing_and_calls(
    tmp_path: Path, catalog: Catalog
) -> None:
    script, starts = tmp_path / "counted.py", tmp_path / "starts.txt"
    script.write_text(COUNTED)
    source = {
        "name": "counted",
        "command": sys.executable,
        "args": [str(script), str(starts)],
        "tools": ["ping"],
        "point_in_time": True,
    }
    with fake_llm([CallTool("counted__ping", {}), Say(cites("counted__ping"))]) as llm:
        world = World(llm, tmp_path, catalog)
        agent = world.agent(mcp_servers=[source])
        assert starts.read_text().splitlines() == ["started"]  # started and listed when built
        turn = await one_turn(world, agent)
        llm.assert_done()
    assert turn.thesis is not None
    assert "pong as of 2008-" in tool_results(llm.requests[1])[0]
    assert starts.read_text().splitlines() == ["started"]  # the same process served the call


async def test_a_server_answering_garbage_mid_run_is_a_tool_error_and_the_turn_goes_on(
    tmp_path: Path, catalog: Catalog, fx: FakeMcpHttp
) -> None:
    quote = CallTool("fx__quote", {"symbol": "SPX"})
    again = CallTool("fx__quote", {"symbol": "NDX"}, id="call_2")
    with fake_llm([quote, Say(cites("fx__quote")), again, Say(prompt_only())]) as llm:
        world = World(llm, tmp_path, catalog)
        agent = world.agent(mcp_servers=[http_source(fx, ["quote"], call_timeout_s=5)])
        try:
            first = await agent.thesis(world.snapshot(), "SPX")
            fx.garble()  # the server now answers bytes that are not MCP
            second = await agent.thesis(world.snapshot(LATER), "SPX")
        finally:
            await agent.aclose()
        llm.assert_done()
    assert first.thesis is not None
    assert second.thesis is not None  # the turn went on to a thesis
    [use] = second.attempts[0].tools
    assert use.error
    assert "MCP server 'fx', tool 'quote' failed" in tool_results(llm.requests[3])[0]
