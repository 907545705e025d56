"""Run leases: a second process is refused a run a live one holds, takes over one whose holder
died or stopped renewing, and a released run is free again."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.trading.storage_helpers import at_once
from trading.clock import ReplayClock
from trading.storage import Store
from trading.storage_lease import (
    LeaseLostError,
    RunHeldError,
    RunLeases,
    holder_alive,
    this_holder,
)

T = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
TTL = timedelta(seconds=60)
HOST = socket.gethostname()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    yield store
    store.close()


@pytest.fixture
def clock() -> ReplayClock:
    return ReplayClock(T)


def leases(store: Store, clock: ReplayClock, holder: str | None = None) -> RunLeases:
    return RunLeases(store.engine, clock, holder=holder, ttl=TTL)


def dead_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def test_a_run_held_by_a_live_process_is_refused_with_the_holder_and_since(
    store: Store, clock: ReplayClock
) -> None:
    first = leases(store, clock).take("r12")
    assert first.holder == this_holder()
    clock.advance_to(T + timedelta(seconds=30))
    # This process is alive, and another lease object in it is another holder (a new token).
    with pytest.raises(RunHeldError) as refused:
        leases(store, clock).take("r12")
    assert str(refused.value) == (
        f"run 'r12' is held by {this_holder()} since 2026-03-01T09:30:00+00:00; stop it first"
    )
    leases(store, clock).take("r13").release()  # other runs are free


def test_a_lease_whose_holder_died_on_this_host_is_taken_over(
    store: Store, clock: ReplayClock
) -> None:
    dead = f"{HOST}:{dead_pid()}"
    assert not holder_alive(dead)
    leases(store, clock, holder=dead).take("r")
    taken = leases(store, clock).take("r")  # long before its expiry
    current = leases(store, clock).current("r")
    assert current is not None
    assert (current.holder, current.token) == (this_holder(), taken.token)


def test_a_lease_on_another_host_is_refused_until_it_expires_then_taken_over(
    store: Store, clock: ReplayClock
) -> None:
    away = leases(store, clock, holder="elsewhere:4242")
    held = away.take("r")
    clock.advance_to(T + timedelta(seconds=50))
    held.renew()  # its heartbeat: now it lapses at 09:31:50
    clock.advance_to(T + timedelta(seconds=100))
    with pytest.raises(RunHeldError, match=r"held by elsewhere:4242 since 2026-03-01T09:30:00"):
        leases(store, clock).take("r")
    with pytest.raises(RunHeldError, match=r"its lease lapses at 2026-03-01T09:31:50"):
        leases(store, clock).take("r")
    clock.advance_to(T + timedelta(seconds=110))
    mine = leases(store, clock).take("r")
    # The old holder learns it at its next heartbeat, and its release leaves the new lease.
    with pytest.raises(LeaseLostError, match=f"taken over by {this_holder()}"):
        held.renew()
    with pytest.raises(LeaseLostError, match="it stopped trading the run"):
        held.check()
    held.release()
    current = leases(store, clock).current("r")
    assert current is not None
    assert current.token == mine.token


def test_a_released_run_is_free_for_the_next_process(store: Store, clock: ReplayClock) -> None:
    leases(store, clock).take("r").release()
    assert leases(store, clock).current("r") is None
    leases(store, clock).take("r")


def test_hold_releases_the_lease_on_the_way_out_even_on_an_error(
    store: Store, clock: ReplayClock
) -> None:
    holding = leases(store, clock)

    def trade_and_fail() -> None:
        with holding.hold("r") as lease:
            assert holding.current("r") is not None
            lease.check()  # nothing lost
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        trade_and_fail()
    assert holding.current("r") is None


def race_for(store: Store, run_id: str) -> list[str]:
    """Two holders of this process ask for `run_id` at the same moment; how each fared."""
    racers = [RunLeases(store.engine, ReplayClock(T), ttl=TTL) for _ in range(2)]
    outcomes: list[str] = []

    def take() -> None:
        racer = racers.pop()
        try:
            racer.take(run_id)
            outcomes.append("taken")
        except RunHeldError:
            outcomes.append("refused")

    at_once(take)
    return outcomes


def test_two_processes_racing_for_a_free_run_never_both_win(store: Store) -> None:
    for attempt in range(10):
        assert sorted(race_for(store, f"race{attempt}")) == ["refused", "taken"], attempt


class Beats(ReplayClock):
    """A replay clock that tells when the heartbeat has asked it the time twice since armed:
    the first renewal is committed by then."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.asked = 0
        self.twice = threading.Event()

    def arm(self) -> None:
        self.asked = 0
        self.twice.clear()

    def now(self) -> datetime:
        self.asked += 1
        if self.asked >= 2:
            self.twice.set()
        return super().now()


def test_while_held_a_heartbeat_pushes_the_expiry_forward(store: Store) -> None:
    clock = Beats(T)
    holding = RunLeases(store.engine, clock, ttl=timedelta(milliseconds=150))
    with holding.hold("r"):
        clock.advance_to(T + timedelta(hours=1))
        clock.arm()
        assert clock.twice.wait(timeout=10)
        current = holding.current("r")
        assert current is not None
        assert current.expires_at >= T + timedelta(hours=1)
    assert holding.current("r") is None
