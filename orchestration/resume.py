"""Reading a durable run back: its stored config, and its accounts rebuilt from the committed
cycles.

The rebuild first checks each cycle's fills against the checksum committed with them (a
paper run's rebuild never reads them, so a row deleted, duplicated or edited would otherwise
go unnoticed), then replays each committed decision through the same `CycleEngine` the run
used, without asking the agent, and compares the accounts with the snapshot committed with
every cycle. Any difference (the database was edited, the market data or the code changed since the
run was written) is a `ResumeError` naming the first cycle and field that differ: a run that
went on from a wrong ledger would trade on money it does not have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from trading.storage import CycleRecord, FillRecord, Store, fill_record_row
from trading.storage_checksum import fills_checksum


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
    check_fills(store, run_id, rows)
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


def check_fills(store: Store, run_id: str, cycles: Sequence[CycleRecord]) -> None:
    """ResumeError naming the first cycle whose stored fills no longer match the checksum it
    committed. A fill row no checksum names (a copy under a new trade id) counts against the
    cycle that committed its order's first fill, else the first cycle after its time (a paper
    fill is stamped with the bar the next cycle settles)."""
    sums = store.fill_checksums(run_id)
    if not sums:
        return  # written before fills had checksums
    stored: dict[str, list[FillRecord]] = {}
    for fill in store.fills(run_id):
        stored.setdefault(fill.trade_id, []).append(fill)
    committed_by = {t: row.cycle for row in sums for t in row.trade_ids}
    order_cycle: dict[str, int] = {}
    for trade_id, cycle in committed_by.items():  # in cycle order: the first fill's wins
        for fill in stored.get(trade_id, []):
            order_cycle.setdefault(fill.order_id, cycle)
    # A run resumed after an upgrade: its earlier cycles' fills were never summed.
    unsummed_until = next((c.time for c in cycles if c.cycle == sums[0].cycle - 1), None)
    strays: dict[int, list[FillRecord]] = {}
    for trade_id, fills in stored.items():
        if trade_id in committed_by:
            continue
        for fill in fills:
            if unsummed_until is not None and fill.time <= unsummed_until:
                continue
            strays.setdefault(_stray_cycle(fill, order_cycle, cycles), []).append(fill)
    for row in sums:
        found = [f for t in row.trade_ids for f in stored.get(t, [])] + strays.get(row.cycle, [])
        now = fills_checksum(fill_record_row(f) for f in found)
        if now != row.sha256:
            raise ResumeError(
                f"run {run_id!r}: cycle {row.cycle}'s fills were changed since they were "
                f"written: checksum {row.sha256[:16]} written, {now[:16]} now "
                f"({_count(len(row.trade_ids), 'fill')} written, {len(found)} found); it cannot be "
                "resumed safely"
            )


def _stray_cycle(
    fill: FillRecord, order_cycle: Mapping[str, int], cycles: Sequence[CycleRecord]
) -> int:
    if fill.order_id in order_cycle:
        return order_cycle[fill.order_id]
    later = (c.cycle for c in cycles if c.time > fill.time)
    return next(later, cycles[-1].cycle if cycles else 0)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


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
