"""An arena run from start to record: run the entrants, build the leaderboard, store both with
the LLM calls in one database; or replay a stored run from its cache and say whether it came
out the same."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.llm_calls import LlmCallStore
from agents.providers import ProvidersConfig
from orchestration.arena.config import ArenaConfig
from orchestration.arena.leaderboard import Leaderboard, build_leaderboard
from orchestration.arena.results import ArenaResult
from orchestration.arena.runner import Arena, market_data_hash
from orchestration.arena.store import ArenaStore, code_version, differences
from orchestration.events import ArenaProgress
from trading.clock import Clock
from trading.data import Catalog
from trading.data.universe import dataset_notes
from trading.errors import ConfigError


@dataclass(frozen=True, slots=True)
class CompetitionPorts:
    """What an arena run is given besides its config: the id it is stored as, the database, the
    market data, the clock, the LLM providers (None for quant entrants only) and the data files
    it read."""

    run_id: str
    db_url: str
    catalog: Catalog
    clock: Clock
    providers: ProvidersConfig | None = None
    data_files: Sequence[Path] = ()


@dataclass(frozen=True, slots=True)
class Competition:
    result: ArenaResult
    board: Leaderboard
    # For a replay: what it was of, and whether it reproduced the original exactly.
    replay: dict[str, Any] | None = None


async def compete(
    config: ArenaConfig, ports: CompetitionPorts, *, progress: ArenaProgress | None = None
) -> Competition:
    """Run the arena and store it as `run_id`; saved agents must already be inlined in
    `config` (`runner.resolve_saved_agents`)."""
    return await _run(config, ports, progress)


async def replay(
    original_id: str, ports: CompetitionPorts, *, progress: ArenaProgress | None = None
) -> Competition:
    """Run the stored arena `original_id` again as `run_id`, with every LLM answer from the
    cache (a question the original never asked stops the replay), skipping what it skipped,
    and compare the two."""
    store = ArenaStore(ports.db_url)
    try:
        original = store.get(original_id)
    finally:
        store.close()
    if original.config.source == "kraken":
        _same_candles(original.config, original.data_hash, ports.catalog)
    skipped = {s.entrant: s.reason for s in original.leaderboard.skipped}
    return await _run(
        original.config,
        ports,
        progress,
        replay_of=original_id,
        skip=skipped,
        models={name: list(refs) for name, refs in original.models.items()},
        compare_with=original.runs,
        original_hash=original.data_hash,
    )


def _same_candles(config: ArenaConfig, original_hash: str, catalog: Catalog) -> None:
    """A Kraken replay stops before it starts when its candles are not the original's: they
    come from the candle cache, so they differ only when the cache lost them and Kraken now
    serves others, and then no entrant could be compared (nor any LLM answered from the
    cache)."""
    now = market_data_hash(catalog, config.replay_config().symbols)
    if now != original_hash:
        raise ConfigError(
            f"the Kraken {config.timeframe} candles of {', '.join(config.symbols)} from "
            f"{config.start} to {config.end} are not the ones the original run used (data hash "
            f"{original_hash[:12]} then {now[:12]}): the candle cache ($TRADEPIT_HOME/cache) no "
            "longer holds them and Kraken now serves different ones; nothing was replayed"
        )


async def _run(
    config: ArenaConfig,
    ports: CompetitionPorts,
    progress: ArenaProgress | None,
    *,
    replay_of: str | None = None,
    skip: dict[str, str] | None = None,
    models: dict[str, list[str]] | None = None,
    compare_with: Sequence[Any] = (),
    original_hash: str | None = None,
) -> Competition:
    run_id, db_url, catalog, clock = ports.run_id, ports.db_url, ports.catalog, ports.clock
    providers, data_files = ports.providers, ports.data_files
    created_at = clock.now()
    calls = LlmCallStore(db_url)
    store = ArenaStore(db_url)
    try:
        arena = Arena(
            config,
            run_id=run_id,
            catalog=catalog,
            clock=clock,
            providers=providers,
            calls=calls,
            replay_of=replay_of,
            skip=skip,
            models=models,
            progress=progress,
        )
        result = await arena.run()
        symbols = config.replay_config().symbols
        board = build_leaderboard(result, dataset_notes(catalog.load(s) for s in symbols))
        report = None
        if replay_of is not None:
            found = differences(compare_with, result.runs)
            if original_hash != result.data_hash:
                found.insert(0, "the market data differs from the original's (hash mismatch)")
            report = {
                "of": replay_of,
                "equal": not found,
                "differences": found,
                "llm_calls_made": sum(r.llm.calls - r.llm.cached for r in result.runs),
                "llm_answers_from_cache": sum(r.llm.cached for r in result.runs),
            }
        store.save(
            result,
            board,
            created_at=created_at,
            finished_at=clock.now(),
            code_version=code_version(),
            data_files=data_files,
            replay_of=replay_of,
            replay_report=report,
            providers=providers,
        )
        return Competition(result, board, report)
    finally:
        calls.close()
        store.close()
