"""Properties of the Kraken executor under any sequence of Kraken's order records, valid and
broken, with lost AddOrder answers, listings that lag and new orders in between: the ledger
never books beyond the order's size, never books a broken record (it raises
`VenueAnswerError` and nothing moves), the order, the journal and the ledger always agree, and
an order whose fate is unknown is never sent again, nor joined by a new order of its symbol."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from tests.fakes.kraken_server import Drop, FakeKraken, Reply, fake_kraken
from tests.trading.kraken.conftest import API_KEY, NOW, SECRET, at
from trading.clock import ReplayClock
from trading.domain import Order, OrderStatus, OrderType, Side
from trading.kraken import (
    Journal,
    KrakenClient,
    KrakenCredentials,
    KrakenExecutor,
    LookupGrace,
    OrderJournal,
    RetryPolicy,
    VenueAnswerError,
    client_order_id,
)
from trading.kraken.store import FINAL, JournalEntry
from trading.ledger import Ledger

BTC = "BTC/USD"
LOT = Decimal("0.0001")
CENTS = Decimal("0.00001")  # the places Kraken writes cost and fee to
CASH = Decimal(10000)
LIMITS = {Side.BUY: Decimal(29000), Side.SELL: Decimal(31000)}  # both rest on the fake's book
LISTED = ("open", "closed", "canceled", "expired")  # what OpenOrders and ClosedOrders show
RATES = [Decimal(0), Decimal("0.0016"), Decimal("0.0026"), Decimal("0.004")]
Draw = Callable[[st.SearchStrategy[Any]], Any]


@dataclass
class World:
    kraken: FakeKraken
    executor: KrakenExecutor
    ledger: Ledger
    clock: ReplayClock
    journal: OrderJournal
    side: Side

    def order(self, order_id: str, lots: int) -> Order:
        limit = LIMITS[self.side]
        return Order(
            order_id, BTC, self.side, lots * LOT, OrderType.LIMIT, at(NOW), limit_price=limit
        )

    def sent(self, order_id: str) -> int:
        """How many AddOrder requests carried this order's client order id."""
        cl_ord_id = client_order_id(order_id)
        return sum(r.params.get("cl_ord_id") == cl_ord_id for r in self.kraken.calls("AddOrder"))

    def booked(self) -> tuple[object, ...]:
        orders = sorted(self.executor.orders.values(), key=lambda o: o.id)
        entries = [(e.executed, e.cost, e.fee) for e in self.journal.entries()]
        return (
            self.ledger.cash,
            self.ledger.quantity(BTC),
            [o.filled_quantity for o in orders],
            entries,
        )


def valid_record(draw: Draw, entry: JournalEntry) -> dict[str, str]:
    """What Kraken may next say of the order: more of it executed inside its limit, or not."""
    left = int((entry.quantity - entry.executed) / LOT)
    lots = draw(st.integers(0, left))
    executed, cost, fee = entry.executed + lots * LOT, entry.cost, entry.fee
    if lots:
        inside = Decimal(draw(st.integers(0, 500))) / 10_000  # how far inside the limit
        side = Side(entry.side)
        price = (entry.limit_price or Decimal(0)) * (1 - side.sign * inside)
        added = (lots * LOT * price).quantize(CENTS)
        cost += added
        fee += (added * draw(st.sampled_from(RATES))).quantize(CENTS)
    if executed == entry.quantity:
        status = "closed"
    else:
        status = draw(st.sampled_from(["open", "open", "open", "canceled", "expired"]))
    return {
        "vol_exec": f"{executed:.8f}",
        "cost": f"{cost:.5f}",
        "fee": f"{fee:.5f}",
        "status": status,
    }


def broken_record(draw: Draw, entry: JournalEntry) -> dict[str, str]:
    """A record that breaks one rule of the books, on top of a valid one."""
    record = valid_record(draw, entry)
    left = entry.quantity - entry.executed
    rules = ["paid", "over", "status", "money-without-fill", "not-a-number"]
    rules += ["free", "beyond-limit", "fee-above-cost"] if left > 0 else []
    rules += ["falls"] if entry.executed > 0 else []
    rule = draw(st.sampled_from(rules))
    more = entry.executed + LOT
    limit = entry.limit_price or Decimal(0)
    if rule == "paid":
        record["fee"] = "-1000.00000"
    elif rule == "over":
        record["vol_exec"] = f"{entry.quantity + LOT:.8f}"
    elif rule == "status":
        record["status"] = "exploded"
    elif rule == "money-without-fill":
        record.update(vol_exec=f"{entry.executed:.8f}", cost=f"{entry.cost + 1:.5f}")
    elif rule == "not-a-number":
        record["vol_exec"] = draw(st.sampled_from(["lots", "NaN", "Infinity", ""]))
    elif rule == "free":
        record.update(vol_exec=f"{more:.8f}", cost=f"{entry.cost:.5f}", fee=f"{entry.fee:.5f}")
    elif rule == "beyond-limit":
        price = limit * 100 if entry.side == "buy" else limit / 100
        record.update(vol_exec=f"{more:.8f}", cost=f"{entry.cost + LOT * price:.5f}")
        record["fee"] = f"{entry.fee:.5f}"
    elif rule == "fee-above-cost":
        cost = entry.cost + LOT * limit
        record.update(vol_exec=f"{more:.8f}", cost=f"{cost:.5f}", fee=f"{cost + 1:.5f}")
    else:  # falls
        record["vol_exec"] = f"{entry.executed - LOT:.8f}"
    return record


