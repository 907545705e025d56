"""Every LLM call is recorded and priced, budgets stop a run, and the cache replays answers."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError

from agents.llm_calls import (
    Budget,
    BudgetExceeded,
    InvalidCharge,
    LlmCall,
    LlmCallStore,
    Recording,
    cache_key,
)
from trading.errors import FatalError

T = datetime(2026, 1, 2, tzinfo=UTC)
MESSAGES = [{"role": "user", "content": "SPX view?"}]


def call(tokens: tuple[int, int] = (100, 50), usd: str = "0.001", cached: bool = False) -> LlmCall:
    return LlmCall(
        "run-1",
        "bull",
        "openai:gpt-4o-mini",
        tokens[0],
        tokens[1],
        Decimal(usd),
        0.25,
        "k" * 64,
        cached,
        T,
    )


def test_the_cache_key_depends_on_everything_that_shapes_the_answer() -> None:
    base = cache_key("openai:gpt-4o-mini", MESSAGES, [], {"temperature": 0.2})
    assert base == cache_key("openai:gpt-4o-mini", MESSAGES, [], {"temperature": 0.2})
    assert base != cache_key("openai:gpt-4o", MESSAGES, [], {"temperature": 0.2})
    assert base != cache_key("openai:gpt-4o-mini", MESSAGES, [], {"temperature": 0.3})
    assert base != cache_key("openai:gpt-4o-mini", [*MESSAGES, MESSAGES[0]], [], {})
    assert base != cache_key(
        "openai:gpt-4o-mini", MESSAGES, [{"name": "get_price"}], {"temperature": 0.2}
    )
    # Key order inside a message does not matter: the JSON is canonical.
    swapped = [{"content": "SPX view?", "role": "user"}]
    assert base == cache_key("openai:gpt-4o-mini", swapped, [], {"temperature": 0.2})


def test_a_token_budget_stops_the_run_with_a_clear_message() -> None:
    budget = Budget(max_tokens=300)
    budget.charge(call((100, 50)))
    with pytest.raises(BudgetExceeded, match="token budget reached: 300 of 300 tokens spent"):
        budget.charge(call((100, 50)))


def test_a_dollar_budget_stops_the_run_and_cached_calls_are_free() -> None:
    budget = Budget(max_usd=Decimal("0.002"))
    budget.charge(call(usd="0.0015"))
    budget.charge(call(usd="5", cached=True))
    assert budget.usd == Decimal("0.0015")
    with pytest.raises(BudgetExceeded, match=r"dollar budget reached: \$0.0030 of \$0.0020"):
        budget.charge(call(usd="0.0015"))


@pytest.mark.parametrize(
    ("tokens", "usd"), [((-1, 0), "0"), ((0, -10_000_000), "0"), ((10, 10), "-0.01")]
)
def test_a_negative_charge_is_refused_and_leaves_the_budget_as_it_was(
    tokens: tuple[int, int], usd: str
) -> None:
    budget = Budget(max_tokens=1000)
    budget.charge(call((100, 50)))
    with pytest.raises(InvalidCharge, match="cannot be negative"):
        budget.charge(call(tokens, usd))
    assert (budget.tokens, budget.usd) == (150, Decimal("0.001"))


def test_budgets_must_be_positive() -> None:
    with pytest.raises(FatalError, match="positive"):
        Budget(max_tokens=0)


def answer(body: str) -> Recording:
    return Recording(kind="answer", status=200, body=body.encode(), tries=1)


def test_a_recording_and_its_tries_persist_together(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'llm.db'}"
    store = LlmCallStore(url)
    first = call()
    assert store.recording("run-1", first.cache_key, 0) is None
    failed = replace(first, prompt_tokens=0, completion_tokens=0, outcome="timed out")
    store.save([failed, first], answer("first"), occurrence=0)
    store.save([call(cached=True)])  # a later replayed call logs itself and stores nothing
    store.close()
    reopened = LlmCallStore(url)
    assert reopened.recording("run-1", first.cache_key, 0) == answer("first")
    assert reopened.recording("run-2", first.cache_key, 0) is None  # another run's: not ours
    logged = reopened.calls("run-1")
    assert [(c.prompt_tokens, c.time, c.cached, c.outcome) for c in logged] == [
        (0, T, False, "timed out"),
        (100, T, False, "answered"),
        (100, T, True, "answered"),
    ]
    reopened.close()


def test_the_first_recording_of_an_occurrence_is_kept_and_both_calls_are_logged(
    tmp_path: Path,
) -> None:
    store = LlmCallStore(f"sqlite:///{tmp_path / 'llm.db'}")
    store.save([call()], answer("first"), occurrence=0)
    store.save([call(tokens=(7, 3))], answer("second"), occurrence=0)  # two agents at once
    store.save([call(tokens=(7, 3))], answer("third"), occurrence=1)  # asked again later
    assert store.recording("run-1", "k" * 64, 0) == answer("first")
    assert store.recording("run-1", "k" * 64, 1) == answer("third")
    assert [c.prompt_tokens for c in store.calls("run-1")] == [100, 7, 7]
    store.close()


def test_a_failed_save_leaves_neither_the_recording_nor_the_record(tmp_path: Path) -> None:
    store = LlmCallStore(f"sqlite:///{tmp_path / 'llm.db'}")
    refuse = (
        "CREATE TRIGGER refuse BEFORE INSERT ON llm_calls "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    with store.engine.begin() as connection:
        connection.exec_driver_sql(refuse)  # the cost log's insert fails, after the recording's
    with pytest.raises(IntegrityError, match="disk full"):
        store.save([call()], answer("lost"))
    assert store.recording("run-1", "k" * 64, 0) is None
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER refuse")
    store.save([call()], answer("kept"))
    assert store.recording("run-1", "k" * 64, 0) == answer("kept")
    assert len(store.calls("run-1")) == 1
    store.close()


def test_a_call_log_from_before_outcomes_gains_the_column(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = (
        "CREATE TABLE llm_calls (id INTEGER PRIMARY KEY, run_id VARCHAR(64), agent VARCHAR(64), "
        "model VARCHAR(128), prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd TEXT, "
        "latency_s FLOAT, cache_key VARCHAR(64), cached INTEGER, time VARCHAR)"
    )
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(old)
    engine.dispose()
    store = LlmCallStore(url)
    store.save([call()])
    assert [c.outcome for c in store.calls("run-1")] == ["answered"]
    store.close()


def test_a_file_database_uses_a_write_ahead_log_synced_at_checkpoints(tmp_path: Path) -> None:
    store = LlmCallStore(f"sqlite:///{tmp_path / 'llm.db'}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    store.close()


def test_a_killed_process_loses_no_saved_call(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'llm.db'}"
    killed = subprocess.run(  # noqa: S603 - our own interpreter running the code below
        [sys.executable, "-c", KILLED_AFTER_SAVING, url],
        cwd=Path(__file__).resolve().parents[2],
        check=False,
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL
    store = LlmCallStore(url)
    assert store.recording("run-1", "k" * 64, 0) == answer("saved")
    assert [c.agent for c in store.calls("run-1")] == ["bull"]
    store.close()


# Saves one call, then dies with no chance to close the database or checkpoint its log.
KILLED_AFTER_SAVING = """
import os, signal, sys
from datetime import UTC, datetime
from decimal import Decimal
from agents.llm_calls import LlmCall, LlmCallStore, Recording
store = LlmCallStore(sys.argv[1])
t = datetime(2026, 1, 2, tzinfo=UTC)
call = LlmCall("run-1", "bull", "m", 1, 1, Decimal(0), 0.1, "k" * 64, False, t)
store.save([call], Recording("answer", 200, b"saved", 1))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_an_in_memory_store_is_one_database_for_every_thread() -> None:
    store = LlmCallStore("sqlite://")  # no file, so no write-ahead log
    store.save([call()], answer("first"))
    seen: list[object] = []
    reader = threading.Thread(target=lambda: seen.append(store.recording("run-1", "k" * 64, 0)))
    reader.start()
    reader.join(timeout=10)
    assert seen == [answer("first")]
    store.close()


def test_a_database_without_insert_or_ignore_is_refused_by_name() -> None:
    with pytest.raises(FatalError, match=r"needs SQLite or PostgreSQL, got 'mysql'"):
        LlmCallStore("mysql://user@localhost/tradepit")
