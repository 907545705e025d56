"""The Kraken executor: validate-only by default, never an order twice, unknown outcomes
resolved by query, refusals as rejections, reconcile before trading."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.fakes.kraken_server import Drop, FakeKraken, Garbled, Hang, Reply
from tests.trading.kraken.conftest import API_KEY, NOW, WRONG_SECRET, ClientFactory, at
from trading.clock import ReplayClock
from trading.domain import (
    Bar,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    Side,
)
from trading.errors import ConfigError, FatalError
from trading.kraken import (
    Booked,
    Journal,
    KrakenAuthError,
    KrakenCredentials,
    KrakenExecutor,
    KrakenRateLimited,
    LookupGrace,
    OrderJournal,
    ReconcileError,
    VenueAnswerError,
    client_order_id,
)
from trading.ledger import Ledger


def order(
    order_id: str = "o1",
    side: Side = Side.BUY,
    quantity: str = "0.01",
    limit: str | None = "29000",
) -> Order:
    return Order(
        order_id,
        "BTC/USD",
        side,
        Decimal(quantity),
        OrderType.LIMIT if limit else OrderType.MARKET,
        at(NOW),
        limit_price=Decimal(limit) if limit else None,
    )


def executed(vol_exec: str, cost: str, fee: str) -> dict[str, str]:
    """What an order record says was executed: its volume, cost and fee."""
    return {"vol_exec": vol_exec, "cost": cost, "fee": fee}


@pytest.fixture
def journal() -> OrderJournal:
    return OrderJournal("sqlite://")


@pytest.fixture
def executor(
    make_client: ClientFactory,
    credentials: KrakenCredentials,
    journal: OrderJournal,
    clock: ReplayClock,
) -> KrakenExecutor:
    return KrakenExecutor(make_client(credentials), journal, clock, live=True)


@pytest.fixture
def validating(
    make_client: ClientFactory,
    credentials: KrakenCredentials,
    journal: OrderJournal,
    clock: ReplayClock,
) -> KrakenExecutor:
    """An executor without the live flag: it only validates orders."""
    return KrakenExecutor(make_client(credentials), journal, clock)


Restart = Callable[..., KrakenExecutor]


@pytest.fixture
def restart(
    executor: KrakenExecutor,
    make_client: ClientFactory,
    credentials: KrakenCredentials,
    clock: ReplayClock,
) -> Restart:
    """What a fresh process builds: a live executor with a new client on `executor`'s journal."""

    def restarted(ledger: Ledger | None = None) -> KrakenExecutor:
        client = make_client(credentials)
        return KrakenExecutor(client, executor.journal, clock, live=True, ledger=ledger)

    return restarted


def with_ledger(executor: KrakenExecutor) -> Ledger:
    """A ledger of 10,000 USD that `executor` books its fills in."""
    executor.ledger = Ledger(cash=Decimal(10000))
    return executor.ledger


def kinds(events: Sequence[object]) -> list[type]:
    return [type(e) for e in events]


# ---- live only on request ----------------------------------------------------------------------


def test_by_default_orders_are_only_validated_and_nothing_is_placed(
    kraken: FakeKraken, validating: KrakenExecutor, journal: OrderJournal
) -> None:
    placed = order()
    events = validating.submit(placed)

    assert kinds(events) == [OrderSubmitted, OrderAccepted, OrderCanceled]
    assert "validate only" in placed.reason
    assert "nothing was placed" in placed.reason
    [request] = kraken.calls("AddOrder")
    assert request.params["validate"] == "true"
    assert kraken.open_orders() == {}
    assert journal.entries()[0].status is Journal.VALIDATED


def test_a_validate_only_order_without_an_answer_is_rejected_since_nothing_can_be_placed(
    kraken: FakeKraken, validating: KrakenExecutor, journal: OrderJournal
) -> None:
    kraken.script("AddOrder", Drop())
    placed = order()
    validating.submit(placed)
    assert placed.status is OrderStatus.REJECTED
    assert "nothing was placed" in placed.reason
    assert journal.entries()[0].status is Journal.REJECTED


