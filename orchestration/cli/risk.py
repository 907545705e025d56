"""The risk-limit options `tradepit backtest` and `tradepit trade` share, declared once: each
sets one field of `trading.risk.RiskLimits` (the flag is the field's name with dashes), so a
limit an evolution run tuned replays with the flag of the same name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orchestration.cli.common import MAX_DRAWDOWN_HELP, model_from_flags, parse_decimal
from orchestration.cli.options import flag_name as flag_of
from orchestration.cli.options import option
from trading.risk import RiskLimits

# flag_of: the option that sets a `RiskLimits` field (`stop_loss` is `--stop-loss`).
__all__ = ["ExposureFlags", "StopFlags", "flag_of", "risk_limits"]


@dataclass(frozen=True, slots=True)
class ExposureFlags:
    """The limits on how much a run holds, an option group (`orchestration.cli.options`) of
    `tradepit backtest` (None: not given)."""

    max_position_weight: str | None = option(
        "Largest position per symbol, as a share of equity [1]."
    )
    max_gross_exposure: str | None = option("Largest sum of positions, as a share of equity [1].")
    daily_loss_limit: str | None = option(
        "Block new risk after this loss since the last close, e.g. 0.05."
    )


@dataclass(frozen=True, slots=True)
class StopFlags:
    """The limits that close positions, an option group `tradepit backtest` and `tradepit
    trade` both take: the kill switch past a drawdown, the stop-loss and the take-profit."""

    max_drawdown: str | None = option(MAX_DRAWDOWN_HELP)
    stop_loss: str | None = option("Close a position this far against its entry, e.g. 0.05.")
    take_profit: str | None = option("Close a position this far in its favour, e.g. 0.1.")


def risk_limits(given: Mapping[str, str | None], base: RiskLimits | None = None) -> RiskLimits:
    """`base` (default: no limits but full exposure) with the risk options given, by flag
    (`{"--stop-loss": "0.05"}`; None: not given). An out-of-range value is one line naming the
    flag and the range (`model_from_flags`)."""
    flags: dict[str, tuple[str, object]] = {
        field: (flag_of(field), value)
        for field, value in (base or RiskLimits()).model_dump().items()
    }
    for flag, value in given.items():
        if value is not None:
            flags[flag.removeprefix("--").replace("-", "_")] = (
                flag,
                parse_decimal(flag, value),
            )
    return model_from_flags(RiskLimits, flags)
