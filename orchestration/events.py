"""Progress events of the trading loop and the arena, typed, and a sink that writes them as JSON
lines.

A desktop app (or any other process) embeds the loop by reading its standard output: one JSON
object per line, flushed as it is written, each with a "type":

- `{"type": "progress", "step", "total", "message", "run_id", "cycle", "time", "equity",
  "cash", "fills"}` after each committed cycle (and once after a resume rebuilt its cycles);
- `{"type": "result", "run_id", "status", "cycles", "total", "final_equity", "final_cash",
  "kill_switch", "metrics"}` when the run finished or stopped on request;
- `{"type": "error", "error", "details"}` when it failed.

`tradepit arena --events jsonl` writes the same three types: `{"type": "progress", "step",
"total", "message", "run_id", "entrant", "repeat", "cycle", "as_of"}` (`ArenaProgressEvent`),
then the result document `--json` prints, with "type": "result" (`DocumentEvent`), or the error.

Money is an exact decimal string, times ISO 8601, metrics plain numbers (null where a
statistic is undefined: strict JSON readers reject NaN).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol, TextIO


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    run_id: str
    step: int  # cycles committed so far, 1-based like a progress bar
    total: int | None  # None for an open-ended (live) source
    message: str
    cycle: int
    time: datetime
    as_of: str  # the cycle's moment as a person reads it (`trading.clock.moment_label`)
    equity: Decimal
    cash: Decimal
    fills: int  # fills this cycle

    def to_json(self) -> dict[str, Any]:
        return {
            **_progress_head(self),
            "cycle": self.cycle,
            "time": self.time.isoformat(),
            "as_of": self.as_of,
            "equity": str(self.equity),
            "cash": str(self.cash),
            "fills": self.fills,
        }


@dataclass(frozen=True, slots=True)
class ResultEvent:
    run_id: str
    status: Literal["finished", "stopped"]
    cycles: int
    total: int | None
    final_equity: Decimal
    final_cash: Decimal
    kill_switch: str
    # None until the run has two equity points to measure.
    metrics: Mapping[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "result",
            "run_id": self.run_id,
            "status": self.status,
            "cycles": self.cycles,
            "total": self.total,
            "final_equity": str(self.final_equity),
            "final_cash": str(self.final_cash),
            "kill_switch": self.kill_switch,
            "metrics": None if self.metrics is None else dict(self.metrics),
        }


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    error: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": "error", "error": self.error, "details": dict(self.details)}

    @classmethod
    def of(cls, error: BaseException, run_id: str | None) -> ErrorEvent:
        """The event of a failure, with what it said (its type's name when it said nothing)."""
        return cls(str(error) or type(error).__name__, {"kind": type(error).__name__,
                                                        "run_id": run_id})  # fmt: skip


@dataclass(frozen=True, slots=True)
class ArenaProgressEvent:
    """How far an arena is: `step` of `total` entrant-bars (every entrant run replays every bar).
    A block of bars of the lockstep replay has no `entrant`; an entrant run that finished names
    it (and its `repeat`), in the lockstep replay or in a worker process (no `cycle` then)."""

    run_id: str
    step: int
    total: int
    message: str
    entrant: str | None = None
    repeat: int | None = None
    cycle: int | None = None  # bars the lockstep replay has settled, 1-based
    as_of: str | None = None  # that bar's moment as a person reads it

    def to_json(self) -> dict[str, Any]:
        return {
            **_progress_head(self),
            "entrant": self.entrant,
            "repeat": self.repeat,
            "cycle": self.cycle,
            "as_of": self.as_of,
        }


ArenaProgress = Callable[[ArenaProgressEvent], None]


@dataclass(frozen=True, slots=True)
class DocumentEvent:
    """The result of a command whose result is one JSON document (`--json`'s)."""

    document: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"type": "result", **self.document}


class Event(Protocol):
    def to_json(self) -> dict[str, Any]: ...


LoopEvent = ProgressEvent | ResultEvent | ErrorEvent
EventSink = Callable[[LoopEvent], None]


class JsonLinesEmitter:
    """A sink of any event (an `EventSink` among them) writing one JSON object per line to
    `stream`, flushed per line so a reader on the other end of a pipe sees each event as it
    happens."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, event: Event) -> None:
        write_json_line(self.stream, event.to_json())


@contextmanager
def errors_as_events(
    sink: Callable[[ErrorEvent], None] | None, run_id: str | None
) -> Iterator[None]:
    """Report any failure in the block to `sink` as an error event, then let it go on to the
    command line's own handling (a line on stderr and its exit code): a reader of the events
    always ends with a result or an error."""
    try:
        yield
    except Exception as error:
        if sink is not None:
            sink(ErrorEvent.of(error, run_id))
        raise


def _progress_head(event: ProgressEvent | ArenaProgressEvent) -> dict[str, Any]:
    """The keys every progress event starts with, the loop's and the arena's alike."""
    return {
        "type": "progress",
        "step": event.step,
        "total": event.total,
        "message": event.message,
        "run_id": event.run_id,
    }


def write_json_line(stream: TextIO, event: Mapping[str, Any]) -> None:
    """One event as one line of strict JSON, flushed."""
    stream.write(json.dumps(_strict(dict(event)), default=str, allow_nan=False) + "\n")
    stream.flush()


def _strict(value: Any) -> Any:
    """NaN and infinities become null: they are not JSON, and JavaScript's parser rejects them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value
