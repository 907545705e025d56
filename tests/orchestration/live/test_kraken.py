"""The trading loop on live Kraken data, against the loopback fake: paper fills on the book,
validate-only and live orders, reconcile before trading, lost replies resolved by query, resume
without a second order, and no secret anywhere. A fake clock moves only when the loop sleeps."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agents.quant import build_quant_agent
from orchestration.events import LoopEvent, ProgressEvent, ResultEvent
from orchestration.live.kraken import (
    is_kraken_run,
    kraken_mode,
    prepare_kraken_run,
    resume_kraken_loop,
    run_kraken_loop,
)
from orchestration.loop import LoopResult, TradingLoop
from tests.fakes.kraken_server import Drop, FakeKraken, Tape, fake_kraken
from tests.trading.kraken.conftest import API_KEY, NOW, SECRET, at
from trading.decision import Decision, Snapshot, TradingAgent
from trading.domain import Bar
from trading.errors import ConfigError
from trading.ids import OrderId
from trading.kraken import (
    CandleCache,
    KrakenClient,
    KrakenCredentials,
    OrderJournal,
    ReconcileError,
    RetryPolicy,
    client_order_id,
)
from trading.storage import FillRecord, Store

HOUR = 3600
ASK, BID = Decimal("30300.1"), Decimal("30300.0")  # the Depth fixture's best levels
TAKER = Decimal("0.004")  # the AssetPairs fixture's first fee tier, 0.4%
BTC = "BTC/USD"


class FakeTime:
    """The injected clock and sleep: sleeping moves the clock and the fake Kraken's "now"."""

    def __init__(self, kraken: FakeKraken) -> None:
        self.kraken = kraken
        self.moment = at(kraken.now)
        self.slept: list[float] = []
        self.lag = 0  # how many seconds Kraken's own clock runs behind, committing candles late

    def now(self) -> datetime:
        return self.moment

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.moment += timedelta(seconds=seconds)
        self.kraken.now = int(self.moment.timestamp()) - self.lag


class Scripted:
    """Targets for BTC/USD by decision count, a count the loop stores and restores on resume;
    records the last bar each snapshot showed. It can crash at one decision, as a killed
    process would."""

    name = "scripted"

    def __init__(self, targets: Sequence[str], crash_at: int = -1) -> None:
        self.targets = [Decimal(t) for t in targets]
        self.crash_at = crash_at
        self.count = 0
        self.seen: list[tuple[datetime, Bar]] = []

    async def decide(self, snapshot: Snapshot) -> Decision:
        n = self.count
        self.seen.append((snapshot.now, snapshot.view.last_bar(BTC)))
        if n == self.crash_at:
            raise RuntimeError("killed")
        self.count += 1
        return Decision({BTC: self.targets[min(n, len(self.targets) - 1)]})

    def state(self) -> dict[str, Any]:
        return {"count": self.count}

    def restore(self, state: dict[str, Any]) -> None:
        self.count = int(state["count"])


