"""README.md opens with the two commands, and CI runs the second one word for word."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None, "README.md must open with a sh code block"
    assert text.index("```sh") < text.index("\n## "), "the commands come first"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands_main_job_then_tests() -> None:
    main_job, tests = readme_commands()
    assert ".venv/bin/tradepit " in main_job
    assert "pytest" in tests


def test_the_main_job_is_the_default_arena_on_the_bundled_data() -> None:
    main_job, _ = readme_commands()
    install, _, command = main_job.rpartition(" && ")
    assert install == "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'"
    words = shlex.split(command)
    assert words[:2] == [".venv/bin/tradepit", "arena"]
    # No config and no data file: the default competition on the data the package ships.
    assert "--config" not in words
    assert "--data" not in words


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = readme_commands()
    assert tests in (ROOT / ".ci" / "run").read_text()


def test_ci_runs_the_readme_lint_and_type_check_line() -> None:
    text = (ROOT / "README.md").read_text()
    development = text[text.index("\n## Development") :]
    block = re.search(r"```sh\n(.*?)```", development, re.S)
    assert block is not None, "README's Development section holds the lint line"
    [line] = [line for line in block.group(1).splitlines() if line.strip()]
    assert "ruff check" in line
    assert "mypy" in line
    assert line in (ROOT / ".ci" / "run").read_text()