def check_agreement(world: World) -> None:
    """The books hold exactly what the orders took, the orders what the journal holds, and
    no order beyond its size."""
    signed = Decimal(0)
    spent = Decimal(0)
    for order in world.executor.orders.values():
        assert order.filled_quantity <= order.quantity
        entry = world.journal.by_order_id(order.id)
        if entry is not None:
            assert entry.executed == order.filled_quantity
            spent += order.side.sign * entry.cost + entry.fee
        signed += order.side.sign * order.filled_quantity
    assert world.ledger.quantity(BTC) == signed
    assert abs(world.ledger.cash - (CASH - spent)) < Decimal("1e-12")
    for entry in world.journal.entries():
        assert world.sent(entry.order_id) <= 1  # never an order twice
        if entry.status.unresolved:
            assert world.sent(entry.order_id) == 1  # unknown, and sent exactly once


def poll_a_record(world: World, draw: Draw, txid: str) -> None:
    entry = world.journal.by_order_id("p0")
    assert entry is not None
    if entry.status in FINAL:
        return
    broken = draw(st.booleans())
    record = (broken_record if broken else valid_record)(draw, entry)
    world.kraken.orders[txid].update(record)
    lagging = entry.status.unresolved and draw(st.sampled_from([True, True, False]))
    if lagging:  # Kraken's listings lag its book: this lookup finds nothing
        world.kraken.script("OpenOrders", Reply("private_OpenOrders"))
        world.kraken.script("ClosedOrders", Reply("private_ClosedOrders_none"))
    # An unknown order is looked up in Kraken's listings, which show only the statuses they
    # know: one Kraken calls anything else is not found, so its record is never read.
    hidden = entry.status.unresolved and (lagging or record["status"] not in LISTED)
    before = world.booked()
    if broken and not hidden:
        with pytest.raises(VenueAnswerError) as refused:
            world.executor.poll()
        assert refused.value.order_id == "p0"
        assert world.booked() == before  # nothing of a broken record is booked
    else:
        world.executor.poll()  # a valid record (or one never read) is taken without a word


def submit_another(world: World, draw: Draw, order_id: str) -> None:
    unknown = [e for e in world.journal.entries([Journal.PENDING, Journal.UNKNOWN])]
    sent = len(world.kraken.calls("AddOrder"))
    placed = world.order(order_id, draw(st.integers(1, 50)))
    world.executor.submit(placed)
    if unknown:
        assert placed.status is OrderStatus.REJECTED
        assert len(world.kraken.calls("AddOrder")) == sent  # nothing new while one is unknown
    else:
        assert len(world.kraken.calls("AddOrder")) == sent + 1


def play(kraken: FakeKraken, client: KrakenClient, draw: Draw) -> None:
    clock = ReplayClock(at(NOW))
    journal = OrderJournal("sqlite://")
    ledger = Ledger(cash=CASH)
    grace = LookupGrace(lookups=2, seconds=30)
    executor = KrakenExecutor(client, journal, clock, live=True, ledger=ledger, grace=grace)
    world = World(kraken, executor, ledger, clock, journal, draw(st.sampled_from(list(Side))))
    if draw(st.booleans()):  # the AddOrder answer is lost; Kraken has the order
        kraken.script("AddOrder", Drop())
    executor.submit(world.order("p0", draw(st.integers(1, 500))))
    [txid] = [t for t, o in kraken.orders.items() if o.get("cl_ord_id") == client_order_id("p0")]
    for step in range(draw(st.integers(1, 12))):
        action = draw(st.sampled_from(["record", "record", "submit", "wait"]))
        if action == "record":
            poll_a_record(world, draw, txid)
        elif action == "submit":
            submit_another(world, draw, f"p{step + 1}")
        else:
            clock.advance_to(clock.now() + timedelta(seconds=draw(st.integers(1, 40))))
        check_agreement(world)
    journal.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_any_sequence_of_order_records_books_only_valid_fills_within_the_order(
    data: st.DataObject,
) -> None:
    credentials = KrakenCredentials(api_key=SecretStr(API_KEY), api_secret=SecretStr(SECRET))
    with fake_kraken(NOW) as kraken:
        kraken.add_key(API_KEY, SECRET)
        client = KrakenClient(
            base_url=kraken.url,
            credentials=credentials,
            rate_limit=False,
            retry=RetryPolicy(attempts=1),
            sleep=lambda _: None,
        )
        try:
            play(kraken, client, data.draw)
        finally:
            client.close()
        assert not kraken.errors, kraken.errors