def test_live_trading_without_keys_is_refused_at_construction(
    make_client: ClientFactory, journal: OrderJournal, clock: ReplayClock
) -> None:
    with pytest.raises(ConfigError, match="KRAKEN_API_KEY and KRAKEN_API_SECRET for live"):
        KrakenExecutor(make_client(), journal, clock, live=True)
    with pytest.raises(ConfigError, match="even to validate"):
        KrakenExecutor(make_client(), journal, clock)


def test_with_the_live_flag_and_keys_the_order_is_placed(
    kraken: FakeKraken, executor: KrakenExecutor
) -> None:
    placed = order()
    assert kinds(executor.submit(placed)) == [OrderSubmitted, OrderAccepted]
    [request] = kraken.calls("AddOrder")
    assert "validate" not in request.params
    assert request.params["cl_ord_id"] == client_order_id("o1")
    assert list(kraken.open_orders()) == [executor.journal.entries()[0].txid]
    assert executor.open_orders() == [placed]


# ---- never twice -------------------------------------------------------------------------------


def test_the_client_order_id_is_journalled_before_kraken_hears_of_the_order(
    kraken: FakeKraken,
    make_client: ClientFactory,
    credentials: KrakenCredentials,
    clock: ReplayClock,
    tmp_path: Path,
) -> None:
    journal = OrderJournal(f"sqlite:///{tmp_path / 'live.db'}")
    seen: list[Journal | None] = []

    def on_add_order(params: dict[str, str]) -> None:
        entry = OrderJournal(f"sqlite:///{tmp_path / 'live.db'}").get(params["cl_ord_id"])
        seen.append(entry.status if entry else None)

    kraken.observers["AddOrder"] = on_add_order
    KrakenExecutor(make_client(credentials), journal, clock, live=True).submit(order())
    assert seen == [Journal.PENDING]


def test_submitting_the_same_order_again_sends_nothing(
    kraken: FakeKraken, executor: KrakenExecutor
) -> None:
    placed = order()
    executor.submit(placed)
    assert executor.submit(placed) == []
    assert executor.submit(order()) == []  # a fresh object with the same id, too
    assert len(kraken.calls("AddOrder")) == 1


def test_a_lost_reply_leaves_the_order_unknown_until_a_query_finds_it(
    kraken: FakeKraken, executor: KrakenExecutor
) -> None:
    kraken.script("AddOrder", Drop())
    placed = order()

    assert kinds(executor.submit(placed)) == [OrderSubmitted]
    assert placed.status is OrderStatus.SUBMITTED
    assert executor.journal.entries()[0].status is Journal.UNKNOWN

    assert kinds(executor.poll()) == [OrderAccepted]
    assert placed.status is OrderStatus.ACCEPTED
    [query] = kraken.calls("OpenOrders")
    assert query.params["cl_ord_id"] == client_order_id("o1")
    assert len(kraken.calls("AddOrder")) == 1  # resolved by asking, never by resending


def test_a_lost_reply_to_a_market_order_is_found_among_the_closed_orders_with_its_fill(
    kraken: FakeKraken, executor: KrakenExecutor
) -> None:
    kraken.script("AddOrder", Drop())
    placed = order(limit=None)
    executor.submit(placed)

    events = executor.poll()

    assert kinds(events) == [OrderAccepted, OrderFilled]
    assert placed.status is OrderStatus.FILLED
    assert placed.average_fill_price == Decimal("30300.1")  # the ask
    assert kraken.calls("ClosedOrders")[0].params["cl_ord_id"] == client_order_id("o1")
    assert len(kraken.calls("AddOrder")) == 1


def not_listed_yet(kraken: FakeKraken, lookups: int = 1) -> None:
    """Kraken's listings lag its book: the next `lookups` open/closed queries find nothing."""
    kraken.script("OpenOrders", *[Reply("private_OpenOrders")] * lookups)
    kraken.script("ClosedOrders", *[Reply("private_ClosedOrders_none")] * lookups)


