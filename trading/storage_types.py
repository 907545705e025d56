"""The column types of tradepit's tables: exact decimals as text, aware UTC times, and a cycle's
bars in a compact JSON form; with the encoders `trading.storage_bulk` uses for a whole column of
a backtest's thousands of rows, which store what the types' own bind processing stores.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import repeat
from typing import Any

import numpy as np
from sqlalchemy import JSON, DateTime, String, TypeDecorator
from sqlalchemy.engine import Dialect


class DecimalText(TypeDecorator[Decimal]):
    """Exact decimals in any database: stored as their string form."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)

    def bulk_processor(
        self, dialect: Dialect, process: Callable[[Any], Any]
    ) -> Callable[[Sequence[Any]], list[Any]] | None:
        """`process` of a column's values, for `trading.storage_bulk`: `str` of each, None
        kept, where the dialect stores the text as it is given (SQLite does). A `str` costs
        less than looking up an earlier one, so equal values are not looked for."""
        if self.impl_instance.dialect_impl(dialect).bind_processor(dialect) is not None:
            return None

        def encode(values: Sequence[Any]) -> list[Any]:
            if any(map(operator.is_, values, repeat(None))):
                return [None if v is None else str(v) for v in values]
            return list(map(str, values))

        return encode


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, whatever the database keeps."""

    impl = DateTime()
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; times are UTC-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)

    def bulk_processor(
        self, dialect: Dialect, process: Callable[[Any], Any]
    ) -> Callable[[Sequence[Any]], list[Any]] | None:
        """`process` (this type's bind processing) of a column's values, for
        `trading.storage_bulk`, faster on SQLite, whose storage text is the time in UTC. A
        column of aware `datetime`s (a replay's times, in UTC) is formatted in numpy from each
        time's exact count of microseconds since the epoch, which is the UTC time `process`
        formats, whatever the zone. In any other column an aware UTC time is formatted by
        position (the same format) and anything else (another zone, a naive time, a subclass,
        None) takes `process`."""
        stored = self.impl_instance.dialect_impl(dialect)
        if dialect.name != "sqlite" or getattr(stored, "_storage_format", None) != _SQLITE_TEXT:
            return None

        def encode(values: Sequence[Any]) -> list[Any]:
            if set(map(type, values)) == {datetime}:
                try:
                    return sqlite_utc_texts(values)
                except TypeError:  # a naive time among them: `process` says why
                    pass
            text, fields = _SQLITE_TEXT_BY_POSITION, _fields
            return [
                text % fields(v) if type(v) is datetime and v.tzinfo is UTC else process(v)
                for v in values
            ]

        return encode


# The text SQLAlchemy's SQLite dialect stores a `DateTime` as, unless told otherwise, and the
# same format taking its fields by position.
_SQLITE_TEXT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)
_SQLITE_TEXT_BY_POSITION = re.sub(r"%\((\w+)\)", "%", _SQLITE_TEXT)
_fields = operator.attrgetter(*re.findall(r"%\((\w+)\)", _SQLITE_TEXT))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# `_SQLITE_TEXT` with every digit 0, as code points.
_ZEROS = np.frombuffer("0000-00-00 00:00:00.000000".encode("utf-32-le"), dtype=np.uint32)
_MICROSECONDS_A_DAY = 86_400_000_000
# 1970-01-01 in days from 0000-03-01 of the proleptic Gregorian calendar: counted from March,
# a year ends with February's leap day.
_EPOCH_DAYS = 719_468


def sqlite_utc_texts(times: Sequence[datetime]) -> list[str]:
    """SQLite's stored text ("YYYY-MM-DD HH:MM:SS.ffffff") of the UTC time of each of `times`,
    aware datetimes (TypeError for a naive one), written in numpy a column of digits at a
    time: a third of the cost of formatting each. The microseconds since the epoch are exact
    (a difference of aware times floor-divided by a microsecond), and the date is the civil
    date of the day count (H. Hinnant's `civil_from_days`)."""
    micros = np.fromiter(
        map(operator.floordiv, map(operator.sub, times, repeat(_EPOCH)), repeat(_MICROSECOND)),
        dtype=np.int64,
        count=len(times),
    )
    days, micro_of_day = np.divmod(micros, _MICROSECONDS_A_DAY)
    seconds, microsecond = np.divmod(micro_of_day, 1_000_000)
    hour, second_of_hour = np.divmod(seconds, 3600)
    minute, second = np.divmod(second_of_hour, 60)
    era, day_of_era = np.divmod(days + _EPOCH_DAYS, 146_097)
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_from_march = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_from_march + 2) // 5 + 1
    month = np.where(month_from_march < 10, month_from_march + 3, month_from_march - 9)
    year = year_of_era + era * 400 + (month <= 2)
    text = np.tile(_ZEROS, (len(times), 1))
    # Each field's digits, from its last: where a field is 0 in every time (the time of day of
    # daily bars) its zeros stay.
    for value, last, width in (
        (year, 3, 4),
        (month, 6, 2),
        (day, 9, 2),
        (hour, 12, 2),
        (minute, 15, 2),
        (second, 18, 2),
        (microsecond, 25, 6),
    ):
        for place in range(last, last - width, -1):
            if not value.any():
                break
            text[:, place] += (value % 10).astype(np.uint32)
            value = value // 10
    stored: list[str] = text.view(f"<U{len(_ZEROS)}").ravel().tolist()
    return stored


class CompactBars(TypeDecorator[list[dict[str, Any]]]):
    """A cycle's bars, given and read as a list of {"symbol", "time", "open", ..., "volume"}
    dicts, stored as a list of value lists in that order: the names, repeated in every bar of
    every cycle, made up a third of the column. A dict with other keys, and the rows stored
    before, stay dicts."""

    impl = JSON()
    cache_ok = True
    FIELDS = ("symbol", "time", "open", "high", "low", "close", "volume")

    def process_bind_param(
        self, value: list[dict[str, Any]] | None, dialect: Dialect
    ) -> list[Any] | None:
        if value is None:
            return None
        return [
            [bar[name] for name in self.FIELDS] if tuple(bar) == self.FIELDS else bar
            for bar in value
        ]

    def process_result_value(
        self, value: list[Any] | None, dialect: Dialect
    ) -> list[dict[str, Any]] | None:
        if value is None:
            return None
        return [
            bar if isinstance(bar, dict) else dict(zip(self.FIELDS, bar, strict=True))
            for bar in value
        ]
