"""A quant entrant's run in a worker process of an arena's pool (`orchestration.arena.pool`).

Light to import on purpose: the trading core and the quant strategies, not the arena's config
models or the LLM stack (which a worker never uses). A worker gets the arena's series once, in
the pool's initializer (`start_worker`); each task then carries only the entrant and the
replay's rules, and returns the entrant's `EntrantRun` (equity points, fills as trade records,
metrics), not the replay's whole result with its orders, events and decisions.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents.quant import build_quant_agent
from orchestration.arena.results import EntrantRun, LlmUsage, entrant_run
from trading.data import Catalog, MarketDataSource
from trading.replay import ReplayConfig
from trading.vectorised_replay import quant_backtest


@dataclass(frozen=True, slots=True)
class QuantJob:
    """One entrant for a worker: strategy `kind` with `params` as entrant `name`, over the
    replay's rules `config`, stored as `run_id`."""

    kind: str
    params: Mapping[str, Any]
    name: str
    config: ReplayConfig
    run_id: str


def run_quant(job: QuantJob, catalog: Catalog) -> EntrantRun:
    """The job over `catalog` (`quant_backtest`, the vectorised path where it is exact), hence
    the same bars and costs as every other entrant's."""
    agent = build_quant_agent(job.kind, job.params, job.name)
    run = asyncio.run(
        quant_backtest(agent, agent.kind, agent.params, catalog, job.config, run_id=job.run_id)
    )
    return entrant_run(run.result, "quant", 0, None, LlmUsage())


def start_worker(market: MarketDataSource) -> None:
    """A pool's initializer: the catalog of the arena's series (`market`) for every entrant this
    worker runs. Ctrl-C raises `KeyboardInterrupt` here, as in a freshly started interpreter,
    rather than calling the handler a forked worker inherits from its parent's event loop."""
    global _worker_catalog
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _worker_catalog = Catalog([market])


def run_pooled(job: QuantJob) -> EntrantRun:
    """`run_quant` in a pool's worker, over the series its initializer gave it."""
    if _worker_catalog is None:
        raise RuntimeError("the pool's initializer (start_worker) did not run in this process")
    return run_quant(job, _worker_catalog)


# This worker's catalog (None outside a pool's workers): set once by `start_worker`.
_worker_catalog: Catalog | None = None
