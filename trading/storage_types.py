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
        column of `datetime`s in UTC (a replay's times) is formatted in numpy from their fields
        (`utc_texts`); one of aware `datetime`s in other zones too, from each time's exact count
        of microseconds since the epoch, which is the UTC time `process` formats. In any other
        column an aware UTC time is formatted by position (the same format) and anything else
        (another zone, a naive time, a subclass, None) takes `process`."""
        stored = self.impl_instance.dialect_impl(dialect)
        if dialect.name != "sqlite" or getattr(stored, "_storage_format", None) != _SQLITE_TEXT:
            return None

        def encode(values: Sequence[Any]) -> list[Any]:
            if set(map(type, values)) == {datetime}:
                if all(map(operator.is_, map(_TZINFO, values), repeat(UTC))):
                    return utc_texts(values)
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


_TZINFO = operator.attrgetter("tzinfo")

# The text SQLAlchemy's SQLite dialect stores a `DateTime` as, unless told otherwise, and the
# same format taking its fields by position.
_SQLITE_TEXT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)
_SQLITE_TEXT_BY_POSITION = re.sub(r"%\((\w+)\)", "%", _SQLITE_TEXT)
_fields = operator.attrgetter(*re.findall(r"%\((\w+)\)", _SQLITE_TEXT))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def utc_texts(times: Sequence[datetime]) -> list[str]:
    """SQLite's stored text ("YYYY-MM-DD HH:MM:SS.ffffff") of each of `times`, `datetime`s
    whose tzinfo is `UTC`, so that their fields are the UTC time's. The fields are read a
    column at a time (a loop in C each) and their digits laid out in numpy, two at a time from
    a table: a fifth of the cost of formatting each time, and half that of `sqlite_utc_texts`,
    whose subtraction and division make two objects per time."""
    count = len(times)
    if not count:
        return []

    def field(read: Callable[[datetime], int]) -> np.ndarray[Any, np.dtype[np.int64]]:
        return np.fromiter(map(read, times), dtype=np.int64, count=count)

    day = (field(datetime.toordinal) - _EPOCH_ORDINAL).astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    year = month.astype("datetime64[Y]")
    years = year.astype(np.int64) + 1970
    micro = field(_MICROSECOND_OF)
    # The text's letters a position at a time (a row each, which numpy fills fastest), the
    # rows' transpose is then the times' texts one after another.
    letters = np.empty((len(_TEXT_ROW), count), dtype=np.uint8)
    letters[:] = _TEXT_ROW[:, np.newaxis]
    for position, values in (
        (0, years // 100),
        (2, years % 100),
        (5, (month - year).astype(np.int64) + 1),
        (8, (day - month).astype(np.int64) + 1),
        (11, field(_HOUR_OF)),
        (14, field(_MINUTE_OF)),
        (17, field(_SECOND_OF)),
        (20, micro // 10_000),
        (22, micro // 100 % 100),
        (24, micro % 100),
    ):
        np.take(_TENS, values, out=letters[position])
        np.take(_UNITS, values, out=letters[position + 1])
    # One text, cut at the line end that closes each time's: a split runs in C.
    stored = letters.T.tobytes()[:-1].decode("ascii").split("\n")
    return stored


_EPOCH_ORDINAL = datetime(1970, 1, 1, tzinfo=UTC).toordinal()
_HOUR_OF, _MINUTE_OF, _SECOND_OF, _MICROSECOND_OF = map(
    operator.attrgetter, ("hour", "minute", "second", "microsecond")
)
# The text `utc_texts` fills in, and the two digits of each number under 100.
_TEXT_ROW = np.frombuffer(b"0000-00-00 00:00:00.000000\n", dtype=np.uint8)
_TENS = np.array([48 + n // 10 for n in range(100)], dtype=np.uint8)
_UNITS = np.array([48 + n % 10 for n in range(100)], dtype=np.uint8)


def sqlite_utc_texts(times: Sequence[datetime]) -> list[str]:
    """SQLite's stored text ("YYYY-MM-DD HH:MM:SS.ffffff") of the UTC time of each of `times`,
    aware datetimes (TypeError for a naive one), formatted by numpy in one pass: a third of
    the cost of formatting each. The microseconds since the epoch are exact (a difference of
    aware times floor-divided by a microsecond)."""
    if not times:
        return []
    micros = np.fromiter(
        map(operator.floordiv, map(operator.sub, times, repeat(_EPOCH)), repeat(_MICROSECOND)),
        dtype=np.int64,
        count=len(times),
    )
    # numpy's ISO text of a datetime64[us] is SQLAlchemy's with a "T" for the space.
    text = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
    letters = text.view(np.uint32).reshape(len(times), -1)
    letters[:, 10] = ord(" ")
    stored: list[str] = text.tolist()
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
