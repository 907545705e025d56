"""A local store of closed Kraken candles, so repeated runs do not fetch them again.

Only closed candles are ever written (a closed candle never changes), together with the span
of time each (pair, timeframe) is known to cover, so a gap in the data (no trades) is told
apart from a span never fetched. SQLite through SQLAlchemy, prices as exact text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Integer, String, delete, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from trading.storage import DecimalText, engine_for
from trading.storage_schema import Base, create_schema


@dataclass(frozen=True, slots=True)
class Candle:
    """One closed candle: `time` is its start in epoch seconds."""

    time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class CandleRow(Base):
    __tablename__ = "kraken_candles"
    pair: Mapped[str] = mapped_column(String(32), primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(8), primary_key=True)
    time: Mapped[int] = mapped_column(Integer, primary_key=True)
    open: Mapped[Decimal] = mapped_column(DecimalText())
    high: Mapped[Decimal] = mapped_column(DecimalText())
    low: Mapped[Decimal] = mapped_column(DecimalText())
    close: Mapped[Decimal] = mapped_column(DecimalText())
    volume: Mapped[Decimal] = mapped_column(DecimalText())


class CoverageRow(Base):
    __tablename__ = "kraken_candle_coverage"
    pair: Mapped[str] = mapped_column(String(32), primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(8), primary_key=True)
    first: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer)


class CandleCache:
    FILE_NAME = "kraken_candles.db"

    def __init__(self, url: str) -> None:
        self._engine = engine_for(url)
        create_schema(self._engine, (CandleRow, CoverageRow))

    @classmethod
    def in_directory(cls, cache_dir: Path) -> CandleCache:
        cache_dir.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{cache_dir / cls.FILE_NAME}")

    @classmethod
    def in_memory(cls) -> CandleCache:
        return cls("sqlite://")

    def close(self) -> None:
        self._engine.dispose()

    def coverage(self, pair: str, timeframe: str) -> tuple[int, int] | None:
        """The first and last candle start known for (pair, timeframe), or None."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(CoverageRow.first, CoverageRow.last).where(
                    CoverageRow.pair == pair, CoverageRow.timeframe == timeframe
                )
            ).first()
        return (int(row[0]), int(row[1])) if row else None

    def put(
        self, pair: str, timeframe: str, candles: Iterable[Candle], first: int, last: int
    ) -> None:
        """Store candles and record that [first, last] is fully known. The span must touch or
        overlap what was known, so the coverage stays one unbroken span."""
        rows = [
            {"pair": pair, "timeframe": timeframe, **_columns(c)}
            for c in candles
            if first <= c.time <= last
        ]
        known = self.coverage(pair, timeframe)
        with self._engine.begin() as connection:
            if rows:
                connection.execute(
                    delete(CandleRow).where(
                        CandleRow.pair == pair,
                        CandleRow.timeframe == timeframe,
                        CandleRow.time.between(first, last),
                    )
                )
                connection.execute(insert(CandleRow), rows)
            if known is not None:
                first, last = min(first, known[0]), max(last, known[1])
                connection.execute(
                    delete(CoverageRow).where(
                        CoverageRow.pair == pair, CoverageRow.timeframe == timeframe
                    )
                )
            connection.execute(
                insert(CoverageRow),
                [{"pair": pair, "timeframe": timeframe, "first": first, "last": last}],
            )

    def get(self, pair: str, timeframe: str, first: int, last: int) -> list[Candle]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(
                    CandleRow.time,
                    CandleRow.open,
                    CandleRow.high,
                    CandleRow.low,
                    CandleRow.close,
                    CandleRow.volume,
                )
                .where(
                    CandleRow.pair == pair,
                    CandleRow.timeframe == timeframe,
                    CandleRow.time.between(first, last),
                )
                .order_by(CandleRow.time)
            ).all()
        return [Candle(int(t), o, h, lo, c, v) for t, o, h, lo, c, v in rows]


def _columns(candle: Candle) -> dict[str, object]:
    return {
        "time": candle.time,
        "open": candle.open,
        "high": candle.high,
        "low": candle.low,
        "close": candle.close,
        "volume": candle.volume,
    }
