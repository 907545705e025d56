"""`tradepit trade` on bundled history with agents whose specs name MCP servers: a server
that cannot be proven point-in-time, or one that fails to start, stops the run before its
first cycle with one line naming it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.fakes.llm_server import fake_llm
from tests.orchestration.cli.test_trade import WINDOW, Desk, spec

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
