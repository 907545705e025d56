"""The compact point-in-time table of a universe that a portfolio turn shows the model: one
row per symbol with its last close, returns over several horizons, volatility, drawdown, RSI
and the gap to its 50-bar average, and the agent's current weight in it.

Every figure comes from the closes visible at the snapshot's moment (`PointInTimeView`), so
nothing after "now" can reach the model; a figure whose history is too short is "n/a". Under
anonymisation (`agents.anonymise`) the rows carry aliases and rebased closes; returns,
volatility, drawdown and RSI do not depend on the price's scale, so they are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import talib

from agents.anonymise import Anonymiser
from trading.data.series import FloatArray
from trading.decision import Snapshot

HORIZONS = (5, 21, 63, 252)  # bars: a week, a month, a quarter, a year
VOLATILITY_BARS = 63
DRAWDOWN_BARS = 252
RSI_BARS = 14
SMA_BARS = 50
TRADING_DAYS = 252
COLUMNS = (
    "symbol",
    "close",
    *(f"ret_{h}d" for h in HORIZONS),
    f"vol_{VOLATILITY_BARS}d_ann",
    f"drawdown_{DRAWDOWN_BARS}d",
    f"rsi_{RSI_BARS}",
    f"sma_{SMA_BARS}_gap",
    "weight",
)


@dataclass(frozen=True, slots=True)
class UniverseRow:
    """One symbol's figures, in percent where they are shares (None: too little history)."""

    symbol: str  # as the model is shown it
    close: float
    returns_pct: tuple[float | None, ...]  # one per HORIZONS
    volatility_pct: float | None  # annualised
    drawdown_pct: float | None  # from the highest close of the window, <= 0
    rsi: float | None
    sma_gap_pct: float | None
    weight_pct: float

    def cells(self) -> list[str]:
        return [
            self.symbol,
            f"{self.close:.2f}",
            *(_cell(r) for r in self.returns_pct),
            _cell(self.volatility_pct),
            _cell(self.drawdown_pct),
            _cell(self.rsi),
            _cell(self.sma_gap_pct),
            f"{self.weight_pct:.1f}",
        ]


def universe_rows(snapshot: Snapshot, anonymiser: Anonymiser | None = None) -> list[UniverseRow]:
    """The rows in the order the model is shown them (by the name it sees)."""
    rows = []
    for symbol in snapshot.symbols:
        closes = np.asarray(snapshot.view.arrays(symbol).close, dtype=np.float64)
        scale = 1.0 if anonymiser is None else anonymiser.factor(snapshot.view, symbol)
        rows.append(
            UniverseRow(
                symbol=symbol if anonymiser is None else anonymiser.alias(symbol),
                close=float(closes[-1]) * scale,
                returns_pct=tuple(_return(closes, h) for h in HORIZONS),
                volatility_pct=_volatility(closes),
                drawdown_pct=_drawdown(closes),
                rsi=_rsi(closes),
                sma_gap_pct=_sma_gap(closes),
                weight_pct=float(snapshot.portfolio.weight(symbol)) * 100.0,
            )
        )
    return sorted(rows, key=lambda r: r.symbol)


def render(rows: list[UniverseRow]) -> str:
    """Comma-separated, one header line: the fewest tokens a model reads reliably."""
    return "\n".join([",".join(COLUMNS), *(",".join(r.cells()) for r in rows)])


def _cell(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.1f}"


def _return(closes: FloatArray, bars: int) -> float | None:
    if len(closes) <= bars:
        return None
    return float(closes[-1] / closes[-1 - bars] - 1.0) * 100.0


def _volatility(closes: FloatArray) -> float | None:
    if len(closes) <= VOLATILITY_BARS:
        return None
    returns = np.diff(np.log(closes[-1 - VOLATILITY_BARS :]))
    return float(returns.std(ddof=1) * np.sqrt(TRADING_DAYS)) * 100.0


def _drawdown(closes: FloatArray) -> float | None:
    if len(closes) < 2:
        return None
    window = closes[-DRAWDOWN_BARS:]
    return float(window[-1] / window.max() - 1.0) * 100.0


def _rsi(closes: FloatArray) -> float | None:
    if len(closes) <= RSI_BARS:
        return None
    # Wilder's smoothing reaches back to the first bar; a bounded tail keeps the figure the
    # same whatever the history's length, within far less than the table's one decimal.
    tail = np.ascontiguousarray(closes[-10 * RSI_BARS :])
    return float(talib.RSI(tail, timeperiod=RSI_BARS)[-1])


def _sma_gap(closes: FloatArray) -> float | None:
    if len(closes) < SMA_BARS:
        return None
    return float(closes[-1] / closes[-SMA_BARS:].mean() - 1.0) * 100.0