def test_an_unknown_order_not_listed_yet_stays_unknown_and_blocks_its_symbol_until_found(
    kraken: FakeKraken, executor: KrakenExecutor
) -> None:
    ledger = with_ledger(executor)
    kraken.script("AddOrder", Drop())
    placed = order(limit=None)  # Kraken fills it at once; its answer is lost
    executor.submit(placed)
    not_listed_yet(kraken)

    assert executor.poll() == []
    assert placed.status is OrderStatus.SUBMITTED
    assert executor.journal.entries()[0].status is Journal.UNKNOWN

    again = order("o2", limit=None)
    assert kinds(executor.submit(again)) == [OrderSubmitted, OrderRejected]
    assert "'o1' for BTC/USD is unknown at Kraken" in again.reason
    assert len(kraken.calls("AddOrder")) == 1
    assert executor.journal.by_order_id("o2") is None  # never sent, so never journalled

    assert kinds(executor.poll()) == [OrderAccepted, OrderFilled]
    assert ledger.quantity("BTC/USD") == Decimal("0.01")
    assert kinds(executor.submit(order("o3", limit=None))) == [OrderSubmitted, OrderAccepted]
    assert len(kraken.calls("AddOrder")) == 2


def test_an_unknown_order_is_concluded_never_placed_only_after_lookups_over_the_grace_period(
    kraken: FakeKraken,
    make_client: ClientFactory,
    credentials: KrakenCredentials,
    journal: OrderJournal,
    clock: ReplayClock,
) -> None:
    kraken.script("AddOrder", Hang())
    client = make_client(credentials, timeout_s=0.2)
    grace = LookupGrace(lookups=3, seconds=60)
    executor = KrakenExecutor(client, journal, clock, live=True, grace=grace)
    placed = order()
    executor.submit(placed)
    assert journal.entries()[0].status is Journal.UNKNOWN

    for seconds in (0, 30, 40):  # three lookups, but only 40 s after AddOrder went out
        clock.advance_to(at(NOW + seconds))
        assert executor.poll() == []
        assert placed.status is OrderStatus.SUBMITTED
    with pytest.raises(ReconcileError, match=r"'o1' .* is unknown: .* 4 lookup\(s\)"):
        executor.reconcile()

    clock.advance_to(at(NOW + 60))
    assert kinds(executor.poll()) == [OrderRejected]
    assert "not found in 5 lookups over 60s: it was never placed" in placed.reason
    assert journal.entries()[0].status is Journal.REJECTED
    assert len(kraken.calls("OpenOrders")) == 6  # five lookups and the reconcile's listing
    assert len(kraken.calls("AddOrder")) == 1


def test_reconcile_names_an_unknown_order_kraken_filled_and_the_balance_it_moved(
    kraken: FakeKraken, executor: KrakenExecutor
) -> None:
    kraken.script("AddOrder", Drop())
    executor.submit(order(limit=None))
    not_listed_yet(kraken)
    with pytest.raises(ReconcileError) as stopped:
        executor.reconcile({"BTC": Decimal("0.5"), "USD": Decimal(10000)})
    assert "'o1'" in str(stopped.value)
    assert "is unknown" in str(stopped.value)
    assert "BTC: Kraken holds 0.5100000000, expected 0.5" in str(stopped.value)


# Answers that cannot be read in any mode, and those only a live order's cannot (a
# validate-only answer has no txid).
UNREADABLE = [
    pytest.param('{"error": [], "result": {"descr": {"order": "buy 0.01000000 XB', id="cut-short"),
    pytest.param("", id="empty"),
    pytest.param('{"error": []}', id="no-result"),
    pytest.param('{"error": [], "result": "placed"}', id="result-no-object"),
]
UNREADABLE_ADD_ORDER = [
    *UNREADABLE,
    pytest.param('{"error": [], "result": {"descr": {"order": "buy"}}}', id="no-txid"),
    pytest.param('{"error": [], "result": {"txid": []}}', id="empty-txid"),
    pytest.param('{"error": [], "result": {"txid": [7]}}', id="txid-no-text"),
]


