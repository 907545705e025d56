"""The durable trading loop: every cycle committed before the next, resumed after a crash into
the same result as an uninterrupted run, stopped cleanly on request or signal."""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, update

from agents.quant import build_quant_agent
from orchestration.events import JsonLinesEmitter, LoopEvent, ProgressEvent, ResultEvent
from orchestration.loop import OnceOnly, TradingLoop, stop_on_signals
from orchestration.resume import ResumeError, check_fills
from orchestration.team.config import TeamConfig
from orchestration.team.runtime import Team, build_team
from tests.helpers import catalog_of, daily_series
from tests.orchestration import crash_run
from trading.clock import LiveClock, ReplayClock
from trading.costs import CostModel
from trading.data import Catalog
from trading.decision import Decision, Snapshot
from trading.domain import Instrument, Liquidity, Order, OrderFilled, OrderType, Side
from trading.errors import ConfigError
from trading.ids import OrderId
from trading.replay import ReplayConfig, ReplayResult, run_replay
from trading.risk import RiskLimits
from trading.storage import CycleRecord, FillChecksumRecord, FillRecord, Store
from trading.storage_lease import Lease, LeaseLostError, RunHeldError, RunLeases, this_holder

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2020, 1, 1, tzinfo=UTC)
LOTS = {"SPX": Instrument("SPX", quantity_increment=Decimal(1))}
# Waves with a drift: the crossover trades a dozen times, the stops fire now and then.
CLOSES = [round(100 + 8 * math.sin(i / 4) + 0.1 * i, 2) for i in range(90)]
OPENS = [CLOSES[0], *CLOSES[:-1]]
CATALOG = catalog_of(daily_series("SPX", opens=OPENS, closes=CLOSES))
CONFIG = ReplayConfig(
    symbols=("SPX",),
    cash=Decimal(10_000),
    costs=CostModel(taker_fee_bps=Decimal(5), half_spread_bps=Decimal(2)),
    limits=RiskLimits(stop_loss=Decimal("0.02"), take_profit=Decimal("0.08")),
)
TOTAL = len(CLOSES)


def cycle_of(snapshot: Snapshot) -> int:
    """Cycle n decides at the close of day n, which is the start of day n + 1."""
    return (snapshot.now - START).days - 1


class Sma:
    """The crossover, with a hook run at one cycle (to crash, stop the loop or signal)."""

    name = "sma"

    def __init__(self, at: int = -1, hook: Callable[[], None] | None = None) -> None:
        self.inner = build_quant_agent("sma_cross", {"fast": 3, "slow": 8})
        self.at, self.hook = at, hook

    async def decide(self, snapshot: Snapshot) -> Decision:
        if cycle_of(snapshot) == self.at and self.hook is not None:
            self.hook()
        return await self.inner.decide(snapshot)


