"""A quant entrant's run in a worker process of an arena's pool.

Light to import on purpose: the trading core and the quant strategies, not the arena's config
models or the LLM stack (which a worker never uses), so that a worker is ready sooner; it takes
plain arguments and returns a compact record, which the arena turns into its `EntrantRun`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
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


def run_quant(
    kind: str,
    params: Mapping[str, Any],
    name: str,
    config: ReplayConfig,
    data_files: Sequence[Path],
    run_id: str,
    loaded: MarketDataSource | None = None,
) -> QuantRun:
    """Strategy `kind` as entrant `name` over `config` (`quant_backtest`, the vectorised path
    where it is exact): its own catalog over the same data files (or the `loaded` series),
    hence the same bars and costs as every other entrant."""
    agent = build_quant_agent(kind, params, name)
    run = asyncio.run(
        quant_backtest(
            agent, agent.kind, agent.params, _catalog(data_files, loaded), config, run_id=run_id
        )
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


def _catalog(data_files: Sequence[Path], loaded: MarketDataSource | None) -> Catalog:
    if loaded is not None:
        return Catalog([loaded])
    files = tuple(data_files)
    known = _CATALOGS.get(files)
    if known is None:  # read once per worker, for every entrant it runs
        known = _CATALOGS[files] = Catalog.default(list(files))
    return known


# A worker's catalogs by data files: the files are read (and the vectorised path's markets
# prepared) once per worker process rather than once per entrant.
_CATALOGS: dict[tuple[Path, ...], Catalog] = {}
