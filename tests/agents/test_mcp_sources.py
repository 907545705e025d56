"""An agent spec names its MCP servers: stdio or HTTP by their fields, each closed, with an
allow-list; names are unique and never tradepit's own; secrets are only variable names."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agents.mcp_sources import HttpSource, StdioSource
from agents.specs import AgentSpec


def spec(*servers: dict[str, Any], **fields: Any) -> AgentSpec:
    return AgentSpec(
        name="a", role="market_analyst", model="local:primary", mcp_servers=servers, **fields
    )


def test_a_server_is_stdio_or_http_by_its_fields() -> None:
    made = spec(
        {"name": "clock", "command": "mcp-server-time", "tools": ["get_current_time"]},
        {"name": "fx", "url": "http://127.0.0.1:9/mcp", "tools": ["quote"], "token_env": "FX"},
    )
    stdio, http = made.mcp_servers
    assert isinstance(stdio, StdioSource)
    assert isinstance(http, HttpSource)
    assert made.tools_via == "in_process"


@pytest.mark.parametrize(
    ("servers", "problem"),
    [
        ([{"name": "x", "command": "c", "tools": []}], "at least 1"),
        ([{"name": "x", "command": "c", "tools": ["t"], "token": "s"}], "Extra inputs"),
        ([{"name": "x", "command": "c", "tools": ["t", "t"]}], "listed twice"),
        ([{"name": "x", "command": "c", "tools": ["t"]}] * 2, "named twice"),
        ([{"name": "tradepit", "command": "c", "tools": ["t"]}], "tradepit's own"),
        ([{"name": "x", "url": "ftp://example.com/mcp", "tools": ["t"]}], "should match pattern"),
    ],
)
def test_bad_server_configs_are_refused(servers: list[dict[str, Any]], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        spec(*servers)


def test_tools_via_takes_in_process_or_mcp() -> None:
    assert spec(tools_via="mcp").tools_via == "mcp"
    with pytest.raises(ValidationError, match="tools_via"):
        spec(tools_via="grpc")
