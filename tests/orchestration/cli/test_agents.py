"""`tradepit agents`, called in-process: the round trip, JSON for machines, a rich table for
people, and one clear stderr line with exit code 2 for every bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.manager import load_spec_file
from tests.orchestration.cli.helpers import as_json, bad, invoke, ok

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRADEPIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRADEPIT_PROVIDERS", str(ROOT / "providers.yaml"))
    return tmp_path / "home"


BULL = ["agents", "create", "bull", "--role", "bull", "--model", "fast", "--temperature", "0.3"]


def test_create_list_show_update_remove_round_trip(home: Path) -> None:
    created = as_json(*BULL)
    assert created["spec"]["temperature"] == 0.3
    assert created["file"] == str(home / "agents" / "bull.yaml")
    assert [a["name"] for a in as_json("agents", "list")["agents"]] == ["bull"]

    ok("agents", "update", "bull", "--temperature", "0.6", "--tools", "get_price,get_ohlcv")
    shown = as_json("agents", "show", "bull")
    assert shown["spec"]["temperature"] == 0.6
    assert shown["spec"]["tools"] == ["get_price", "get_ohlcv"]
    assert shown["spec"]["max_tokens"] == 1024  # untouched fields keep their values
    assert shown["file_status"] == "same"
    assert load_spec_file(home / "agents" / "bull.yaml").model_dump(mode="json") == shown["spec"]

    out = ok("agents", "remove", "bull")
    assert "removed agent 'bull'" in out
    assert as_json("agents", "list") == {"agents": []}
    assert not (home / "agents" / "bull.yaml").exists()


def test_every_option_reaches_the_spec() -> None:
    spec = as_json(
        "agents",
        "create",
        "contrarian",
        "--role",
        "custom",
        "--persona",
        "You fade crowded trades.",
        "--model",
        "deep",
        "--fallback-model",
        "openai:gpt-4o-mini",
        "--temperature",
        "0.9",
        "--max-tokens",
        "2048",
        "--tools",
        "get_price, compute_indicator",
        "--max-weight",
        "0.5",
        "--min-confidence",
        "0.4",
        "--timeout",
        "30",
        "--decide-every",
        "10",
        "--portfolio",
    )["spec"]
    assert spec == {
        "name": "contrarian",
        "role": "custom",
        "persona": "You fade crowded trades.",
        "model": "deep",
        "fallback_model": "openai:gpt-4o-mini",
        "temperature": 0.9,
        "max_tokens": 2048,
        "tools": ["get_price", "compute_indicator"],
        "max_weight": 0.5,
        "min_confidence": 0.4,
        "timeout_s": 30.0,
        "portfolio": True,
        "decide_every": 10,
        # Tool sources have no option yet: set in a spec file, they default to in-process.
        "tools_via": "in_process",
        "mcp_transport": "memory",
        "mcp_servers": [],
    }


def test_unset_clears_a_fallback_model() -> None:
    ok(*BULL, "--fallback-model", "local")
    assert (
        as_json("agents", "update", "bull", "--unset", "fallback-model")["spec"]["fallback_model"]
        is None
    )


def test_create_from_a_file_and_with_options_that_override_it(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "name: tech\nrole: technical_analyst\nmodel: deep\ntools: [compute_indicator]\n"
    )
    assert as_json("agents", "create", "--file", str(path))["spec"]["tools"] == [
        "compute_indicator"
    ]
    path.write_text("role: bear\nmodel: fast\n")
    spec = as_json("agents", "create", "skeptic", "--file", str(path), "--temperature", "1")
    assert spec["spec"]["role"] == "bear"
    assert spec["spec"]["temperature"] == 1.0
    assert [a["name"] for a in as_json("agents", "list")["agents"]] == ["skeptic", "tech"]


def test_a_hand_edited_file_is_flagged_then_applied_with_update_file(home: Path) -> None:
    ok(*BULL)
    path = home / "agents" / "bull.yaml"
    path.write_text(path.read_text().replace("temperature: 0.3", "temperature: 0.8"))
    out = ok("agents", "show", "bull")
    assert "edited" in out
    assert "tradepit agents update bull --file" in out
    err = bad("agents", "update", "bull", "--max-tokens", "2048")
    assert "differs from the database" in err
    spec = as_json("agents", "update", "bull", "--file", str(path), "--max-tokens", "2048")["spec"]
    assert (spec["temperature"], spec["max_tokens"]) == (0.8, 2048)
    assert as_json("agents", "show", "bull")["file_status"] == "same"


def test_list_prints_a_table_for_people() -> None:
    assert "no agents yet" in ok("agents", "list")
    ok(*BULL, "--fallback-model", "local")
    out = ok("agents", "list")
    for cell in ("Agents", "bull", "fast", "then local", "0.3", "get_market_summary", "same"):
        assert cell in out


def test_show_prints_every_field_for_people() -> None:
    ok(*BULL)
    out = ok("agents", "show", "bull")
    for cell in ("agent bull", "temperature", "0.3", "max_tokens", "1024", "bull.yaml (same)"):
        assert cell in out


def test_home_option_overrides_the_environment(tmp_path: Path, home: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    ok(*BULL, "--home", str(elsewhere))
    assert (elsewhere / "agents.db").exists()
    assert (elsewhere / "agents" / "bull.yaml").exists()
    assert as_json("agents", "list") == {"agents": []}
    assert len(as_json("agents", "list", "--home", str(elsewhere))["agents"]) == 1


def test_agents_persist_between_commands_in_the_home_database(home: Path) -> None:
    ok(*BULL)
    assert (home / "agents.db").exists()
    assert as_json("agents", "show", "bull")["spec"]["model"] == "fast"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--temperature", "9"], "temperature: Input should be less than or equal to 1.5"),
        (["--temperature", "warm"], "temperature: Input should be a valid number"),
        (["--max-tokens", "10"], "max_tokens: Input should be greater than or equal to 64"),
        (["--model", "nosuch:model"], "model: model reference 'nosuch:model': unknown provider"),
        (["--fallback-model", "openai:gpt-0"], "fallback_model: model reference 'openai:gpt-0'"),
        (["--role", "hero"], "role: Input should be"),
        (["--tools", "get_price,sell_all"], "unknown tools ['sell_all']"),
        (["--persona", "Be bold."], "only a custom role takes one"),
    ],
)
def test_bad_options_are_one_clear_line_and_exit_code_2(args: list[str], message: str) -> None:
    assert message in bad(*BULL, *args)
    assert as_json("agents", "list") == {"agents": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["agents", "create", "bull", "--role", "bull"], "needs --model (or --file)"),
        (["agents", "create", "--role", "bull", "--model", "fast"], "give the agent's name"),
        (["agents", "create", "Bull!", "--role", "bull", "--model", "fast"], "name: String"),
        (["agents", "update", "bull", "--unset", "model"], "--unset takes persona or"),
        (["agents", "update", "bull", "--name", "x"], "No such option"),
    ],
)
def test_incomplete_commands_say_what_is_missing(args: list[str], message: str) -> None:
    code, _, err = invoke(*args)
    assert code == 2
    assert message in err


def test_a_duplicate_name_is_refused() -> None:
    ok(*BULL)
    assert "an agent named 'bull' already exists" in bad(*BULL)


@pytest.mark.parametrize("command", ["show", "update", "remove"])
def test_an_unknown_name_lists_the_known_agents(command: str) -> None:
    ok(*BULL)
    ok("agents", "create", "bear", "--role", "bear", "--model", "fast")
    assert "no agent named 'ghost'; known: bear, bull" in bad("agents", command, "ghost")


def test_a_bad_spec_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("name: bull\nrole: bull\nmodel: fast\ntemprature: 0.3\n")
    err = bad("agents", "create", "--file", str(path))
    assert str(path) in err
    assert "temprature: unknown field" in err


def test_help_teaches_with_examples() -> None:
    out = ok("--help")
    assert "agents" in out
    out = ok("agents", "--help")
    for command in ("list", "show", "create", "update", "remove"):
        assert command in out
    out = ok("agents", "create", "--help")
    assert "tradepit agents create bull --role bull --model fast" in out
    assert "--fallback-model" in out
    assert "tradepit agents update bull --temperature" in ok("agents", "update", "--help")


def test_a_persona_is_printed_as_written_never_as_rich_markup() -> None:
    persona = "Be [bold]contrarian[/bold]."
    ok("agents", "create", "c", "--role", "custom", "--model", "deep", "--persona", persona)
    assert persona in ok("agents", "show", "c")


def test_create_takes_tools_via_mcp_and_an_mcp_servers_file(tmp_path: Path) -> None:
    servers = tmp_path / "servers.yaml"
    servers.write_text(
        "- name: clock\n  command: mcp-server-time\n  tools: [get_current_time]\n"
        "  point_in_time: true\n"
    )
    spec = as_json(
        *BULL, "--tools", "get_price", "--tools-via", "mcp", "--mcp-transport", "stdio",
        "--mcp-servers", str(servers),
    )["spec"]  # fmt: skip
    assert (spec["tools_via"], spec["mcp_transport"]) == ("mcp", "stdio")
    [clock] = spec["mcp_servers"]
    assert (clock["name"], clock["tools"], clock["point_in_time"]) == (
        "clock", ["get_current_time"], True,
    )  # fmt: skip
    updated = as_json("agents", "update", "bull", "--tools-via", "in_process")["spec"]
    assert updated["tools_via"] == "in_process"
    assert updated["mcp_servers"] == spec["mcp_servers"]  # untouched


def test_bad_tools_via_and_mcp_servers_are_one_line_naming_them(tmp_path: Path) -> None:
    assert "tools_via" in bad(*BULL, "--tools-via", "grpc")
    assert "mcp_transport" in bad(*BULL, "--mcp-transport", "pigeon")
    listless = tmp_path / "one.yaml"
    listless.write_text("name: clock\n")
    assert "--mcp-servers" in bad(*BULL, "--mcp-servers", str(listless))
    assert "--mcp-servers" in bad(*BULL, "--mcp-servers", str(tmp_path / "absent.yaml"))
    nameless = tmp_path / "nameless.yaml"
    nameless.write_text("- command: mcp-server-time\n  tools: [get_current_time]\n")
    assert "mcp_servers" in bad(*BULL, "--mcp-servers", str(nameless))
