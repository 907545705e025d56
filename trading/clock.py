"""Injected time. Domain and orchestration code ask a `Clock` for "now" and never the system."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from trading.errors import FatalError


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class LiveClock:
    """Wall-clock time, for live and paper trading on live data."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ReplayClock:
    """Time that only moves forward, one step at a time, as a replay walks through history."""

    def __init__(self, start: datetime) -> None:
        _require_aware(start)
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance_to(self, moment: datetime) -> None:
        _require_aware(moment)
        if moment < self._now:
            raise FatalError(f"a replay clock cannot go back from {self._now!r} to {moment!r}")
        self._now = moment


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise FatalError(f"clock times must be timezone-aware, got {moment!r}")
