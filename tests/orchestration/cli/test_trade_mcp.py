"""`tradepit trade` on bundled history with agents whose specs name MCP servers: a server
that cannot be proven point-in-time, or one that fails to start, stops the run before its
first cycle with one line naming it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.fakes.agents import thesis_json
from tests.fakes.llm_server import Say, fake_llm
from tests.orchestration.cli.test_trade import PROMPT, WINDOW, Desk, spec

TIME_SERVER = str(Path(sys.executable).parent / "mcp-server-time")


def with_server(desk: Desk, **server: Any) -> Path:
    clock = {"name": "clock", "command": TIME_SERVER, "tools": ["get_current_time"], **server}
    analyst = {**spec("bull", "bull"), "mcp_servers": [clock]}
    return desk.team({"name": "desk", "mode": "vote", "members": [{"spec": analyst}]})


def test_trade_on_history_refuses_an_external_server_not_marked_point_in_time(
    tmp_path: Path,
) -> None:
    with fake_llm([]) as server:
        desk = Desk(tmp_path, server)
        code, _, err = desk.trade(
            "--team", str(with_server(desk)), *WINDOW, "--db", f"sqlite:///{tmp_path / 'run.db'}"
        )
    assert code == 2
    [line] = err.strip().splitlines()
    assert "MCP server 'clock' is external" in line
    assert "point_in_time: true" in line


def test_a_server_that_fails_to_start_stops_trade_before_its_first_cycle(
    tmp_path: Path,
) -> None:
    with fake_llm([]) as server:
        desk = Desk(tmp_path, server)
        team = with_server(desk, command=sys.executable, args=["-c", "pass"], point_in_time=True)
        code, _, err = desk.trade(
            "--team", str(team), *WINDOW, "--db", f"sqlite:///{tmp_path / 'run.db'}"
        )
        assert server.requests == []  # no model was asked anything
    assert code == 2
    [line] = err.strip().splitlines()
    assert "MCP server 'clock' failed to start" in line


def test_a_run_with_an_external_server_says_so_in_its_summary_and_json(tmp_path: Path) -> None:
    thesis = Say(thesis_json(stance="buy", target_weight_pct=50, evidence=PROMPT))
    with fake_llm(lambda body: thesis) as server:
        desk = Desk(tmp_path, server)
        team = with_server(desk, point_in_time=True)
        db = f"sqlite:///{tmp_path / 'run.db'}"
        code, out, err = desk.trade("--team", str(team), *WINDOW, "--db", db)
        assert code == 0, err
        mark = "external tools, point-in-time not proven (MCP servers: clock)"
        assert mark in " ".join(out.split())
        code, out, err = desk.trade("--team", str(team), *WINDOW, "--db", db, "--json")
    assert code == 0, err
    assert json.loads(out)["tools_caveat"] == mark
    assert _servers_running() == []  # the run's end stopped its MCP servers


def _servers_running() -> list[str]:
    """The mcp-server-time processes still running under this test process."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
            cmdline = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(os.getpid()) and "mcp-server-time" in cmdline:
            found.append(cmdline)
    return found
