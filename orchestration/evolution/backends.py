"""Where quant genomes are evaluated: in this process, in a local process pool, or on Ray.

Each worker loads the market data once (the pool's initializer, or the first task a Ray
worker runs) and keeps it for every task after; a task carries only a genome and a window.
Results come back in the order the tasks were given, and evaluation is a pure function of
(genome, window, data), so all three backends return identical results for the same seed.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.context import SpawnContext, SpawnProcess
from pathlib import Path
from typing import Any, Protocol

from orchestration.evolution.config import Backend, Metric
from orchestration.evolution.evaluate import Evaluation, evaluate_quant
from orchestration.evolution.genes import Genome
from orchestration.evolution.walkforward import Window
from trading.data import Catalog
from trading.errors import ConfigError
from trading.replay import ReplayConfig

Task = tuple[Genome, Window]
Progress = Callable[[int], None]  # called with the number of tasks just finished


class Evaluator(Protocol):
    def evaluate(
        self, tasks: Sequence[Task], progress: Progress | None = None
    ) -> list[Evaluation]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class QuantContext:
    """What every worker needs besides the task: picklable, sent once per worker."""

    data_files: tuple[str, ...]
    base: ReplayConfig
    metric: Metric

    def catalog(self) -> Catalog:
        catalog = Catalog.default([Path(f) for f in self.data_files])
        for symbol in self.base.symbols:
            catalog.load(symbol)  # now, once, rather than inside the first task
        return catalog


# A worker process's market data, loaded once for all its tasks.
_worker: tuple[QuantContext, Catalog] | None = None


def _init_worker(context: QuantContext) -> None:
    global _worker
    _worker = (context, context.catalog())


def _evaluate_in_worker(task: Task) -> Evaluation:
    if _worker is None:
        raise RuntimeError("the pool's initializer did not run")
    context, catalog = _worker
    genome, window = task
    return evaluate_quant(genome, window, catalog, context.base, context.metric)


def evaluate_batch(context: QuantContext, tasks: Sequence[Task]) -> list[Evaluation]:
    """Tasks in a worker that may or may not hold the context yet (Ray reuses workers)."""
    if _worker is None or _worker[0] != context:
        _init_worker(context)
    return [_evaluate_in_worker(task) for task in tasks]


class SerialEvaluator:
    def __init__(self, context: QuantContext, catalog: Catalog) -> None:
        self.context = context
        self.catalog = catalog

    def evaluate(self, tasks: Sequence[Task], progress: Progress | None = None) -> list[Evaluation]:
        results = []
        for genome, window in tasks:
            base, metric = self.context.base, self.context.metric
            results.append(evaluate_quant(genome, window, self.catalog, base, metric))
            if progress is not None:
                progress(1)
        return results

    def close(self) -> None:
        pass


class _WorkerProcess(SpawnProcess):
    """A pool worker that ignores SIGINT from its first instruction. Ctrl-C reaches the whole
    process group: the parent stops the run, says how to resume it and shuts the pool down,
    and a worker's own KeyboardInterrupt traceback (even one raised while it still imports)
    would bury that. An interpreter started with SIGINT ignored keeps it ignored."""

    def start(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            super().start()  # only the main thread may set handlers; nothing to hand down
            return
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            super().start()
        finally:
            signal.signal(signal.SIGINT, previous)


class _WorkerContext(SpawnContext):
    Process = _WorkerProcess


class ProcessEvaluator:
    """A local pool. Workers are spawned, not forked: a fork would copy this process's
    threads and open database connections, and spawn behaves the same on every platform."""

    def __init__(self, context: QuantContext, workers: int) -> None:
        self.workers = workers
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=_WorkerContext(),
            initializer=_init_worker,
            initargs=(context,),
        )

    def evaluate(self, tasks: Sequence[Task], progress: Progress | None = None) -> list[Evaluation]:
        chunk = max(1, math.ceil(len(tasks) / (self.workers * 4)))
        results = []
        for result in self.pool.map(_evaluate_in_worker, tasks, chunksize=chunk):
            results.append(result)
            if progress is not None:
                progress(1)
        return results

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


RAY_MISSING = "the ray backend needs Ray: pip install 'tradepit[ray]'"


class RayEvaluator:
    """Tasks in chunks as Ray tasks; joins a running Ray cluster, or starts a local one."""

    def __init__(self, context: QuantContext, workers: int) -> None:
        ray = import_ray()
        if not ray.is_initialized():
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        self.ray = ray
        self.workers = workers
        self.context = ray.put(context)
        self.remote = ray.remote(num_cpus=1)(evaluate_batch)

    def evaluate(self, tasks: Sequence[Task], progress: Progress | None = None) -> list[Evaluation]:
        size = max(1, math.ceil(len(tasks) / (self.workers * 4)))
        chunks = [list(tasks[i : i + size]) for i in range(0, len(tasks), size)]
        refs = [self.remote.remote(self.context, chunk) for chunk in chunks]
        results: list[Evaluation] = []
        for ref, chunk in zip(refs, chunks, strict=True):
            results.extend(self.ray.get(ref))
            if progress is not None:
                progress(len(chunk))
        return results

    def close(self) -> None:
        pass  # a Ray runtime may serve later runs in this process; ray.shutdown() ends it


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


def quant_evaluator(
    backend: Backend, context: QuantContext, catalog: Catalog, workers: int
) -> Evaluator:
    if backend == "serial":
        return SerialEvaluator(context, catalog)
    if backend == "process":
        return ProcessEvaluator(context, workers)
    return RayEvaluator(context, workers)
