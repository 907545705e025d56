"""Reading a durable run back: its stored config, and its accounts rebuilt from the committed
cycles.

The rebuild replays each committed decision through the same `CycleEngine` the run used,
without asking the agent, and compares the accounts with the snapshot committed with every
cycle. Any difference (the database was edited, the market data or the code changed since the
run was written) is a `ResumeError` naming the first cycle and field that differ: a run that
went on from a wrong ledger would trade on money it does not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from trading.decision import Decision
from trading.domain import Bar, Instrument
from trading.errors import ConfigError, FatalError
from trading.replay import (
    CycleEngine,
    ReplayConfig,
    Tick,
)
from trading.replay_config import instruments_from_description
from trading.storage import Store


class ResumeError(FatalError):
    """A stored run cannot be continued safely: what it committed cannot be rebuilt exactly."""


class _Ticks(Protocol):
    async def tick(self, cycle: int) -> Tick | None: ...


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run's record, with what a resume needs parsed back out of its config."""

    run_id: str
    kind: str
    status: str
    agent: str
    config: ReplayConfig
    instruments: dict[str, Instrument]
    # What the starter stored for whoever resumes (the CLI: team file, data files).
    meta: dict[str, Any]


def stored_run(store: Store, run_id: str) -> StoredRun:
    record = store.run(run_id)
    if record is None:
        raise ConfigError(f"no run {run_id!r} in the database")
    described = record.config
    return StoredRun(
        run_id=run_id,
        kind=record.kind,
        status=record.status,
        agent=str(described.get("agent", "")),
        config=ReplayConfig.from_description(described),
        instruments=instruments_from_description(described.get("instruments", {})),
        meta=dict(described.get("meta", {})),
    )


@dataclass(frozen=True, slots=True)
class Rebuilt:
    cycles: int  # how many cycles were committed, and so the next cycle's number
    last_tick: Tick | None
    # The agent's state after the last cycle, the latest one stored (None: it keeps none).
    agent_state: dict[str, Any] | None


async def rebuild(store: Store, engine: CycleEngine, source: _Ticks, run_id: str) -> Rebuilt:
    """Bring a fresh `engine` to the end of the run's last committed cycle, checking it
    against the database at every cycle."""
    rows = store.cycles(run_id, full=False)
    decisions = {record.seq: record for record in store.decisions(run_id)}
    last_tick: Tick | None = None
    for expected, row in enumerate(rows):
        if row.cycle != expected:
            raise ResumeError(
                f"run {run_id!r} has no committed cycle {expected} but has cycle {row.cycle}"
            )
        tick = await source.tick(row.cycle)
        if tick is None or tick.now != row.time:
            raise ResumeError(
                f"run {run_id!r} committed cycle {row.cycle} at {row.time.isoformat()}, but "
                f"its data source gives {'no such cycle' if tick is None else tick.now}"
            )
        seen = bars_json(tick.bars)
        if seen != row.bars:
            raise ResumeError(
                f"run {run_id!r}: the market data of cycle {row.cycle} ({row.time.isoformat()}) "
                f"is not what the run traded on: {_differences(row.bars, seen)[:3]!r}; "
                "resume with the data files it started with"
            )
        engine.settle(tick)
        if not tick.last:
            record = decisions.get(row.cycle)
            if record is None:
                raise ResumeError(f"run {run_id!r} has cycle {row.cycle} but not its decision")
            decision = Decision(
                {symbol: Decimal(weight) for symbol, weight in record.targets.items()},
                rationale=record.rationale,
                details=row.details,
                abstentions=record.abstentions,
            )
            engine.execute(record.agent, decision, tick)
        differences = _differences(row.ledger, engine.snapshot())
        if differences:
            raise ResumeError(
                f"run {run_id!r}: the ledger rebuilt from its committed decisions differs from "
                f"the one committed at cycle {row.cycle} ({row.time.isoformat()}): "
                f"{'; '.join(differences[:5])}; it cannot be resumed safely"
            )
        last_tick = tick
    stored = store.agent_state(run_id)
    if stored is not None and stored[0] >= len(rows):
        raise ResumeError(
            f"run {run_id!r} stored its agent's state after cycle {stored[0]}, but its last "
            f"committed cycle is {len(rows) - 1}; it cannot be resumed safely"
        )
    return Rebuilt(len(rows), last_tick, None if stored is None else stored[1])


def bars_json(bars: tuple[Bar, ...]) -> list[dict[str, str]]:
    """Bars as stored with their cycle: exact decimal strings."""
    return [
        {
            "symbol": b.symbol,
            "time": b.time.isoformat(),
            "open": str(b.open),
            "high": str(b.high),
            "low": str(b.low),
            "close": str(b.close),
            "volume": str(b.volume),
        }
        for b in bars
    ]


def _differences(committed: Any, rebuilt: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, as "path: committed != rebuilt" lines."""
    if isinstance(committed, Mapping) and isinstance(rebuilt, Mapping):
        found: list[str] = []
        for key in sorted(set(committed) | set(rebuilt), key=str):
            where = f"{path}.{key}" if path else str(key)
            found += _differences(committed.get(key), rebuilt.get(key), where)
        return found
    if isinstance(committed, list) and isinstance(rebuilt, list) and len(committed) == len(rebuilt):
        found = []
        for i, (a, b) in enumerate(zip(committed, rebuilt, strict=True)):
            found += _differences(a, b, f"{path}[{i}]")
        return found
    if committed == rebuilt:
        return []
    return [f"{path or 'value'}: committed {committed!r}, rebuilt {rebuilt!r}"]