@pytest.mark.parametrize("body", UNREADABLE_ADD_ORDER)
def test_an_addorder_answer_that_cannot_be_read_leaves_a_live_order_unknown(
    kraken: FakeKraken, executor: KrakenExecutor, body: str
) -> None:
    kraken.script("AddOrder", Garbled(body))
    placed = order()

    assert kinds(executor.submit(placed)) == [OrderSubmitted]
    entry = executor.journal.entries()[0]
    assert entry.status is Journal.UNKNOWN
    assert "outcome unknown" in entry.reason

    assert kinds(executor.poll()) == [OrderAccepted]  # Kraken placed it: found by asking
    assert len(kraken.calls("AddOrder")) == 1


@pytest.mark.parametrize("body", UNREADABLE)
def test_an_addorder_answer_that_cannot_be_read_rejects_a_validate_only_order(
    kraken: FakeKraken, validating: KrakenExecutor, journal: OrderJournal, body: str
) -> None:
    kraken.script("AddOrder", Garbled(body))
    placed = order()
    events = validating.submit(placed)
    assert kinds(events) == [OrderSubmitted, OrderRejected]
    assert "nothing was placed" in placed.reason
    assert journal.entries()[0].status is Journal.REJECTED


def test_a_read_whose_answer_cannot_be_read_is_retried(
    kraken: FakeKraken, executor: KrakenExecutor, sleeps: list[float]
) -> None:
    kraken.script("Balance", Garbled('{"error": [], "resu'))
    assert executor.client.private("Balance")["ZUSD"] == "10000.0000"
    assert sleeps == [1.0]


def test_an_unknown_order_left_by_a_crash_is_resolved_on_restart(
    kraken: FakeKraken, executor: KrakenExecutor, restart: Restart
) -> None:
    kraken.script("AddOrder", Drop())
    executor.submit(order())
    restarted = restart()

    [restored] = restarted.open_orders()
    assert restored.id == "o1"
    assert restored.status is OrderStatus.SUBMITTED
    report = restarted.reconcile()
    assert kinds(report.events) == [OrderAccepted]
    assert len(kraken.calls("AddOrder")) == 1


# ---- refusals ----------------------------------------------------------------------------------


def test_insufficient_funds_is_a_rejection_with_krakens_reason(
    kraken: FakeKraken, executor: KrakenExecutor
) -> None:
    placed = order(quantity="1", limit="30000")  # 30,000 USD against 10,000
    assert kinds(executor.submit(placed)) == [OrderSubmitted, OrderRejected]
    assert "EOrder:Insufficient funds" in placed.reason
    assert executor.journal.entries()[0].status is Journal.REJECTED
    assert kraken.open_orders() == {}


def test_an_order_below_krakens_minimum_is_rejected_as_invalid(
    executor: KrakenExecutor,
) -> None:
    placed = order(quantity="0.00001")
    executor.submit(placed)
    assert placed.status is OrderStatus.REJECTED
    assert "EOrder:Order minimum not met" in placed.reason


def test_a_rate_limited_order_is_rejected_and_not_retried(
    kraken: FakeKraken, executor: KrakenExecutor, sleeps: list[float]
) -> None:
    kraken.script("AddOrder", Reply("error_rate_limit"))
    placed = order()
    executor.submit(placed)
    assert placed.status is OrderStatus.REJECTED
    assert "EAPI:Rate limit exceeded" in placed.reason
    assert len(kraken.calls("AddOrder")) == 1
    assert sleeps == []


