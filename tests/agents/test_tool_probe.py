"""`providers check`'s tool round tells a model that calls tools from one that ignores them
or calls them with junk, against a loopback model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agents.models import ProviderKeyRefused
from agents.tool_probe import PROBE_TOOL, probe_tools
from orchestration.cli import app
from tests.fakes.agents import loopback_providers
from tests.fakes.llm_server import CallTool, Fail, Say, Step, fake_llm

ADDS = CallTool(PROBE_TOOL, {"a": 17, "b": 25})


@pytest.mark.parametrize(
    ("script", "calls", "detail"),
    [
        ([ADDS, Say("42")], True, "called add_numbers(a=17, b=25) as asked"),
        ([Say("42")], False, "answered without calling add_numbers: '42'"),
        ([CallTool(PROBE_TOOL, {"a": 42}), Say("42")], False, 'add_numbers with {"a": 42}, not'),
        (
            [CallTool(PROBE_TOOL, '{"a": 17, "b": 2'), Say("42")],
            False,
            'with {"a": 17, "b": 2, not',
        ),
        ([CallTool("get_weather", {"city": "Paris"}), Say("42")], False, "called get_weather"),
        ([Fail(500, "down")], None, "the tool round failed: local:primary: HTTP 500"),
    ],
)
def test_the_tool_round_says_whether_the_model_called_the_tool_as_asked(
    script: list[Step], calls: bool | None, detail: str
) -> None:
    with fake_llm(script) as server:
        probe = probe_tools(loopback_providers(server).resolve("local:primary"), timeout_s=2.0)
        server.assert_done()
    assert probe.calls_tools is calls
    assert detail in probe.detail
    if script[0] == ADDS:
        offered = server.requests[0]["tools"]
        assert [t["function"]["name"] for t in offered] == [PROBE_TOOL]


def test_a_refused_key_stops_the_tool_round_naming_the_provider() -> None:
    """Not a round that failed: no call with that key can succeed (a ConfigError, exit 2)."""
    with fake_llm([Fail(401, "bad key")]) as server:
        with pytest.raises(ProviderKeyRefused, match=r"local refused the key .*HTTP 401"):
            probe_tools(loopback_providers(server).resolve("local:primary"), timeout_s=2.0)
        server.assert_done()


def test_providers_check_reports_a_model_that_does_not_call_tools(tmp_path: Path) -> None:
    with fake_llm([Say("OK"), Say("42"), Say("OK"), ADDS, Say("42")]) as server:
        path = tmp_path / "providers.yaml"
        config = loopback_providers(server).model_dump(mode="json")
        path.write_text(yaml.safe_dump(config))
        runner = CliRunner()
        plain = runner.invoke(
            app, ["providers", "check", "local:primary", "--providers", str(path)]
        )
        assert plain.exit_code == 0, plain.stderr
        assert "calls tools: NO, answered without calling add_numbers" in plain.stdout
        assert "set tools: false under providers.local.models.primary" in plain.stdout
        checked = runner.invoke(
            app, ["providers", "check", "local:primary", "--providers", str(path), "--json"]
        )
        server.assert_done()
    assert checked.exit_code == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert (report["reply"], report["calls_tools"]) == ("OK", True)
    assert report["tools_detail"] == "called add_numbers(a=17, b=25) as asked"
