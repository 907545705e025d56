"""What the storage tests share: a run database in a test's folder, and work started on
several threads at the same moment, as processes racing for one database would."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from trading.storage import Store


@contextmanager
def store_with_run(folder: Path, kind: str, started: datetime) -> Iterator[Store]:
    """A `Store` on `folder`/runs.db holding one run "r" of `kind`, closed afterwards."""
    store = Store(f"sqlite:///{folder / 'runs.db'}")
    store.create_run("r", kind, {}, started)
    try:
        yield store
    finally:
        store.close()


def at_once(action: Callable[[], None], threads: int = 2) -> None:
    """Run `action` on `threads` threads released together, and wait for them (30 s each at
    most)."""
    start = threading.Barrier(threads)

    def released() -> None:
        start.wait(timeout=10)
        action()

    running = [threading.Thread(target=released) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=30)