@dataclass
class World:
    kraken: FakeKraken
    time: FakeTime
    tmp: Path
    retries: list[float]

    def client(self, keys: bool = True) -> KrakenClient:
        credentials = (
            KrakenCredentials(api_key=SecretStr(API_KEY), api_secret=SecretStr(SECRET))
            if keys
            else None
        )
        return KrakenClient(
            base_url=self.kraken.url,
            credentials=credentials,
            timeout_s=5,
            rate_limit=False,
            retry=RetryPolicy(attempts=3, first_delay_s=1.0),
            sleep=self.retries.append,
        )

    def store(self) -> Store:
        return Store(f"sqlite:///{self.tmp / 'live.db'}")

    def ports(self, keys: bool = True) -> dict[str, Any]:
        """What a fresh process would build: new client, journal and cache objects on the same
        files."""
        return {
            "client": self.client(keys),
            "clock": self.time,
            "sleep": self.time.sleep,
            "cache": CandleCache.in_directory(self.tmp / "cache"),
            "journal": OrderJournal(f"sqlite:///{self.tmp / 'live.db'}"),
        }

    def add_orders(self, cl_ord_id: str) -> list[dict[str, str]]:
        sent = self.kraken.calls("AddOrder")
        return [c.params for c in sent if c.params["cl_ord_id"] == cl_ord_id]

    def kraken_order(self, cl_ord_id: str) -> dict[str, Any]:
        [order] = [o for o in self.kraken.orders.values() if o.get("cl_ord_id") == cl_ord_id]
        return order

    def private_calls(self) -> list[str]:
        private = {"AddOrder", "Balance", "OpenOrders", "ClosedOrders", "QueryOrders"}
        return [r.endpoint for r in self.kraken.requests if r.endpoint in private]

    async def run(
        self,
        agent: TradingAgent,
        run_id: str,
        store: Store,
        *,
        keys: bool,
        timeframe: str = "5m",
        **options: Any,
    ) -> LoopResult:
        """`run_kraken_loop` on BTC/USD with this world's ports, as a fresh process would."""
        return await run_kraken_loop(
            agent,
            run_id=run_id,
            store=store,
            symbols=[BTC],
            timeframe=timeframe,
            **options,
            **self.ports(keys),
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    # A trade a minute around the book's prices, from a day before "now" to hours after it.
    tape = Tape.synthetic("XXBTZUSD", NOW - 30 * HOUR, NOW + 6 * HOUR, 60, base="30300.0")
    with fake_kraken(NOW, tape) as kraken:
        kraken.add_key(API_KEY, SECRET)
        yield World(kraken, FakeTime(kraken), tmp_path, [])
        assert not kraken.errors, kraken.errors


def key(run: str, cycle: int) -> str:
    return client_order_id(str(OrderId(run, cycle, BTC)))


def assert_booked_as_kraken_filled(fill: FillRecord, order: dict[str, Any]) -> None:
    """The fill is what Kraken reported for the order: its volume, cost and fee, at the ask."""
    assert fill.quantity == Decimal(order["vol_exec"])
    assert abs(fill.quantity * fill.price - Decimal(order["cost"])) < Decimal("1e-20")
    assert fill.fee == Decimal(order["fee"])
    assert abs(fill.price - ASK) < Decimal("0.0001")


# ---- paper on the live book ----------------------------------------------------------------


async def test_a_quant_agent_trades_live_cycles_on_paper_filling_at_the_ask_with_kraken_fees(
    world: World,
) -> None:
    events: list[LoopEvent] = []
    store = world.store()
    result = await world.run(
        build_quant_agent("buy_and_hold"),
        "paper",
        store,
        keys=False,
        every_s=60,
        max_cycles=4,
        events=events.append,
    )

    assert (result.status, result.cycles, result.total) == ("finished", 4, 4)
    assert world.time.slept == [60.0, 60.0, 60.0]  # waited on the injected sleep only
    [fill] = store.fills("paper")
    assert fill.price == ASK
    assert fill.fee == fill.quantity * ASK * TAKER
    assert fill.liquidity == "taker"
    assert world.private_calls() == []  # paper sends nothing to Kraken
    assert [c.time for c in store.cycles("paper")] == [at(NOW + 60 * i) for i in range(4)]
    assert isinstance(events[-1], ResultEvent)
    assert [e.cycle for e in events if isinstance(e, ProgressEvent)] == [0, 1, 2, 3]
    run = store.run("paper")
    assert run is not None
    assert run.config["meta"]["kraken"]["mode"] == "paper"
    assert result.replay is not None
    assert result.replay.final_cash == Decimal(10_000) - fill.quantity * ASK - fill.fee


async def test_a_sale_fills_at_the_bid_and_no_snapshot_holds_a_forming_candle(
    world: World,
) -> None:
    agent = Scripted(["0.5", "0"])
    store = world.store()
    await world.run(agent, "flip", store, keys=False, every_s=120, max_cycles=3)

    bought, sold = store.fills("flip")
    assert (bought.side, bought.price, sold.side, sold.price) == ("buy", ASK, "sell", BID)
    assert sold.quantity == bought.quantity
    assert sold.fee == sold.quantity * BID * TAKER
    for now, bar in agent.seen:
        # The newest bar seen is the last one closed: the one forming at `now` is not there.
        assert bar.close_time <= now
        assert bar.close_time + timedelta(minutes=5) > now


async def test_a_caller_builds_its_own_loop_on_the_kraken_catalog_which_grows(
    world: World,
) -> None:
    store = world.store()
    ports = world.ports(keys=False)
    run = prepare_kraken_run(
        run_id="cli", store=store, symbols=["XBTUSD"], timeframe="5m", max_cycles=2, **ports
    )
    assert (run.mode, run.catalog.symbols()) == ("paper", [BTC])
    before = run.catalog.load(BTC).last_time
    await world.time.sleep(300)
    assert run.catalog.load(BTC).last_time == before + timedelta(minutes=5)

    loop = TradingLoop(Scripted(["0.5"]), run.catalog, store, clock=world.time)
    result = await run.begin(loop)
    assert (result.status, result.cycles) == ("finished", 2)
    assert [f.price for f in store.fills("cli")] == [ASK]


async def test_on_new_bars_a_cycle_waits_for_the_next_candle_to_close(world: World) -> None:
    store = world.store()
    await world.run(Scripted(["0"]), "bars", store, keys=False, max_cycles=3)

    last_close = NOW // 300 * 300  # the newest 5m candle closed at the start
    cycles = store.cycles("bars")
    assert [c.time for c in cycles] == [at(NOW), at(last_close + 300), at(last_close + 600)]
    assert [c.bars[0]["time"] for c in cycles] == [
        at(last_close - 300 + 300 * i).isoformat() for i in range(3)
    ]


async def test_a_candle_kraken_has_not_committed_yet_is_waited_for(world: World) -> None:
    world.time.lag = 3
    store = world.store()
    await world.run(Scripted(["0"]), "late", store, keys=False, max_cycles=2)

    closed = NOW // 300 * 300 + 300  # the close cycle 1 waits for
    assert world.time.slept == [float(closed - NOW), 5.0]  # to the close, then for Kraken
    cycle = store.cycles("late")[1]
    assert cycle.time == at(closed + 5)
    assert cycle.bars[0]["time"] == at(closed - 300).isoformat()


# ---- modes ---------------------------------------------------------------------------------


async def test_validate_only_orders_carry_validate_true_and_nothing_is_placed(
    world: World,
) -> None:
    store = world.store()
    before = dict(world.kraken.balances)
    await world.run(
        Scripted(["0.5"]), "check", store, keys=True, every_s=60, max_cycles=3, validate=True
    )

    sent = world.kraken.calls("AddOrder")
    assert len(sent) == 2  # a buy each deciding cycle: nothing was ever held
    assert all(c.params["validate"] == "true" for c in sent)
    assert sent[0].params["cl_ord_id"] == key("check", 0)
    assert world.kraken.open_orders() == {}
    assert world.kraken.balances == before
    assert store.fills("check") == []
    assert {(o.status, "validate only" in o.reason) for o in store.orders("check")} == {
        ("canceled", True)
    }


async def test_live_trading_needs_keys_and_paper_wins_over_live(world: World) -> None:
    store = world.store()
    with pytest.raises(ConfigError, match="KRAKEN_API_KEY and KRAKEN_API_SECRET"):
        await world.run(
            Scripted(["0.5"]),
            "nokeys",
            store,
            keys=False,
            timeframe="1m",
            every_s=60,
            max_cycles=2,
            live=True,
        )
    assert store.run("nokeys") is None
    assert world.private_calls() == []

    assert kraken_mode(paper=True, live=True, has_keys=True) == "paper"
    assert kraken_mode(validate=True, live=True, has_keys=True) == "validate"
    assert kraken_mode(live=True, has_keys=True) == "live"
    await world.run(
        Scripted(["0.5"]), "both", store, keys=True, every_s=60, max_cycles=2, paper=True, live=True
    )
    assert world.kraken.calls("AddOrder") == []
    assert [f.price for f in store.fills("both")] == [ASK]


# ---- live: reconcile, lost replies, restarts -------------------------------------------------


async def live_run(world: World, store: Store, agent: Scripted, run_id: str = "live") -> LoopResult:
    return await world.run(agent, run_id, store, keys=True, every_s=60, max_cycles=3, live=True)


async def test_a_reconcile_mismatch_stops_the_run_before_it_trades(world: World) -> None:
    world.kraken.load_orders("private_OpenOrders_foreign", "open")
    store = world.store()
    with pytest.raises(ReconcileError, match=r"OQCLML-BW3P3-BUCMWZ .* tradepit did not place"):
        await live_run(world, store, Scripted(["0.5"]))
    assert world.kraken.calls("AddOrder") == []
    assert store.run("live") is None


async def test_a_live_order_is_placed_once_and_its_fill_lands_in_the_ledger(
    world: World,
) -> None:
    store = world.store()
    result = await live_run(world, store, Scripted(["0.5"]))

    [sent] = world.add_orders(key("live", 0))
    assert "validate" not in sent
    assert len(world.kraken.calls("AddOrder")) == 1  # held afterwards: no second order
    [fill] = store.fills("live")
    assert_booked_as_kraken_filled(fill, world.kraken_order(key("live", 0)))
    cycles = store.cycles("live")
    assert cycles[0].ledger["positions"] == {}  # placed in cycle 0, its fill polled in cycle 1
    assert cycles[1].ledger["positions"][BTC]["quantity"] == str(fill.quantity)
    assert result.replay is not None
    assert result.replay.final_cash == Decimal(10_000) - fill.quantity * fill.price - fill.fee


async def test_a_dropped_reply_leaves_the_order_unknown_until_the_next_cycle_finds_it(
    world: World,
) -> None:
    world.kraken.script("AddOrder", Drop())
    store = world.store()
    await live_run(world, store, Scripted(["0.5"]))

    assert len(world.add_orders(key("live", 0))) == 1  # found by query, never sent again
    queried = [c for c in world.kraken.calls("OpenOrders") if "cl_ord_id" in c.params]
    assert queried[0].params["cl_ord_id"] == key("live", 0)
    cycles = store.cycles("live")
    assert cycles[0].ledger["positions"] == {}  # unknown after cycle 0: nothing booked
    [fill] = store.fills("live")
    assert cycles[1].ledger["positions"][BTC]["quantity"] == str(fill.quantity)
    assert_booked_as_kraken_filled(fill, world.kraken_order(key("live", 0)))
    [order] = store.orders("live")
    assert order.status == "filled"


class CrashingStore(Store):
    """Dies while committing one cycle, after its orders reached Kraken: a killed process."""

    def __init__(self, url: str, crash_at: int) -> None:
        super().__init__(url)
        self.crash_at = crash_at

    def commit_cycle(self, run_id: str, cycle: int, *args: Any, **kwargs: Any) -> None:
        if cycle == self.crash_at:
            raise RuntimeError("killed before the commit")
        super().commit_cycle(run_id, cycle, *args, **kwargs)


async def test_a_restart_after_a_crash_does_not_send_an_order_twice(world: World) -> None:
    crashing = CrashingStore(f"sqlite:///{world.tmp / 'live.db'}", crash_at=0)
    with pytest.raises(RuntimeError, match="killed before the commit"):
        await live_run(world, crashing, Scripted(["0.5"]))
    crashing.close()
    assert len(world.add_orders(key("live", 0))) == 1
    assert world.kraken.open_orders() == {}  # filled at Kraken; the run never heard of it

    await world.time.sleep(30)  # the restart takes a while
    store = world.store()
    agent = Scripted(["0.5"])
    result = await resume_kraken_loop(agent, run_id="live", store=store, **world.ports())

    assert result.status == "finished"
    assert is_kraken_run(store, "live")
    assert len(world.kraken.calls("AddOrder")) == 1
    [fill] = store.fills("live")  # found by the start-up reconcile, committed with cycle 0
    assert fill.order_id == str(OrderId("live", 0, BTC))
    assert store.cycles("live")[0].ledger["positions"][BTC]["quantity"] == str(fill.quantity)

    # Resumed once more, the run is rebuilt from its stored fills, matching every cycle.
    again = await resume_kraken_loop(agent, run_id="live", store=store, **world.ports())
    assert again.replay is not None
    assert result.replay is not None
    assert again.replay.final_cash == result.replay.final_cash
    assert len(world.kraken.calls("AddOrder")) == 1


async def test_a_paper_run_resumes_after_a_crash_from_its_stored_fills(world: World) -> None:
    store = world.store()
    with pytest.raises(RuntimeError, match="killed"):
        await world.run(
            Scripted(["0.5", "0", "0.5", "0"], crash_at=2),
            "paper",
            store,
            keys=False,
            every_s=60,
            max_cycles=5,
        )
    assert [f.side for f in store.fills("paper")] == ["buy", "sell"]

    agent = Scripted(["0.5", "0", "0.5", "0"])
    ports = world.ports(keys=False)
    result = await resume_kraken_loop(agent, run_id="paper", store=store, **ports)

    assert (result.status, result.cycles) == ("finished", 5)
    assert agent.count == 4  # restored at 2, then decided cycles 2 and 3
    assert [f.side for f in store.fills("paper")] == ["buy", "sell", "buy", "sell"]


async def test_a_resume_stops_when_kraken_balances_moved_behind_the_runs_back(
    world: World,
) -> None:
    store = world.store()
    with pytest.raises(RuntimeError, match="killed"):
        # Cycle 1 polls the fill of cycle 0's order, then dies before storing it.
        await live_run(world, store, Scripted(["0.5"], crash_at=1))
    assert store.fills("live") == []
    world.kraken.balances["ZUSD"] -= Decimal(100)  # someone else spent from the account

    with pytest.raises(ReconcileError, match=r"USD: Kraken holds .*, expected "):
        await resume_kraken_loop(Scripted(["0.5"]), run_id="live", store=store, **world.ports())
    assert len(world.kraken.calls("AddOrder")) == 1
    assert len(store.cycles("live")) == 1  # nothing traded or committed

    # Put back, the run resumes, and the fill the crashed cycle polled is booked after all.
    world.kraken.balances["ZUSD"] += Decimal(100)
    agent = Scripted(["0.5"])
    result = await resume_kraken_loop(agent, run_id="live", store=store, **world.ports())
    assert result.status == "finished"
    [fill] = store.fills("live")
    assert_booked_as_kraken_filled(fill, world.kraken_order(key("live", 0)))
    assert len(world.kraken.calls("AddOrder")) == 1


async def test_the_key_and_secret_never_reach_the_database_events_or_logs(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    events: list[LoopEvent] = []
    world.kraken.script("AddOrder", Drop())
    store = world.store()
    await world.run(
        Scripted(["0.5", "0"]),
        "secret",
        store,
        keys=True,
        every_s=60,
        max_cycles=3,
        live=True,
        events=events.append,
    )
    world.kraken.load_orders("private_OpenOrders_foreign", "open")
    with pytest.raises(ReconcileError) as stopped:
        await live_run(world, store, Scripted(["0.5"]), run_id="second")
    store.close()

    assert "[redacted]" in caplog.text  # the wire log ran and had the key to hide
    texts = [caplog.text, str(stopped.value), *(repr(e) for e in events)]
    stored = [p.read_bytes() for p in [world.tmp / "live.db", *(world.tmp / "cache").iterdir()]]
    for secret in (API_KEY, SECRET):
        assert all(secret not in text for text in texts)
        assert all(secret.encode() not in data for data in stored)


async def test_a_new_run_will_not_trade_while_another_runs_order_is_still_working(
    world: World,
) -> None:
    crashing = CrashingStore(f"sqlite:///{world.tmp / 'live.db'}", crash_at=0)
    with pytest.raises(RuntimeError, match="killed before the commit"):
        await live_run(world, crashing, Scripted(["0.5"]), run_id="run-1")
    crashing.close()

    store = world.store()
    # "run-1-0-BTC/USD" starts like an order id of run "run"; it is still not one of them.
    with pytest.raises(ReconcileError, match=r"another run are still working: run-1-0-BTC/USD"):
        await live_run(world, store, Scripted(["0.5"]), run_id="run")
    assert len(world.kraken.calls("AddOrder")) == 1
    assert store.run("run") is None


async def test_kraken_requests_of_the_cycles_leave_the_event_loop_free(world: World) -> None:
    """A stop signal and the live view run on the event loop: the cycles' candle and order-book
    requests must not hold it while Kraken answers."""
    beats = [0]
    moved: dict[str, list[int]] = {"OHLC": [], "Depth": []}  # heartbeats during each request

    def slow(endpoint: str) -> Callable[[dict[str, str]], None]:
        def answer_slowly(params: dict[str, str]) -> None:
            before = beats[0]
            time.sleep(0.1)  # Kraken taking its time (the server thread; the client waits)
            moved[endpoint].append(beats[0] - before)

        return answer_slowly

    async def heartbeat() -> None:
        while True:
            beats[0] += 1
            await asyncio.sleep(0.005)

    for endpoint in moved:
        world.kraken.observers[endpoint] = slow(endpoint)
    beating = asyncio.create_task(heartbeat())
    try:
        result = await world.run(
            Scripted(["0.5", "0"]),  # a buy, filled on the book next cycle, then a sale
            "free",
            world.store(),
            keys=False,
            max_cycles=3,
        )
    finally:
        beating.cancel()
    assert result.status == "finished"
    # The run's set-up fetches history before the loop starts; the cycles' requests run on
    # worker threads, so the heartbeat goes on through them.
    assert any(moved["OHLC"]), moved
    assert moved["Depth"], "no order-book request was made"
    assert all(moved["Depth"]), moved
