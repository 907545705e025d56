"""The arena's pool of worker processes for quant entrants: how its workers start and what each
is given once (the arena's series, through the pool's initializer).

Each worker runs entrants one at a time (`quant_worker.run_pooled`) and sends back each one's
`EntrantRun`.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

from orchestration.arena import quant_worker
from orchestration.arena.market import LoadedSource
from orchestration.arena.quant_worker import QuantJob, run_pooled
from orchestration.arena.results import EntrantRun


def start_method(platform: str, threads: int) -> str:
    """How a pool started now, on `platform` (`sys.platform`) from a process running `threads`
    threads, starts its workers.

    fork on Linux when this thread is the only one: a worker is then ready at once, holding
    the modules this process imported (pandas, SQLAlchemy, the trading core: about a second to
    import afresh) and the series it loaded. What makes a fork unsafe is a lock held by
    another thread at that instant (a logging handler's, the progress display's), which no
    thread in the child would ever release; with no other thread there is none, and
    `ProcessPoolExecutor` forks all its workers at the first submit, before it starts its own
    manager thread. The child copies the running event loop and any open SQLite connection but
    never touches them: it runs its tasks and leaves through `os._exit`, and `asyncio.run` in
    it starts a loop of its own (asyncio checks the process id).

    forkserver on Linux when other threads run: workers fork from a clean single-threaded
    server that has imported the worker's modules once. spawn elsewhere: macOS system
    libraries are not fork-safe (spawn is CPython's default there), and Windows has no fork.
    """
    if not platform.startswith("linux"):
        return "spawn"
    return "fork" if threads == 1 else "forkserver"


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Every object this process holds in the collector's permanent generation for the block
    (`gc.freeze`), and back after. A process forked inside never walks the heap it inherits in
    its own collections, nor copies the pages that heap lies on by touching it: in a worker of
    bench/arena.py's pool, collections took 0.18 s of its 1.3 s, and 0.05 s frozen."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class QuantPool:
    """A pool of `workers` processes, each holding `market` (the arena's series) for every
    entrant it runs: inherited by a forked worker, sent once to any other. On leaving it (a
    failure, a cancellation) the jobs not started yet are dropped, not run."""

    def __init__(self, workers: int, market: LoadedSource) -> None:
        self.method = start_method(sys.platform, threading.active_count())
        context = multiprocessing.get_context(self.method)
        if self.method == "forkserver":
            # Imported once by the fork server when it starts, not by each worker: the worker's
            # modules, and the main script as CPython's default preload does (else every worker
            # would run the script's imports again, such as all of the `tradepit` commands).
            modules = ["__main__", quant_worker.__name__, LoadedSource.__module__]
            context.set_forkserver_preload(modules)
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=quant_worker.start_worker,
            initargs=(market,),
        )

    def start(self, jobs: Sequence[QuantJob]) -> list[asyncio.Future[EntrantRun]]:
        """Every job handed to the workers; their runs as they finish."""
        loop = asyncio.get_running_loop()
        # A pool on the fork path forks all its workers at its first job (before it starts its
        # own thread), here, with the heap frozen; the others start them from a clean process.
        with frozen_heap():
            return [loop.run_in_executor(self._executor, run_pooled, job) for job in jobs]

    def __enter__(self) -> QuantPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
