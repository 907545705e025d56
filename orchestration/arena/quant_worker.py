"""A quant entrant's run in a worker process of an arena's pool (`orchestration.arena.pool`).

Light to import on purpose: the trading core and the quant strategies, not the arena's config
models or the LLM stack (which a worker never uses). A worker gets the arena's series once, in
the pool's initializer (`start_worker`); each task then carries only the entrant and the
replay's rules, and returns a compact record, which the arena turns into its `EntrantRun`.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from agents.quant import build_quant_agent
from trading.data import Catalog, MarketDataSource
from trading.metrics import PerformanceMetrics
from trading.replay import ReplayConfig
from trading.vectorised_replay import quant_backtest


@dataclass(frozen=True, slots=True)
class QuantRun:
    """What an arena keeps of a quant entrant's run (`results.EntrantRun` without the rest)."""

    equity: list[tuple[datetime, Decimal]]
    fills: list[dict[str, str]]
    metrics: PerformanceMetrics
    round_trips: int
    final_equity: Decimal
    kill_switch: str


@dataclass(frozen=True, slots=True)
class QuantJob:
    """One entrant for a worker: strategy `kind` with `params` as entrant `name`, over the
    replay's rules `config`, stored as `run_id`."""

    kind: str
    params: Mapping[str, Any]
    name: str
    config: ReplayConfig
    run_id: str


def run_quant(job: QuantJob, catalog: Catalog) -> QuantRun:
    """The job over `catalog` (`quant_backtest`, the vectorised path where it is exact), hence
    the same bars and costs as every other entrant's."""
    agent = build_quant_agent(job.kind, job.params, job.name)
    run = asyncio.run(
        quant_backtest(agent, agent.kind, agent.params, catalog, job.config, run_id=job.run_id)
    )
    result = run.result
    return QuantRun(
        equity=[(t, v) for t, _, v in result.equity],
        fills=[f.trade_json() for f in result.fills],
        metrics=result.metrics,
        round_trips=len(result.round_trips),
        final_equity=result.final_equity,
        kill_switch=result.kill_switch,
    )


def start_worker(market: MarketDataSource) -> None:
    """A pool's initializer: the catalog of the arena's series (`market`) for every entrant this
    worker runs. Ctrl-C raises `KeyboardInterrupt` here, as in a freshly started interpreter,
    rather than calling the handler a forked worker inherits from its parent's event loop."""
    global _worker_catalog
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _worker_catalog = Catalog([market])


def run_pooled(job: QuantJob) -> QuantRun:
    """`run_quant` in a pool's worker, over the series its initializer gave it."""
    if _worker_catalog is None:
        raise RuntimeError("the pool's initializer (start_worker) did not run in this process")
    return run_quant(job, _worker_catalog)


# This worker's catalog (None outside a pool's workers): set once by `start_worker`.
_worker_catalog: Catalog | None = None
