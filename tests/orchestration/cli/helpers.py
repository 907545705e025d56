"""Calling tradepit's command line in-process, as the CLI tests do: what a command exits with
and prints, and the checks a command that works and one that refuses its input must pass."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import typer
from typer.testing import CliRunner

from orchestration.cli import app

runner = CliRunner()


class Outcome(NamedTuple):
    """A command's exit code, standard output and standard error."""

    code: int
    out: str
    err: str


def invoke_app(command: typer.Typer, args: Sequence[str], obj: object = None) -> Outcome:
    """`command ARGS`, with `obj` as the context object its callbacks are handed."""
    result = runner.invoke(command, list(args), obj=obj)
    return Outcome(result.exit_code, result.stdout, result.stderr)


def invoke(*args: str) -> Outcome:
    """`tradepit ARGS`."""
    return invoke_app(app, args)


def succeeded(outcome: Outcome) -> str:
    """The output of a command that must work."""
    assert outcome.code == 0, (outcome.out, outcome.err)
    return outcome.out


def refused(outcome: Outcome) -> str:
    """The error line of a command that must fail on its input: exit code 2, nothing on
    stdout, one line on stderr."""
    assert outcome.code == 2, (outcome.out, outcome.err)
    assert outcome.out == ""
    assert len(outcome.err.strip().splitlines()) == 1, outcome.err
    return outcome.err


def ok(*args: str) -> str:
    """The output of `tradepit ARGS`, which must work."""
    return succeeded(invoke(*args))


def as_json(*args: str) -> Any:
    """The JSON document `tradepit ARGS --json` prints; the command must work."""
    return json.loads(ok(*args, "--json"))


def bad(*args: str) -> str:
    """The error line of `tradepit ARGS`, which must refuse its input."""
    return refused(invoke(*args))