class Counting:
    """Long for three decisions, flat for three, by counting them: only its stored state lets
    a resumed run decide as the uninterrupted one did. It transcribes every decision."""

    name = "counting"

    def __init__(self, crash_at: int = -1) -> None:
        self.count = 0
        self.crash_at = crash_at
        self.last: dict[str, Any] | None = None

    async def decide(self, snapshot: Snapshot) -> Decision:
        if cycle_of(snapshot) == self.crash_at:
            raise RuntimeError("killed")
        self.count += 1
        self.last = {"count": self.count, "time": snapshot.now}
        return Decision({"SPX": Decimal(1) if (self.count // 3) % 2 == 0 else Decimal(0)})

    def transcript(self) -> dict[str, Any] | None:
        return self.last

    def state(self) -> dict[str, Any]:
        return {"count": self.count}

    def restore(self, state: dict[str, Any]) -> None:
        self.count = int(state["count"])


def crash() -> None:
    raise RuntimeError("killed at this cycle")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'trade.db'}")
    yield store
    store.close()


def loop(
    agent: Any, store: Store, events: Callable[[LoopEvent], None] | None = None
) -> TradingLoop:
    return TradingLoop(agent, CATALOG, store, events=events)


async def uninterrupted(agent: Any) -> ReplayResult:
    return await run_replay(agent, CATALOG, CONFIG, run_id="run", instruments=LOTS)


def assert_same_run(got: ReplayResult | None, want: ReplayResult) -> None:
    assert got is not None
    assert got.fills == want.fills
    assert got.equity == want.equity
    assert got.metrics == want.metrics
    assert [(d.time, d.decision, d.reviews) for d in got.decisions] == [
        (d.time, d.decision, d.reviews) for d in want.decisions
    ]
    assert [(o.id, o.status, o.filled_quantity, o.fees) for o in got.orders] == [
        (o.id, o.status, o.filled_quantity, o.fees) for o in want.orders
    ]
    assert (got.final_cash, got.final_equity) == (want.final_cash, want.final_equity)


async def test_a_loop_commits_every_cycle_and_equals_the_replay(store: Store) -> None:
    result = await loop(Sma(), store).start(CONFIG, run_id="run", instruments=LOTS)
    want = await uninterrupted(Sma())
    assert (result.status, result.cycles, result.total) == ("finished", TOTAL, TOTAL)
    assert_same_run(result.replay, want)
    assert len(want.fills) > 10
    reasons = " ".join(r for d in want.decisions for rv in d.reviews for r in rv.reasons)
    assert "stop-loss" in reasons
    assert "take-profit" in reasons
    assert [c.cycle for c in store.cycles("run")] == list(range(TOTAL))
    assert [f.price for f in store.fills("run")] == [f.price for f in want.fills]
    assert [e.equity for e in store.equity("run")] == [e for _, _, e in want.equity]
    assert len(store.decisions("run")) == TOTAL - 1  # the last cycle only settles
    run = store.run("run")
    assert run is not None
    assert (run.status, run.kind) == ("finished", "trade")
    assert run.summary is not None
    assert Decimal(run.summary["final_equity"]) == want.final_equity


async def test_a_crash_at_cycle_k_resumes_into_the_uninterrupted_result(store: Store) -> None:
    with pytest.raises(RuntimeError, match="killed at this cycle"):
        await loop(Sma(at=40, hook=crash), store).start(CONFIG, run_id="run", instruments=LOTS)
    assert [c.cycle for c in store.cycles("run")] == list(range(40))  # 0..39, whole
    run = store.run("run")
    assert run is not None
    assert run.status == "failed"
    result = await loop(Sma(), store).resume("run")
    assert (result.status, result.cycles) == ("finished", TOTAL)
    assert_same_run(result.replay, await uninterrupted(Sma()))
    # The database holds one run, as if it had never stopped.
    assert [c.cycle for c in store.cycles("run")] == list(range(TOTAL))
    want = await uninterrupted(Sma())
    assert [f.trade_id for f in store.fills("run")] == [f.trade_id for f in want.fills]


async def test_a_stateful_agent_resumes_from_its_stored_state_and_transcripts(
    store: Store,
) -> None:
    with pytest.raises(RuntimeError, match="killed"):
        await loop(Counting(crash_at=31), store).start(CONFIG, run_id="run", instruments=LOTS)
    fresh = Counting()
    result = await loop(fresh, store).resume("run")
    assert fresh.count == TOTAL - 1
    assert_same_run(result.replay, await uninterrupted(Counting()))
    cycle = store.cycle("run", 5)
    assert cycle is not None
    assert cycle.transcript == {"count": 6, "time": (START + timedelta(days=6)).isoformat()}
    # The final cycle only settles: the state it leaves is the one stored after the one before.
    assert store.agent_state("run") == (TOTAL - 2, {"count": TOTAL - 1})


class Latch:
    """Goes long when the close rises, flat when it falls, and sizes each entry by how many it
    made before: its state changes only when it enters or leaves, so most cycles store none."""

    name = "latch"

    def __init__(self, crash_at: int = -1) -> None:
        self.long, self.entries = False, 0
        self.crash_at = crash_at

    async def decide(self, snapshot: Snapshot) -> Decision:
        if cycle_of(snapshot) == self.crash_at:
            raise RuntimeError("killed")
        bars = snapshot.view.bars("SPX", 2)
        rising = len(bars) == 2 and bars[1].close > bars[0].close
        if rising and not self.long:
            self.long, self.entries = True, self.entries + 1
        elif not rising and self.long:
            self.long = False
        weight = Decimal(1) / (1 + self.entries % 3) if self.long else Decimal(0)
        return Decision({"SPX": weight})

    def state(self) -> dict[str, Any]:
        return {"long": self.long, "entries": self.entries}

    def restore(self, state: dict[str, Any]) -> None:
        self.long, self.entries = bool(state["long"]), int(state["entries"])


async def test_a_state_stored_cycles_before_the_crash_resumes_into_the_uninterrupted_result(
    store: Store,
) -> None:
    crash_at = next(
        c for c in range(30, TOTAL) if CLOSES[c] > CLOSES[c - 1] and CLOSES[c - 1] > CLOSES[c - 2]
    )
    with pytest.raises(RuntimeError, match="killed"):
        await loop(Latch(crash_at=crash_at + 3), store).start(
            CONFIG, run_id="run", instruments=LOTS
        )
    stored = store.agent_state("run")
    assert stored is not None
    # The latch entered a few cycles before the crash and has held since: nothing newer stored.
    assert stored[0] < crash_at + 2
    result = await loop(Latch(), store).resume("run")
    assert_same_run(result.replay, await uninterrupted(Latch()))
    assert all(c.agent_state is None for c in store.cycles("run"))


def desk() -> Team:
    """A team of two quant members whose votes the coordinator weighs by track record: its
    decisions depend on everything it saw, which a resume restores from the stored state."""
    config = TeamConfig.model_validate(
        {
            "name": "desk",
            "mode": "vote",
            "decide_every": 2,
            "members": [
                {"quant": "sma_cross", "params": {"fast": 3, "slow": 8}, "confidence": 0.7},
                {"quant": "momentum", "params": {"lookback": 5}, "confidence": 0.5},
            ],
        }
    )
    return build_team(config, catalog=CATALOG)


async def test_a_team_crashed_mid_run_resumes_into_the_uninterrupted_result(
    store: Store,
) -> None:
    crashing = desk()
    real_decide = crashing.decide

    async def decide(snapshot: Snapshot) -> Decision:
        if cycle_of(snapshot) == 45:
            raise RuntimeError("killed")
        return await real_decide(snapshot)

    crashing.decide = decide  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="killed"):
        await loop(crashing, store).start(CONFIG, run_id="run", instruments=LOTS)
    result = await loop(desk(), store).resume("run")
    want = await uninterrupted(desk())
    assert_same_run(result.replay, want)
    assert len(want.fills) > 4
    decided, between = store.cycle("run", 44), store.cycle("run", 45)
    assert decided is not None
    assert between is not None
    assert decided.transcript is not None
    assert decided.transcript["team"] == "desk"
    assert between.transcript is None  # the team decides on every second bar


async def test_a_second_resume_of_a_run_being_traded_is_refused_and_trades_nothing(
    store: Store,
) -> None:
    with pytest.raises(RuntimeError):
        await loop(Sma(at=20, hook=crash), store).start(CONFIG, run_id="run", instruments=LOTS)
    url = store.engine.url.render_as_string(hide_password=False)
    second: list[object] = []

    def resume_elsewhere() -> None:
        # Another process on the same database: its own store and its own event loop.
        other = Store(url)
        try:
            second.append(asyncio.run(loop(Sma(), other).resume("run")))
        except Exception as error:  # what it met is the assertion
            second.append(error)
        finally:
            other.close()

    def while_trading() -> None:
        thread = threading.Thread(target=resume_elsewhere)
        thread.start()
        thread.join(timeout=60)

    # The first resume is deciding cycle 40 when the second one starts.
    result = await loop(Sma(at=40, hook=while_trading), store).resume("run")
    [refused] = second
    assert isinstance(refused, RunHeldError), refused
    assert re.fullmatch(
        rf"run 'run' is held by {re.escape(this_holder())} since \S+; stop it first", str(refused)
    )
    assert (result.status, result.cycles) == ("finished", TOTAL)
    assert_same_run(result.replay, await uninterrupted(Sma()))
    assert RunLeases(store.engine, LiveClock()).current("run") is None  # released at the end


class Recording(RunLeases):
    """This process's leases, keeping what they hand out so a test can reach them."""

    def __init__(self, store: Store) -> None:
        super().__init__(store.engine, LiveClock())
        self.held: list[Lease] = []

    def take(self, run_id: str) -> Lease:
        lease = super().take(run_id)
        self.held.append(lease)
        return lease


async def test_a_loop_whose_lease_was_taken_over_stops_before_its_next_commit(
    store: Store,
) -> None:
    leases = Recording(store)
    later = ReplayClock(datetime.now(UTC) + timedelta(hours=1))  # past the lease's expiry

    def taken_over() -> None:
        # This process hung past its expiry; another host took the run, and a heartbeat
        # (here called by hand) found out.
        RunLeases(store.engine, later, holder="elsewhere:7").take("run")
        with pytest.raises(LeaseLostError):
            leases.held[0].renew()

    trading = TradingLoop(Sma(at=30, hook=taken_over), CATALOG, store, leases=leases)
    with pytest.raises(LeaseLostError, match="taken over by elsewhere:7; it stopped trading"):
        await trading.start(CONFIG, run_id="run", instruments=LOTS)
    assert [c.cycle for c in store.cycles("run")] == list(range(30))  # cycle 30 not committed
    run = store.run("run")
    assert run is not None
    assert run.status == "running"  # the new holder's to change, not "failed"
    current = leases.current("run")
    assert current is not None
    assert current.holder == "elsewhere:7"  # and the old holder's exit left it alone


async def test_stop_ends_after_the_current_cycle_with_it_committed(store: Store) -> None:
    trading: list[TradingLoop] = []
    agent = Sma(at=12, hook=lambda: trading[0].stop("enough"))
    trading.append(loop(agent, store))
    result = await trading[0].start(CONFIG, run_id="run", instruments=LOTS)
    assert (result.status, result.cycles) == ("stopped", 13)
    assert [c.cycle for c in store.cycles("run")] == list(range(13))
    assert len(store.decisions("run")) == 13  # cycle 12 decided and committed
    run = store.run("run")
    assert run is not None
    assert run.status == "stopped"
    resumed = await loop(Sma(), store).resume("run")
    assert resumed.status == "finished"
    assert_same_run(resumed.replay, await uninterrupted(Sma()))


async def test_sigterm_finishes_the_cycle_persists_and_returns(store: Store) -> None:
    before = signal.getsignal(signal.SIGTERM)
    trading = loop(Sma(at=20, hook=lambda: os.kill(os.getpid(), signal.SIGTERM)), store)
    with stop_on_signals(trading):
        result = await trading.start(CONFIG, run_id="run", instruments=LOTS)
    assert signal.getsignal(signal.SIGTERM) == before
    assert (result.status, result.cycles) == ("stopped", 21)
    assert trading.stop_requested == "SIGTERM received"
    assert len(store.cycles("run")) == 21
    resumed = await loop(Sma(), store).resume("run")
    assert_same_run(resumed.replay, await uninterrupted(Sma()))


async def test_events_are_json_lines_progress_then_result_or_error(store: Store) -> None:
    out = io.StringIO()
    await loop(Sma(), store, JsonLinesEmitter(out)).start(CONFIG, run_id="run", instruments=LOTS)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    progress, result = events[:-1], events[-1]
    assert [e["type"] for e in progress] == ["progress"] * TOTAL
    assert [e["step"] for e in progress] == list(range(1, TOTAL + 1))
    assert {e["total"] for e in progress} == {TOTAL}
    # The first bar is the session of 2020-01-01, stamped at its close, midnight of the 2nd.
    assert progress[0]["message"] == f"2020-01-01 equity {Decimal(10_000):.2f}"
    assert (progress[0]["as_of"], progress[0]["time"]) == (
        "2020-01-01",
        "2020-01-02T00:00:00+00:00",
    )
    assert result["type"] == "result"
    assert (result["status"], result["cycles"]) == ("finished", TOTAL)
    assert Decimal(result["final_equity"]) == Decimal(progress[-1]["equity"])
    assert isinstance(result["metrics"]["sharpe"], float)

    out = io.StringIO()
    with pytest.raises(RuntimeError):
        await loop(Sma(at=3, hook=crash), store, JsonLinesEmitter(out)).start(
            CONFIG, run_id="other", instruments=LOTS
        )
    *_, error = [json.loads(line) for line in out.getvalue().splitlines()]
    assert error == {
        "type": "error",
        "error": "killed at this cycle",
        "details": {"kind": "RuntimeError", "run_id": "other"},
    }


async def test_typed_events_reach_a_callback(store: Store) -> None:
    seen: list[LoopEvent] = []
    await loop(Sma(), store, seen.append).start(CONFIG, run_id="run", instruments=LOTS)
    assert all(isinstance(e, ProgressEvent) for e in seen[:-1])
    assert isinstance(seen[-1], ResultEvent)


def test_an_idempotency_key_already_stored_is_never_submitted_again() -> None:
    sent: list[str] = []

    def submit(order: Order) -> list[Any]:
        sent.append(order.id)
        return []

    guard = OnceOnly(submit, stored={str(OrderId("run", 7, "SPX"))})
    for cycle in (7, 8, 8):
        guard(
            Order(
                str(OrderId("run", cycle, "SPX")),
                "SPX",
                Side.BUY,
                Decimal(1),
                OrderType.MARKET,
                START,
            )
        )
    assert sent == ["run-8-SPX"]
    assert guard.skipped == ["run-7-SPX", "run-8-SPX"]


async def test_a_resumed_run_skips_an_order_key_it_already_stored(store: Store) -> None:
    # Counting buys at cycle 0 and sells at cycle 2. Pretend an earlier process sent that sell
    # and stored it, then died before committing cycle 2.
    with pytest.raises(RuntimeError):
        await loop(Counting(crash_at=2), store).start(CONFIG, run_id="run", instruments=LOTS)
    key = str(OrderId("run", 2, "SPX"))
    want = await run_replay(Counting(), CATALOG, CONFIG, run_id="run", instruments=LOTS)
    assert [o.id for o in want.orders][:2] == ["run-0-SPX", key]
    sent = Order(key, "SPX", Side.SELL, Decimal(1), OrderType.MARKET, START)
    store.save_records("run", orders=[sent])
    result = await loop(Counting(), store).resume("run")
    assert result.skipped_orders == (key,)
    assert result.replay is not None
    assert key not in {o.id for o in result.replay.orders}
    cycle = store.cycle("run", 3)
    assert cycle is not None
    assert cycle.ledger["positions"]["SPX"]["quantity"] != "0"  # the sell was not sent again


async def test_a_ledger_that_differs_from_the_committed_one_is_a_clear_error(
    store: Store,
) -> None:
    with pytest.raises(RuntimeError):
        await loop(Sma(at=30, hook=crash), store).start(CONFIG, run_id="run", instruments=LOTS)
    row = store.cycle("run", 20)
    assert row is not None
    with store.engine.begin() as connection:
        connection.execute(
            update(CycleRecord)
            .where(CycleRecord.run_id == "run", CycleRecord.cycle == 20)
            .values(ledger={**row.ledger, "cash": "1000000"})
        )
    with pytest.raises(ResumeError, match=r"committed at cycle 20 .*cash: committed '1000000'"):
        await loop(Sma(), store).resume("run")


def change_a_fill(store: Store, how: str) -> int:
    """Delete, duplicate or edit the run's third fill; the cycle that committed it."""
    victim = store.fills("run")[2]
    with store.engine.begin() as connection:
        where = (FillRecord.run_id == "run", FillRecord.trade_id == victim.trade_id)
        if how == "deleted":
            connection.execute(delete(FillRecord).where(*where))
        elif how == "duplicated":
            copy = {**_row(victim), "trade_id": f"{victim.trade_id}-again"}
            connection.execute(insert(FillRecord), [copy])
        else:
            connection.execute(update(FillRecord).where(*where).values(price=victim.price + 1))
    # A paper fill is stamped with its bar's time, which the next cycle settles.
    return next(c.cycle for c in store.cycles("run") if c.time > victim.time)


@pytest.mark.parametrize("how", ["deleted", "duplicated", "edited"])
async def test_fills_changed_since_their_cycle_was_written_stop_the_resume(
    store: Store, how: str
) -> None:
    with pytest.raises(RuntimeError):
        await loop(Sma(at=60, hook=crash), store).start(CONFIG, run_id="run", instruments=LOTS)
    cycle = change_a_fill(store, how)
    counted = {"deleted": "(1 fill written, 0 found)", "duplicated": "(1 fill written, 2 found)"}
    with pytest.raises(ResumeError) as stopped:
        await loop(Sma(), store).resume("run")
    message = str(stopped.value)
    assert re.fullmatch(
        rf"run 'run': cycle {cycle}'s fills were changed since they were written: checksum "
        r"[0-9a-f]{16} written, [0-9a-f]{16} now \(\d+ fills? written, \d+ found\); it cannot be "
        r"resumed safely",
        message,
    ), message
    assert counted.get(how, "(1 fill written, 1 found)") in message
    assert len(store.cycles("run")) == 60  # nothing more was traded


async def test_a_run_written_before_fill_checksums_resumes_and_gains_them(store: Store) -> None:
    with pytest.raises(RuntimeError):
        await loop(Sma(at=40, hook=crash), store).start(CONFIG, run_id="run", instruments=LOTS)
    with store.engine.begin() as connection:
        connection.execute(delete(FillChecksumRecord))  # as an older tradepit left it
    with pytest.raises(RuntimeError):
        await loop(Sma(at=70, hook=crash), store).resume("run")
    assert [row.cycle for row in store.fill_checksums("run")] == list(range(40, 70))
    result = await loop(Sma(), store).resume("run")  # its older fills are not strays
    assert_same_run(result.replay, await uninterrupted(Sma()))


def test_a_fill_of_the_last_cycle_before_the_upgrade_is_not_a_stray(store: Store) -> None:
    # An exchange fill comes back stamped with the cycle's own time, so by time alone it
    # would fall to the next cycle, the first one summed.
    times = [START + timedelta(days=n) for n in range(3)]
    store.create_run("run", "trade", {}, times[0])
    for n, time in enumerate(times):
        fill = OrderFilled(
            f"run-{n}-SPX", time, f"run-{n}-SPX-1", "SPX", Side.BUY, Decimal(1), Decimal(100),
            Decimal(0), Liquidity.TAKER,
        )  # fmt: skip
        store.commit_cycle("run", n, time, bars=[], ledger={}, fills=[fill])
    with store.engine.begin() as connection:
        connection.execute(delete(FillChecksumRecord).where(FillChecksumRecord.cycle < 2))
    check_fills(store, "run", store.cycles("run", full=False))
    with store.engine.begin() as connection:
        connection.execute(update(FillRecord).values(price=Decimal(101)))
    with pytest.raises(ResumeError, match="cycle 2's fills were changed"):
        check_fills(store, "run", store.cycles("run", full=False))


async def test_changed_market_data_is_a_clear_error_on_resume(store: Store) -> None:
    with pytest.raises(RuntimeError):
        await loop(Sma(at=30, hook=crash), store).start(CONFIG, run_id="run", instruments=LOTS)
    closes = [*CLOSES[:10], CLOSES[10] + 1, *CLOSES[11:]]
    other = catalog_of(daily_series("SPX", opens=OPENS, closes=closes))
    with pytest.raises(ResumeError, match="market data of cycle 10"):
        await TradingLoop(Sma(), other, store).resume("run")


async def test_resume_refuses_another_agent_and_unknown_runs(store: Store) -> None:
    with pytest.raises(RuntimeError):
        await loop(Sma(at=5, hook=crash), store).start(CONFIG, run_id="run", instruments=LOTS)
    with pytest.raises(ConfigError, match="traded by agent 'sma', not 'counting'"):
        await loop(Counting(), store).resume("run")
    with pytest.raises(ConfigError, match="no run 'nope'"):
        await loop(Sma(), store).resume("nope")


async def test_resuming_a_finished_run_rebuilds_it_without_asking_the_agent(
    store: Store,
) -> None:
    first = await loop(Sma(), store).start(CONFIG, run_id="run", instruments=LOTS)
    again = await loop(Sma(at=0, hook=crash), store).resume("run")  # would raise if asked
    assert again.status == "finished"
    assert first.replay is not None
    assert_same_run(again.replay, first.replay)


# ---- the crash test: a real process, killed with SIGKILL -----------------------------------


def _lines(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def test_a_process_killed_with_sigkill_resumes_into_the_uninterrupted_result(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'trade.db'}"
    with subprocess.Popen(  # noqa: S603 - our own interpreter running our own module
        [sys.executable, "-c", "from tests.orchestration.crash_run import main; main()", url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as child:
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_lines, args=(child.stdout, lines), daemon=True)
        reader.start()
        try:
            # No sleeping: wait on the child's own report that cycle 150 is committed.
            while True:
                line = lines.get(timeout=60)
                assert line is not None, f"the run ended before the kill (rc {child.poll()})"
                event = json.loads(line)
                assert event["type"] == "progress", event
                if event["cycle"] >= 150:
                    break
            child.send_signal(signal.SIGKILL)
        finally:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)
            reader.join(timeout=30)
    assert child.returncode == -signal.SIGKILL
    total = event["total"]

    store = Store(url)
    committed = len(store.cycles(crash_run.RUN_ID))
    assert 150 < committed < total  # killed mid-run, with every reported cycle stored
    run = store.run(crash_run.RUN_ID)
    assert run is not None
    assert run.status == "running"
    catalog = Catalog.default()
    resumed = asyncio.run(TradingLoop(crash_run.agent(), catalog, store).resume(crash_run.RUN_ID))
    assert (resumed.status, resumed.cycles) == ("finished", total)

    clean = Store(f"sqlite:///{tmp_path / 'clean.db'}")
    want = asyncio.run(
        TradingLoop(crash_run.agent(), catalog, clean).start(
            crash_run.config(), run_id=crash_run.RUN_ID
        )
    )
    assert want.replay is not None
    assert len(want.replay.fills) > 10
    assert_same_run(resumed.replay, want.replay)
    # And the two databases hold the same run.
    for table in ("fills", "equity", "decisions", "orders"):
        rows = getattr(store, table)(crash_run.RUN_ID)
        clean_rows = getattr(clean, table)(crash_run.RUN_ID)
        assert [_row(r) for r in rows] == [_row(r) for r in clean_rows], table
    store.close()
    clean.close()


def _row(record: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if not k.startswith("_")}