def test_an_authentication_error_stops_the_run(
    kraken: FakeKraken, make_client: ClientFactory, journal: OrderJournal, clock: ReplayClock
) -> None:
    wrong = KrakenCredentials(api_key=SecretStr(API_KEY), api_secret=SecretStr(WRONG_SECRET))
    executor = KrakenExecutor(make_client(wrong), journal, clock, live=True)
    placed = order()
    with pytest.raises(KrakenAuthError, match="EAPI:Invalid signature") as raised:
        executor.submit(placed)
    assert isinstance(raised.value, FatalError)
    assert placed.status is OrderStatus.REJECTED
    assert journal.entries()[0].status is Journal.REJECTED


def test_an_authentication_error_on_a_read_is_fatal_and_not_retried(
    make_client: ClientFactory, journal: OrderJournal, clock: ReplayClock, sleeps: list[float]
) -> None:
    unknown = KrakenCredentials(api_key=SecretStr("not-a-key"), api_secret=SecretStr(WRONG_SECRET))
    executor = KrakenExecutor(make_client(unknown), journal, clock, live=True)
    with pytest.raises(KrakenAuthError, match="EAPI:Invalid key"):
        executor.reconcile()
    assert sleeps == []


# ---- reads and cancels retry -------------------------------------------------------------------


def test_rate_limited_reads_wait_with_backoff_then_succeed(
    kraken: FakeKraken, executor: KrakenExecutor, sleeps: list[float]
) -> None:
    kraken.script("OpenOrders", Reply("error_rate_limit"), Reply("error_rate_limit"))
    kraken.script("Balance", Reply("error_rate_limit"))
    report = executor.reconcile()
    assert report.balances["USD"] == Decimal("10000.0000")
    assert sleeps == [1.0, 2.0, 1.0]


def test_reads_give_up_after_the_last_attempt(
    kraken: FakeKraken, executor: KrakenExecutor, sleeps: list[float]
) -> None:
    kraken.script("Balance", *[Reply("error_rate_limit")] * 4)
    with pytest.raises(KrakenRateLimited):
        executor.client.private("Balance")
    assert sleeps == [1.0, 2.0, 4.0]


def test_a_cancel_is_retried_when_kraken_is_unavailable(
    kraken: FakeKraken, executor: KrakenExecutor, sleeps: list[float]
) -> None:
    placed = order()
    executor.submit(placed)
    kraken.script("CancelOrder", Reply("error_service_unavailable"))

    events = executor.cancel("o1", "the agent changed its mind")

    assert kinds(events) == [OrderCanceled]
    assert placed.reason == "the agent changed its mind"
    assert sleeps == [1.0]
    assert kraken.open_orders() == {}
    assert executor.cancel("o1", "again") == []


# ---- fills ---------------------------------------------------------------------------------------


def test_fills_are_reported_once_each_and_survive_a_restart(
    kraken: FakeKraken, executor: KrakenExecutor, restart: Restart
) -> None:
    ledger = with_ledger(executor)
    placed = order()
    executor.submit(placed)
    [txid] = kraken.open_orders()

    kraken.fill(txid, "0.004")
    [fill] = executor.poll()
    assert isinstance(fill, OrderFilled)
    assert (fill.quantity, fill.price, fill.fee) == (
        Decimal("0.004"),
        Decimal("29000"),
        Decimal("0.29"),
    )
    assert executor.poll() == []
    assert ledger.quantity("BTC/USD") == Decimal("0.004")

    restarted = restart()
    [restored] = restarted.open_orders()
    assert restored.filled_quantity == Decimal("0.004")
    kraken.fill(txid)
    events = restarted.poll()
    assert kinds(events) == [OrderFilled]
    assert restored.status is OrderStatus.FILLED
    assert restarted.journal.entries()[0].status is Journal.CLOSED


# ---- reconcile -----------------------------------------------------------------------------------


def test_reconcile_passes_when_kraken_and_the_journal_agree(executor: KrakenExecutor) -> None:
    executor.submit(order())
    report = executor.reconcile({"USD": Decimal("10000"), "BTC": Decimal("0.5")})
    assert report.open_orders == 1
    assert report.problems == ()


