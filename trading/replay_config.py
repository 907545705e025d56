"""How a replay's settings and instruments are written down in a run's meta and read back
exactly, so that a resumed or replayed run trades under the same terms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from trading.costs import CostModel
from trading.domain import Instrument
from trading.errors import ConfigError
from trading.ledger import MarginSettings
from trading.risk import RiskLimits


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    symbols: tuple[str, ...]
    start: date | None = None
    end: date | None = None
    cash: Decimal = Decimal(100_000)
    costs: CostModel = field(default_factory=CostModel)
    limits: RiskLimits = field(default_factory=RiskLimits)
    margin: MarginSettings = field(default_factory=MarginSettings)
    rebalance_threshold: Decimal = Decimal("0.02")
    flatten_on_kill: bool = True

    def describe(self) -> dict[str, Any]:
        return {
            "symbols": list(self.symbols),
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "cash": str(self.cash),
            "costs": self.costs.model_dump(mode="json"),
            "limits": self.limits.model_dump(mode="json"),
            "margin": {
                "allow_shorting": self.margin.allow_shorting,
                "short_margin": str(self.margin.short_margin),
                "max_cash_borrow": str(self.margin.max_cash_borrow),
            },
            "rebalance_threshold": str(self.rebalance_threshold),
            "flatten_on_kill": self.flatten_on_kill,
        }

    @classmethod
    def from_description(cls, described: Mapping[str, Any]) -> ReplayConfig:
        """The config `describe` wrote (extra keys beside it are ignored), exactly: a stored run
        is resumed from it."""
        try:
            margin = described["margin"]
            return cls(
                symbols=tuple(described["symbols"]),
                start=_date_or_none(described["start"]),
                end=_date_or_none(described["end"]),
                cash=Decimal(described["cash"]),
                costs=CostModel.model_validate(described["costs"]),
                limits=RiskLimits.model_validate(described["limits"]),
                margin=MarginSettings(
                    allow_shorting=bool(margin["allow_shorting"]),
                    short_margin=Decimal(margin["short_margin"]),
                    max_cash_borrow=Decimal(margin["max_cash_borrow"]),
                ),
                rebalance_threshold=Decimal(described["rebalance_threshold"]),
                flatten_on_kill=bool(described["flatten_on_kill"]),
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            raise ConfigError(f"a stored run config is unreadable: {error!r}") from error


def describe_instruments(instruments: Mapping[str, Instrument]) -> dict[str, dict[str, str]]:
    return {
        symbol: {
            "quote_currency": i.quote_currency,
            "quantity_increment": str(i.quantity_increment),
            "price_increment": str(i.price_increment),
        }
        for symbol, i in sorted(instruments.items())
    }


def instruments_from_description(described: Mapping[str, Any]) -> dict[str, Instrument]:
    return {
        symbol: Instrument(
            symbol,
            quote_currency=str(i["quote_currency"]),
            quantity_increment=Decimal(i["quantity_increment"]),
            price_increment=Decimal(i["price_increment"]),
        )
        for symbol, i in described.items()
    }


def _date_or_none(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)
