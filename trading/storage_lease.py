"""Run leases: one process at a time trades a run.

Two `--resume` of one run would both rebuild it and both trade it, each sending its own orders.
So a process takes the run's lease before it trades: a row in `run_leases` naming it (host:pid)
with an expiry it pushes forward from a heartbeat thread while it holds the run, and deletes
when it lets go. Another process finds the row and is refused with the holder's name, unless the
lease is stale: its holder is a process of this host that no longer exists (killed, crashed), or
its expiry passed (a holder on another host stopped renewing). A stale lease is taken over.

Taking, renewing and releasing are compare-and-swap on the row's token, so two processes racing
for one lease never both win, on SQLite or PostgreSQL. A holder whose lease was taken over (it
hung past the expiry) learns it at its next heartbeat; `Lease.check` then raises before it
commits anything more.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from trading.clock import Clock
from trading.errors import FatalError
from trading.storage import RunLeaseRecord

DEFAULT_TTL = timedelta(seconds=60)
# Three heartbeats per expiry: one missed beat (a busy database) does not lose the lease.
_BEATS_PER_TTL = 3
_MOST_TRIES = 5


class RunHeldError(FatalError):
    """Another live process holds the run's lease."""


class LeaseLostError(FatalError):
    """This process's lease was taken over: it must stop trading the run."""


def this_holder() -> str:
    """How this process names itself in a lease: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_alive(holder: str) -> bool:
    """False only for a process of this host that is gone; one on another host cannot be
    asked, so its lease lapses by its expiry instead."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


@dataclass(frozen=True, slots=True)
class _Row:
    holder: str
    token: str
    taken_at: datetime
    expires_at: datetime


class Lease:
    """A run's lease, held by this process until `release`."""

    def __init__(self, leases: RunLeases, run_id: str, token: str) -> None:
        self._leases = leases
        self.run_id = run_id
        self.token = token
        self.holder = leases.holder
        self.lost = ""  # why the lease is no longer ours; empty while it is

    def renew(self) -> None:
        """Push the expiry one TTL past now; LeaseLostError if another process took it."""
        engine, now = self._leases.engine, self._leases.clock.now()
        with engine.begin() as connection:
            renewed = connection.execute(
                update(RunLeaseRecord)
                .where(RunLeaseRecord.run_id == self.run_id, RunLeaseRecord.token == self.token)
                .values(expires_at=now + self._leases.ttl)
            ).rowcount
        if renewed != 1:
            row = self._leases.current(self.run_id)
            taker = "no one" if row is None else row.holder
            self.lost = f"run {self.run_id!r}: this process's lease was taken over by {taker}"
            raise LeaseLostError(self.lost)

    def check(self) -> None:
        """Raise if a heartbeat found the lease taken over."""
        if self.lost:
            raise LeaseLostError(f"{self.lost}; it stopped trading the run")

    def release(self) -> None:
        """Let the run go; a lease already taken over is left to its new holder."""
        with self._leases.engine.begin() as connection:
            connection.execute(
                delete(RunLeaseRecord).where(
                    RunLeaseRecord.run_id == self.run_id, RunLeaseRecord.token == self.token
                )
            )


class RunLeases:
    """Takes and holds run leases for one process (`holder`), in the run database."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        holder: str | None = None,
        ttl: timedelta = DEFAULT_TTL,
        alive: Callable[[str], bool] = holder_alive,
    ) -> None:
        if ttl <= timedelta(0):
            raise FatalError(f"a lease needs a positive time to live, got {ttl!r}")
        self.engine = engine
        self.clock = clock
        self.holder = holder or this_holder()
        self.ttl = ttl
        self._alive = alive

    def current(self, run_id: str) -> _Row | None:
        with self.engine.connect() as connection:
            found = connection.execute(
                select(
                    RunLeaseRecord.holder,
                    RunLeaseRecord.token,
                    RunLeaseRecord.taken_at,
                    RunLeaseRecord.expires_at,
                ).where(RunLeaseRecord.run_id == run_id)
            ).first()
        return None if found is None else _Row(*found)

    def take(self, run_id: str) -> Lease:
        """The run's lease, if no live process holds it; else RunHeldError naming the holder."""
        for _ in range(_MOST_TRIES):
            token = uuid.uuid4().hex
            row = self.current(run_id)
            now = self.clock.now()
            if row is not None and row.expires_at > now and self._alive(row.holder):
                raise RunHeldError(self._held(run_id, row))
            values = {"holder": self.holder, "token": token, "taken_at": now}
            values["expires_at"] = now + self.ttl
            try:
                with self.engine.begin() as connection:
                    if row is None:
                        connection.execute(insert(RunLeaseRecord), [{"run_id": run_id, **values}])
                        return Lease(self, run_id, token)
                    # Take a stale lease over only if it is still the one judged stale.
                    taken = connection.execute(
                        update(RunLeaseRecord)
                        .where(RunLeaseRecord.run_id == run_id, RunLeaseRecord.token == row.token)
                        .values(**values)
                    ).rowcount
                if taken == 1:
                    return Lease(self, run_id, token)
            except IntegrityError:
                pass  # another process inserted the lease first: look at it again
        raise RunHeldError(f"run {run_id!r}: its lease kept changing hands; try again")

    @contextmanager
    def hold(self, run_id: str) -> Iterator[Lease]:
        """Take the run's lease, renew it while inside, release it on the way out (an error or
        an interrupt included)."""
        lease = self.take(run_id)
        stop = threading.Event()
        beat = threading.Thread(
            target=_heartbeat,
            args=(lease, stop, self.ttl.total_seconds() / _BEATS_PER_TTL),
            name=f"lease {run_id}",
            daemon=True,
        )
        beat.start()
        try:
            yield lease
        finally:
            stop.set()
            beat.join()
            if not lease.lost:
                lease.release()

    def _held(self, run_id: str, row: _Row) -> str:
        since = row.taken_at.isoformat(timespec="seconds")
        message = f"run {run_id!r} is held by {row.holder} since {since}; stop it first"
        if row.holder.rpartition(":")[0] != socket.gethostname():
            lapses = row.expires_at.isoformat(timespec="seconds")
            message += f" (if it died, its lease lapses at {lapses})"
        return message


def _heartbeat(lease: Lease, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        try:
            lease.renew()
        except LeaseLostError:
            return
        except OperationalError:
            continue  # a busy database; the next beat tries again, well before the expiry
