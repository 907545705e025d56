"""The risk-limit options `tradepit backtest` and `tradepit trade` share, declared once: each
sets one field of `trading.risk.RiskLimits` (the flag is the field's name with dashes), so a
limit an evolution run tuned replays with the flag of the same name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import typer

from orchestration.cli.common import MAX_DRAWDOWN_HELP, model_from_flags, parse_decimal
from trading.risk import RiskLimits

MaxPositionWeight = Annotated[
    str | None,
    typer.Option(
        "--max-position-weight", help="Largest position per symbol, as a share of equity [1]."
    ),
]
MaxGrossExposure = Annotated[
    str | None,
    typer.Option(
        "--max-gross-exposure", help="Largest sum of positions, as a share of equity [1]."
    ),
]
DailyLossLimit = Annotated[
    str | None,
    typer.Option(
        "--daily-loss-limit", help="Block new risk after this loss since the last close, e.g. 0.05."
    ),
]
MaxDrawdown = Annotated[
    str | None,
    typer.Option("--max-drawdown", help=MAX_DRAWDOWN_HELP),
]
StopLoss = Annotated[
    str | None,
    typer.Option("--stop-loss", help="Close a position this far against its entry, e.g. 0.05."),
]
TakeProfit = Annotated[
    str | None,
    typer.Option("--take-profit", help="Close a position this far in its favour, e.g. 0.1."),
]


def flag_of(field: str) -> str:
    """The option that sets a `RiskLimits` field: `stop_loss` is `--stop-loss`."""
    return "--" + field.replace("_", "-")


def risk_limits(given: Mapping[str, str | None], base: RiskLimits | None = None) -> RiskLimits:
    """`base` (default: no limits but full exposure) with the risk options given, by flag
    (`{"--stop-loss": "0.05"}`; None: not given). An out-of-range value is one line naming the
    flag and the range (`model_from_flags`)."""
    flags: dict[str, tuple[str, object]] = {
        field: (flag_of(field), value)
        for field, value in (base or RiskLimits()).model_dump().items()
    }
    for option, value in given.items():
        if value is not None:
            flags[option.removeprefix("--").replace("-", "_")] = (
                option,
                parse_decimal(option, value),
            )
    return model_from_flags(RiskLimits, flags)
