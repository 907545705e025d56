"""The root group imports a command only when it runs: a quant backtest, `tradepit --help` and
`tradepit trade --help` load no LLM or MCP stack, and the lazy listing says exactly what the
commands themselves say."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from orchestration.cli import app
from orchestration.cli.lazy_commands import LazyCommand, LazyCommands
from orchestration.cli.root import COMMANDS, SETTINGS

ROOT = Path(__file__).resolve().parents[3]
# What only LLM agents, providers and the MCP server need.
LLM_AND_MCP = ("agno", "mcp", "litellm", "openai", "anthropic", "httpx", "httpx2", "uvicorn")
COMMAND_MODULES = sorted({where.module for where in COMMANDS.values()})

# Runs `tradepit ARGS` in a fresh interpreter, then prints the modules it had imported.
CHILD = """
import json, sys
from orchestration.cli import main
try:
    main()
except SystemExit as stop:
    code = stop.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def imported_by(args: list[str], home: Path) -> tuple[int, set[str]]:
    child = subprocess.run(  # noqa: S603 - our own interpreter running our own CLI
        [sys.executable, "-c", CHILD, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TRADEPIT_HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    report = json.loads(child.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


def packages(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted({m for m in modules if m.split(".")[0] in names})


def test_a_quant_backtest_imports_no_llm_or_mcp_stack(tmp_path: Path) -> None:
    args = ["backtest", "--agent", "sma_cross", "--symbol", "SPX", "--start", "2010-01-01"]
    code, modules = imported_by([*args, "--end", "2011-12-31", "--json"], tmp_path)
    assert code == 0
    assert "orchestration.cli.data" in modules  # it did run the backtest
    assert packages(modules, LLM_AND_MCP) == []
    others = [m for m in COMMAND_MODULES if m != "orchestration.cli.data"]
    assert [m for m in others if m in modules] == []


def test_the_root_help_imports_no_command(tmp_path: Path) -> None:
    code, modules = imported_by(["--help"], tmp_path)
    assert code == 0
    assert [m for m in COMMAND_MODULES if m in modules] == []
    assert packages(modules, (*LLM_AND_MCP, "pandas", "sqlalchemy")) == []


@pytest.mark.parametrize(
    "args",
    [["trade", "--help"], ["trade", "--events", "xml"]],
    ids=["help", "a refused flag"],
)
def test_trade_imports_no_llm_or_mcp_stack_before_it_runs(args: list[str], tmp_path: Path) -> None:
    code, modules = imported_by(args, tmp_path)
    assert code == (0 if "--help" in args else 2)
    assert "orchestration.cli.trade" in modules
    assert "orchestration.cli.trade_run" not in modules
    assert packages(modules, LLM_AND_MCP) == []


def eager_app() -> typer.Typer:
    """The root app as typer builds it with every command registered up front."""
    eager = typer.Typer(name="tradepit", help=app.info.help, no_args_is_help=True, **SETTINGS)
    for name, where in COMMANDS.items():
        target = getattr(importlib.import_module(where.module), where.attribute)
        if isinstance(target, typer.Typer):
            eager.add_typer(target, name=name)
        else:
            eager.command(name)(target)
    return eager


@pytest.mark.parametrize("args", [["--help"], [], ["bactest"], *([n, "--help"] for n in COMMANDS)])
def test_help_and_errors_read_as_with_every_command_loaded(args: list[str]) -> None:
    runner = CliRunner()
    lazy = runner.invoke(app, args, prog_name="tradepit")
    eager = runner.invoke(eager_app(), args, prog_name="tradepit")
    assert (lazy.exit_code, lazy.output) == (eager.exit_code, eager.output)


def test_each_summary_is_the_first_paragraph_of_the_commands_own_help() -> None:
    group = typer.main.get_command(eager_app())
    assert isinstance(group, typer.core.TyperGroup)
    assert list(group.commands) == list(COMMANDS)
    for name, where in COMMANDS.items():
        own = group.commands[name].help or ""
        assert where.summary == " ".join(own.split("\n\n")[0].split()), name


def test_a_lazy_command_is_built_on_its_first_lookup_only() -> None:
    built: list[str] = []

    def load(name: str, where: LazyCommand) -> str:
        built.append(name)
        return f"{where.module}:{where.attribute}"

    lazy = {"one": LazyCommand("pkg.one", "one", "One."), "two": LazyCommand("pkg.two", "two", "")}
    commands = LazyCommands({"three": "built"}, lazy, load)
    assert list(commands) == ["one", "two", "three"]
    assert "two" in commands
    assert built == []  # listing and membership import nothing
    assert commands["two"] == commands.get("two") == "pkg.two:two"
    assert built == ["two"]
    assert commands.get("four") is None
    del commands["one"]
    assert list(commands) == ["two", "three"]
    assert built == ["two"]
