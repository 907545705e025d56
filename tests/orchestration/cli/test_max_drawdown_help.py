"""`--max-drawdown` says what the kill switch does: past the drawdown it sells everything and
holds cash for the rest of the run (`ReplayConfig.flatten_on_kill`), not merely "stop adding
risk"."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from orchestration.cli import app
from trading.replay import ReplayConfig
from trading.risk import RiskLimits


def option_help(command: str, option: str) -> str:
    group: Any = typer.main.get_command(app)
    found = group.commands[command]
    for parameter in found.params:
        if option in getattr(parameter, "opts", []):
            return " ".join(str(getattr(parameter, "help", "")).split())
    raise AssertionError(f"{command} has no {option}")


@pytest.mark.parametrize("command", ["trade", "backtest"])
def test_max_drawdown_help_says_the_kill_switch_sells_everything_and_holds_cash(
    command: str,
) -> None:
    said = option_help(command, "--max-drawdown")
    assert "sells everything and holds cash for the rest of the run" in said
    assert "stop adding risk" not in said


def test_the_limit_itself_says_what_tripping_it_does() -> None:
    description = str(RiskLimits.model_fields["max_drawdown"].description)
    assert "sells everything and holds cash for the rest of the run" in description
    assert ReplayConfig(symbols=("SPX",)).flatten_on_kill  # what the words promise
