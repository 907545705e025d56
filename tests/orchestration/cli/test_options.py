"""Option groups (`orchestration.cli.options`): a record of options declared once, spread into
a command's options for Typer, in place and in order, and built again for the command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from orchestration.cli.options import option, option_groups

Shared = Annotated[str | None, typer.Option("--shared", help="An alias declared elsewhere.")]


@dataclass(frozen=True, slots=True)
class Pair:
    fee_bps: str | None = option("The fee, in bps.")
    spec_file: str | None = option("A file.", "--file", "-f")
    shared: Shared = None
    fast: bool = option("Go fast.", "--fast/--slow", default=False)


@dataclass(frozen=True)
class Other:
    fee_bps: str | None = option("Another fee.")


@dataclass(frozen=True)
class Bare:
    plain: str | None = None


def app_of(command: typer.models.CommandFunctionType) -> typer.Typer:
    app = typer.Typer(rich_markup_mode=None)
    app.command()(command)
    return app


def test_a_group_is_its_options_in_place_and_the_command_gets_the_record() -> None:
    seen: list[tuple[str, Pair, bool]] = []

    @option_groups
    def command(name: str, *, pair: Pair, last: bool = False) -> None:
        seen.append((name, pair, last))

    runner = CliRunner()
    result = runner.invoke(app_of(command), ["x", "--fee-bps", "3", "-f", "a.yaml", "--fast"])
    assert result.exit_code == 0, result.output
    assert seen == [("x", Pair(fee_bps="3", spec_file="a.yaml", fast=True), False)]

    result = runner.invoke(app_of(command), ["y", "--shared", "s", "--last"])
    assert seen[-1] == ("y", Pair(shared="s"), True)

    help_text = runner.invoke(app_of(command), ["--help"], terminal_width=120).output
    order = [
        help_text.index(flag) for flag in ("--fee-bps", "--file", "--shared", "--fast", "--last")
    ]
    assert order == sorted(order)
    assert "The fee, in bps." in help_text
    assert "An alias declared elsewhere." in help_text


def test_two_groups_naming_one_option_are_refused_when_declared() -> None:
    def command(*, pair: Pair, other: Other) -> None:
        del pair, other

    with pytest.raises(TypeError, match="repeat fee_bps"):
        option_groups(command)


def test_a_field_that_declares_no_option_is_refused() -> None:
    def command(*, bare: Bare) -> None:
        del bare

    with pytest.raises(TypeError, match=r"Bare.plain declares no option"):
        option_groups(command)
