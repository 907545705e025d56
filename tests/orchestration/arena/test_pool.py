"""The arena's process pool: how its workers start, and that they replay the arena's own series
(whatever catalog the arena was given) with the same results as the lockstep replay."""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import pickle
import subprocess
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

import orchestration.arena.runner as runner
from orchestration.arena.config import ArenaConfig
from orchestration.arena.market import LoadedSource
from orchestration.arena.pool import frozen_heap, start_method
from orchestration.arena.results import EntrantRun
from orchestration.arena.runner import Arena
from orchestration.events import ArenaProgress, ArenaProgressEvent
from trading.clock import LiveClock
from trading.data import Catalog


@pytest.mark.parametrize(
    ("platform", "threads", "method"),
    [
        ("linux", 1, "fork"),  # nothing else runs: the fork copies imports and series in place
        ("linux", 2, "forkserver"),  # another thread could hold a lock the child inherits
        ("darwin", 1, "spawn"),  # macOS system libraries are not fork-safe
        ("win32", 1, "spawn"),
    ],
)
def test_workers_are_forked_only_on_linux_from_a_single_threaded_process(
    platform: str, threads: int, method: str
) -> None:
    assert start_method(platform, threads) == method


ENTRANTS = [{"quant": "buy_and_hold"}, {"quant": "sma_cross"}, {"quant": "rsi"}]


def memory_catalog() -> Catalog:
    """Series no data file holds: a renamed copy of the bundled SPX, in memory."""
    spx = Catalog.default().load("SPX")
    return Catalog([LoadedSource("memory", {"ZZZ": dataclasses.replace(spx, symbol="ZZZ")})])


async def runs(catalog: Catalog, workers: int) -> list[EntrantRun]:
    config = ArenaConfig.model_validate(
        {
            "name": "memory",
            "symbols": ["ZZZ"],
            "start": "2015-01-01",
            "end": "2016-12-31",
            "limits": {"max_drawdown": "0.5"},  # the replay, hence the pool, for each
            "workers": workers,
            "entrants": ENTRANTS,
        }
    )
    return (await Arena(config, run_id="m", catalog=catalog, clock=LiveClock()).run()).runs


async def test_pooled_entrants_replay_the_arenas_own_series() -> None:
    """The pool's workers get the arena's series from it rather than reading the files again:
    here, forked (on Linux) from this single-threaded process."""
    catalog = memory_catalog()
    here = await runs(catalog, 0)
    assert len(here) == len(ENTRANTS)
    assert await runs(catalog, 2) == here


async def test_workers_started_while_another_thread_runs_get_the_same_series() -> None:
    """With another thread running (as the progress display's), workers do not fork from this
    process; they get the series pickled, once each, and give the same runs."""
    catalog = memory_catalog()
    here = await runs(catalog, 0)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert start_method(sys.platform, threading.active_count()) != "fork"
        assert await runs(catalog, 2) == here
    finally:
        stop.set()
        other.join()


def test_series_go_to_a_worker_without_the_bars_built_from_them() -> None:
    """A replay here builds a `Bar` per row it reads; a worker builds its own rather than
    receiving them (they would make the pickle several times larger)."""
    spx = dataclasses.replace(Catalog.default().load("SPX"))
    source = LoadedSource("memory", {"SPX": spx})
    fresh = len(pickle.dumps(source))
    for row in range(len(spx)):
        spx.bar(row)
    assert len(pickle.dumps(source)) == fresh
    sent = pickle.loads(pickle.dumps(source)).load("SPX")  # noqa: S301 (our own bytes)
    assert [sent.bar(row) for row in range(len(spx))] == [spx.bar(row) for row in range(len(spx))]


async def test_the_pool_starts_before_the_vectorised_entrants_run_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its workers replay the entrants the vectorised path refuses while this process runs
    those it takes, rather than after them."""
    order: list[str] = []
    real_pool, real_vectorised = runner.QuantPool, runner.vectorised_replay

    def pool(*args: Any) -> Any:
        order.append("pool")
        return real_pool(*args)

    async def vectorised(agent: Any, *args: Any, **kwargs: Any) -> Any:
        order.append(agent.name)
        return await real_vectorised(agent, *args, **kwargs)

    monkeypatch.setattr(runner, "QuantPool", pool)
    monkeypatch.setattr(runner, "vectorised_replay", vectorised)
    config = ArenaConfig.model_validate(
        {
            "name": "mixed",
            "symbols": ["SPX", "IXIC"],
            "start": "2016-01-01",
            "end": "2016-12-31",
            "workers": 2,
            # equal_weight decides on the whole universe: the vectorised path refuses it.
            "entrants": [{"quant": "buy_and_hold"}, {"quant": "equal_weight"}],
        }
    )
    result = await Arena(config, run_id="x", catalog=Catalog.default(), clock=LiveClock()).run()
    assert order == ["pool", "buy_and_hold"]
    assert [r.entrant for r in result.runs] == ["buy_and_hold", "equal_weight"]


def test_a_workers_modules_leave_out_the_arenas_config_and_the_llm_stack() -> None:
    """What a forkserver imports for its workers (and a spawned worker itself): the trading core
    and the quant strategies, not the competition, its config models or agno and litellm."""
    heavy = ["orchestration.arena.config", "orchestration.arena.competition", "agno", "litellm"]
    probe = (
        "import sys, orchestration.arena.quant_worker, orchestration.arena.market; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    shown = subprocess.run(  # noqa: S603 - our own interpreter running the probe above
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert shown.strip() == "[]"


def test_the_command_lines_progress_bar_leaves_the_arena_one_thread() -> None:
    """So that `tradepit arena` (whose bar is on unless --json) forks its pool's workers
    rather than starting a fork server, which first imports every command."""
    from orchestration.cli.arena import _with_progress

    seen: list[str] = []

    async def run(progress: ArenaProgress | None) -> None:
        assert progress is not None
        progress(ArenaProgressEvent("r", 1, 2, "bar 1 of 2"))
        seen.append(start_method("linux", threading.active_count()))

    _with_progress(None, True, run)
    assert seen == ["fork"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork path is Linux's")
def test_workers_fork_at_the_first_job_with_the_heap_frozen_and_this_process_thaws() -> None:
    """What `QuantPool.start` counts on: a fork-context pool forks its workers inside the first
    submission, so a block of `frozen_heap` around the submissions reaches them."""
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as executor:
        with frozen_heap():
            frozen_in_worker = executor.submit(gc.get_freeze_count)
        assert gc.get_freeze_count() == 0
        assert frozen_in_worker.result() > 0
