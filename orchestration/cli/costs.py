"""The market options `tradepit backtest` and `tradepit trade` share, declared once: the
window (`--start`, `--end`), the starting cash and the cost flags that make a
`trading.costs.CostModel`. Each is text until parsed here, so a bad value is one line naming
its flag, and a flag not given (None) takes the default its help shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Final

import typer

from orchestration.cli.common import fail, model_from_flags, parse_date, parse_decimal
from orchestration.cli.options import by_flag, option
from trading.costs import CostModel

DEFAULT_CASH: Final = "100000"

Start = Annotated[str | None, typer.Option("--start", help="First bar, YYYY-MM-DD.")]
End = Annotated[str | None, typer.Option("--end", help="Last bar, YYYY-MM-DD (inclusive).")]
Cash = Annotated[
    str | None,
    typer.Option("--cash", help="Starting cash [default: 100000; with --source kraken 10000]."),
]


@dataclass(frozen=True, slots=True)
class Window:
    """The bars a run covers; None: from the first, or to the last, bar there is."""

    start: date | None
    end: date | None


def parse_window(start: str | None, end: str | None) -> Window:
    """`--start` and `--end` parsed, and refused when the window runs backwards."""
    first, last = parse_date("--start", start), parse_date("--end", end)
    if first and last and first > last:
        fail(f"--start {first} is after --end {last}")
    return Window(first, last)


@dataclass(frozen=True, slots=True)
class CostFlags:
    """The cost options, an option group (`orchestration.cli.options`) `tradepit backtest` and
    `tradepit trade` both take, as given on the command line (None: not given)."""

    fee_bps: str | None = option("Exchange fee in bps of notional [default: 1].")
    slippage_bps: str | None = option(
        "Half-spread paid by market orders, in bps; 0 = the open exactly [default: 1]."
    )
    impact: str | None = option("Square-root market impact coefficient k [default: 0 = off].")
    commission_per_share: str | None = option("Commission per unit [default: 0].")
    min_commission: str | None = option("Least commission per order [default: 0].")
    borrow_rate: str | None = option("Annual borrow rate on shorts, 0.03 = 3% [default: 0].")
    participation_cap: str | None = option(
        "Most of the average daily volume one order takes per bar [default: 0.1]."
    )

    def given(self) -> list[str]:
        """The cost options given, by flag."""
        return [flag for flag, value in by_flag(self).items() if value]

    def cost_model(self) -> CostModel:
        """The costs these flags ask for, with the defaults their help shows."""
        given = by_flag(self)

        def number(flag: str, default: str, least: str = "0") -> tuple[str, Decimal]:
            value = given[flag]
            return flag, parse_decimal(flag, default if value is None else value, Decimal(least))

        fee = number("--fee-bps", "1")
        return model_from_flags(
            CostModel,
            {
                "taker_fee_bps": fee,
                "maker_fee_bps": fee,
                "half_spread_bps": number("--slippage-bps", "1"),
                "impact_coefficient": number("--impact", "0"),
                "commission_per_share": number("--commission-per-share", "0"),
                "min_commission": number("--min-commission", "0"),
                "borrow_rate": number("--borrow-rate", "0"),
                "participation_cap": number("--participation-cap", "0.1", "0.0001"),
            },
        )


def starting_cash(cash: str | None, default: str = DEFAULT_CASH) -> Decimal:
    """`--cash` parsed (at least a cent), else `default`."""
    return parse_decimal("--cash", default if cash is None else cash, Decimal("0.01"))
