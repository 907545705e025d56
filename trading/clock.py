"""Injected time. Domain and orchestration code ask a `Clock` for "now" and never the system."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
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
        if moment.tzinfo is None:  # `_require_aware`, inline: a replay moves it every bar
            _require_aware(moment)
        if moment < self._now:
            raise FatalError(f"a replay clock cannot go back from {self._now!r} to {moment!r}")
        self._now = moment


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise FatalError(f"clock times must be timezone-aware, got {moment!r}")


def session_date(bar_time: datetime, now: datetime) -> date:
    """The day a person reads for a cycle that ran at `now` on a bar labelled `bar_time`: a daily
    (or longer) bar's own session, not its close stamp (the bundled data closes a day at the next
    midnight UTC, a Saturday for a Friday); a shorter bar's day is the one it closed on."""
    return bar_time.date() if now - bar_time >= timedelta(days=1) else now.date()


def moment_label(bar_time: datetime, now: datetime) -> str:
    """A cycle's moment as tables and progress lines show it: a daily bar's session date, or
    the time a shorter bar's cycle ran, in UTC."""
    if now - bar_time >= timedelta(days=1):
        return bar_time.date().isoformat()
    return now.strftime("%Y-%m-%d %H:%M:%S UTC")