def test_reconcile_stops_on_an_open_order_tradepit_did_not_place(
    kraken: FakeKraken, executor: KrakenExecutor
) -> None:
    kraken.load_orders("private_OpenOrders_foreign", "open")
    with pytest.raises(ReconcileError, match=r"OQCLML-BW3P3-BUCMWZ .* tradepit did not place"):
        executor.reconcile()


def test_reconcile_stops_when_balances_differ_from_the_expected(
    executor: KrakenExecutor,
) -> None:
    with pytest.raises(ReconcileError, match=r"USD: Kraken holds 10000.0000, expected 9000"):
        executor.reconcile({"USD": Decimal(9000)})


def test_reconcile_stops_when_the_journal_holds_an_order_kraken_does_not(
    kraken: FakeKraken, executor: KrakenExecutor
) -> None:
    executor.submit(order())
    kraken.orders.clear()
    with pytest.raises(ReconcileError, match="the journal has 'o1'"):
        executor.reconcile()


# ---- the trading loop's cues -------------------------------------------------------------------


def test_a_closed_bar_polls_only_that_symbols_orders(
    kraken: FakeKraken, executor: KrakenExecutor
) -> None:
    placed = order()
    executor.submit(placed)
    [txid] = kraken.open_orders()
    kraken.fill(txid)
    eth = Bar("ETH/USD", at(NOW), at(NOW + 60), *[Decimal(1)] * 5)
    assert executor.process_bars([eth]) == []
    assert kraken.calls("QueryOrders") == []
    btc = Bar("BTC/USD", at(NOW), at(NOW + 60), *[Decimal(1)] * 5)
    assert kinds(executor.process_bars([btc])) == [OrderFilled]
    assert placed.status is OrderStatus.FILLED


def test_fills_reported_but_never_booked_are_made_up_once_from_the_journal(
    kraken: FakeKraken, executor: KrakenExecutor, restart: Restart
) -> None:
    executor.submit(order())
    [txid] = kraken.open_orders()
    kraken.fill(txid, "0.004")
    [first] = executor.poll()  # booked by the caller
    kraken.fill(txid)
    executor.poll()  # reported, then the process died before booking it
    assert isinstance(first, OrderFilled)

    ledger = Ledger(cash=Decimal(10000))
    restarted = restart(ledger)
    booked = {"o1": Booked(first.quantity, first.quantity * first.price, first.fee)}
    events = restarted.unbooked(booked, lambda order_id: order_id == "o1")

    [fill] = events
    assert isinstance(fill, OrderFilled)
    assert (fill.quantity, fill.price, fill.fee) == (
        Decimal("0.006"),
        Decimal(29000),
        Decimal("0.435"),
    )
    assert ledger.quantity("BTC/USD") == Decimal("0.006")
    assert restarted.orders["o1"].status is OrderStatus.FILLED
    assert restarted.unbooked(booked, lambda order_id: False) == []
    assert restarted.poll() == []


# ---- the order and the ledger move together ----------------------------------------------------


def test_a_fill_the_order_cannot_take_books_nothing_on_any_poll(
    kraken: FakeKraken, executor: KrakenExecutor
) -> None:
    ledger = with_ledger(executor)
    placed = order()  # 0.01 BTC
    executor.submit(placed)
    [txid] = kraken.open_orders()
    kraken.orders[txid].update(executed("0.02000000", "580.00000", "1.45000"))

    for _ in range(3):
        with pytest.raises(FatalError):
            executor.poll()
        assert ledger.quantity("BTC/USD") == 0
        assert ledger.cash == Decimal(10000)
        assert placed.filled_quantity == 0
        assert executor.journal.entries()[0].executed == 0


