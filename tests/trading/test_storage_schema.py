"""Two processes opening a fresh database at once: both get its tables, neither fails."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pytest

from agents.llm_calls import LlmCallStore
from trading.storage import Store


class Closable(Protocol):
    def close(self) -> None: ...


def open_together(opener: Callable[[str], Closable], url: str) -> list[BaseException]:
    """Two threads open `url` at the same moment; what they raised."""
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def open_store() -> None:
        start.wait(timeout=10)
        try:
            opener(url).close()
        except Exception as error:  # collected for the caller's assertion
            errors.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


@pytest.mark.parametrize("opener", [Store, LlmCallStore], ids=["runs", "llm calls"])
def test_two_openers_creating_the_schema_of_a_fresh_database_at_once_both_succeed(
    tmp_path: Path, opener: Callable[[str], Closable]
) -> None:
    # Both see the tables missing, then both create them: the loser used to fail with "table
    # runs already exists" (5 and 12 of these 15 attempts). Fifteen fresh files.
    for attempt in range(15):
        errors = open_together(opener, f"sqlite:///{tmp_path / f'fresh{attempt}.db'}")
        assert errors == [], f"attempt {attempt}: {errors[0]}"
    store = Store(f"sqlite:///{tmp_path / 'fresh0.db'}")
    assert store.runs() == []
    store.close()