def test_a_made_up_fill_the_order_cannot_take_books_nothing(
    kraken: FakeKraken, executor: KrakenExecutor, restart: Restart
) -> None:
    executor.submit(order())
    entry = executor.journal.entries()[0]
    # A journal that says twice the order's size was executed (written before payloads were
    # checked): the order can never take it, so the ledger must not either.
    executor.journal.update(
        entry.client_order_id,
        at(NOW),
        status=Journal.CLOSED,
        executed=Decimal("0.02"),
        cost=Decimal(580),
        fee=Decimal("1.45"),
    )
    ledger = Ledger(cash=Decimal(10000))
    restarted = restart(ledger)
    with pytest.raises(FatalError):
        restarted.unbooked({}, lambda order_id: True)
    assert ledger.quantity("BTC/USD") == 0
    assert ledger.cash == Decimal(10000)


# ---- Kraken's answers are checked before anything is booked -------------------------------------


BROKEN_RECORDS = [
    pytest.param(executed("0.01000000", "0.00000", "0.00000"), "cost", id="free"),
    # 0.006 more BTC for the 116 USD the first 0.004 cost
    pytest.param(executed("0.01000000", "116.00000", "0.29000"), "cost", id="free-more"),
    pytest.param(executed("0.01000000", "290.00000", "-1000.00000"), "fee", id="paid"),
    # 0.01 BTC for 29,000 USD: 2,900,000 a bitcoin against a buy limit of 29,000
    pytest.param(executed("0.01000000", "29000.00000", "72.50000"), "cost", id="beyond-limit"),
    pytest.param(executed("0.02000000", "580.00000", "1.45000"), "vol_exec", id="over"),
    pytest.param(executed("0.00200000", "58.00000", "0.14500"), "vol_exec", id="falls"),
    pytest.param({"status": "exploded"}, "status", id="status"),
    pytest.param({"fee": "NaN"}, "fee", id="nan"),
]


@pytest.mark.parametrize(("record", "field"), BROKEN_RECORDS)
def test_an_order_record_that_breaks_a_rule_stops_the_run_and_books_nothing(
    kraken: FakeKraken, executor: KrakenExecutor, record: dict[str, str], field: str
) -> None:
    ledger = with_ledger(executor)
    placed = order()  # buy 0.01 BTC, limit 29,000
    executor.submit(placed)
    [txid] = kraken.open_orders()
    kraken.fill(txid, "0.004")
    executor.poll()  # a first fill, booked: what the journal holds before the broken answer
    before = (ledger.cash, ledger.quantity("BTC/USD"), placed.filled_quantity)
    entry_before = executor.journal.entries()[0]

    kraken.orders[txid].update(record)
    with pytest.raises(VenueAnswerError) as stopped:
        executor.poll()

    error = stopped.value
    assert isinstance(error, FatalError)
    assert (error.order_id, error.field) == ("o1", field)
    assert f"order 'o1' ({txid})" in str(error)
    assert f"{field}={kraken.orders[txid][field]!r}" in str(error)
    assert (ledger.cash, ledger.quantity("BTC/USD"), placed.filled_quantity) == before
    assert executor.journal.entries()[0] == entry_before


def test_a_fill_a_rounding_past_its_limit_is_booked(
    kraken: FakeKraken, executor: KrakenExecutor
) -> None:
    placed = order(quantity="0.00012345")
    executor.submit(placed)
    [txid] = kraken.open_orders()
    # 0.00012345 x 29,000 is 3.58005; Kraken rounds the cost up in its last place.
    kraken.orders[txid].update(
        vol_exec="0.00012345", cost="3.58006", fee="0.00895", status="closed"
    )
    [fill] = executor.poll()
    assert isinstance(fill, OrderFilled)
    assert fill.price == Decimal("3.58006") / Decimal("0.00012345")
    assert placed.status is OrderStatus.FILLED


def test_a_sell_filled_below_its_limit_stops_the_run(
    kraken: FakeKraken, executor: KrakenExecutor
) -> None:
    placed = order(side=Side.SELL, quantity="0.01", limit="31000")
    executor.submit(placed)
    [txid] = kraken.open_orders()
    kraken.orders[txid].update(vol_exec="0.01000000", cost="290.00000", fee="0.72500")
    with pytest.raises(VenueAnswerError, match="below the sell limit 31000"):
        executor.poll()
    assert placed.filled_quantity == 0
