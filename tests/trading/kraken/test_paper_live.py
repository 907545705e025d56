"""Paper trading on Kraken's live book: buys at the asks, sells at the bids, walking the book,
with Kraken's fees."""

from __future__ import annotations

from decimal import Decimal

from tests.fakes.kraken_server import FakeKraken
from tests.trading.kraken.conftest import NOW, ClientFactory, at
from trading.clock import ReplayClock
from trading.domain import (
    Bar,
    Instrument,
    Liquidity,
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
from trading.kraken import (
    BookLevel,
    BookPaperExecutor,
    KrakenMarketData,
    OrderBook,
    kraken_costs,
    walk_book,
)
from trading.ledger import Ledger
from trading.risk import RiskGate, RiskLimits

D = Decimal


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> OrderBook:
    def levels(rows: list[tuple[str, str]]) -> tuple[BookLevel, ...]:
        return tuple(BookLevel(D(p), D(q)) for p, q in rows)

    return OrderBook("BTC/USD", at(NOW), levels(bids), levels(asks))


class Books:
    def __init__(self, current: OrderBook) -> None:
        self.current = current

    def order_book(self, symbol: str, depth: int = 25) -> OrderBook:
        return self.current


BOOK = book(
    bids=[("100", "1"), ("99", "2"), ("98", "5")], asks=[("101", "1"), ("102", "2"), ("105", "5")]
)


def order(side: Side, quantity: str, limit: str | None = None, order_id: str = "p1") -> Order:
    kind = OrderType.LIMIT if limit else OrderType.MARKET
    return Order(
        order_id,
        "BTC/USD",
        side,
        D(quantity),
        kind,
        at(NOW),
        limit_price=D(limit) if limit else None,
    )


def paper(
    current: OrderBook = BOOK, cash: str = "10000"
) -> tuple[BookPaperExecutor, Ledger, Books]:
    ledger = Ledger(cash=D(cash))
    books = Books(current)
    lots = lambda symbol: Instrument(symbol, quantity_increment=D("0.0001"))  # noqa: E731
    return (
        BookPaperExecutor(ledger, books, ReplayClock(at(NOW)), instrument_for=lots),
        ledger,
        books,
    )


def test_kraken_fees_default_to_the_lowest_tier_maker_and_taker_rates() -> None:
    costs = kraken_costs()
    assert (costs.maker_fee_bps, costs.taker_fee_bps) == (D(25), D(40))


def test_walking_the_book_takes_each_level_at_its_own_price() -> None:
    walk = walk_book(BOOK.asks, Side.BUY, D("2.5"))
    assert (walk.filled, walk.notional, walk.worst_price) == (D("2.5"), D("254"), D("102"))
    assert walk_book(BOOK.bids, Side.SELL, D("2"), limit=D("99.5")).filled == D(1)


def test_a_market_buy_fills_at_the_asks_walking_the_book_and_pays_the_taker_fee() -> None:
    executor, ledger, _ = paper()
    placed = order(Side.BUY, "2.5")
    events = executor.submit(placed)

    assert [type(e) for e in events] == [OrderSubmitted, OrderAccepted, OrderFilled]
    fill = events[-1]
    assert isinstance(fill, OrderFilled)
    assert (fill.price, fill.fee, fill.liquidity) == (D("101.6"), D("1.016"), Liquidity.TAKER)
    assert ledger.cash == D("10000") - D("254") - D("1.016")
    assert placed.status is OrderStatus.FILLED


def test_a_market_sell_fills_at_the_bids() -> None:
    executor, _, _ = paper()
    executor.submit(order(Side.BUY, "1", order_id="b"))
    sold = order(Side.SELL, "1", order_id="s")
    executor.submit(sold)
    assert sold.average_fill_price == D("100")


def test_a_market_order_larger_than_the_book_fills_what_is_there_and_cancels_the_rest() -> None:
    executor, _, _ = paper(cash="100000")
    placed = order(Side.BUY, "10")
    events = executor.submit(placed)
    assert [type(e) for e in events][-2:] == [OrderFilled, OrderCanceled]
    assert placed.filled_quantity == D(8)
    assert "holds only 8" in placed.reason


def test_a_resting_limit_order_fills_at_its_limit_as_maker_once_the_book_trades_through() -> None:
    executor, _, books = paper()
    placed = order(Side.BUY, "1", limit="100.5")
    assert [type(e) for e in executor.submit(placed)] == [OrderSubmitted, OrderAccepted]

    later = book(bids=[("99", "1")], asks=[("100", "0.4"), ("100.5", "3")])
    books.current = later
    [fill] = executor.process_book(later)
    assert isinstance(fill, OrderFilled)
    assert (fill.quantity, fill.price, fill.liquidity) == (D(1), D("100.5"), Liquidity.MAKER)
    assert fill.fee == D("100.5") * D(25) / D(10000)


class CountingBooks(Books):
    def __init__(self, current: OrderBook) -> None:
        super().__init__(current)
        self.asked = 0

    def order_book(self, symbol: str, depth: int = 25) -> OrderBook:
        self.asked += 1
        return self.current


def test_a_closed_bar_fills_resting_limits_on_the_book_and_reads_no_book_without_one() -> None:
    books = CountingBooks(BOOK)
    executor = BookPaperExecutor(Ledger(cash=D(10000)), books, ReplayClock(at(NOW)))
    bar = Bar("BTC/USD", at(NOW), at(NOW + 60), D(100), D(101), D(99), D(100), D(1))
    assert executor.process_bars([bar]) == []
    assert books.asked == 0  # nothing resting: the loop's cue costs no request

    executor.submit(order(Side.BUY, "1", limit="100.5"))
    books.current = book(bids=[("99", "1")], asks=[("100", "0.4"), ("100.5", "3")])
    [fill] = executor.process_bars([bar])
    assert isinstance(fill, OrderFilled)
    assert (fill.price, fill.liquidity) == (D("100.5"), Liquidity.MAKER)
    other = Bar("ETH/USD", at(NOW), at(NOW + 60), D(1), D(1), D(1), D(1), D(1))
    asked = books.asked
    assert executor.process_bars([other]) == []
    assert books.asked == asked


def test_an_order_the_cash_cannot_pay_for_is_rejected_with_the_ledgers_reason() -> None:
    executor, _, _ = paper(cash="50")
    placed = order(Side.BUY, "1")
    events = executor.submit(placed)
    assert isinstance(events[-1], OrderRejected)
    assert "insufficient cash" in placed.reason


def test_paper_fills_come_from_krakens_live_book(
    kraken: FakeKraken, make_client: ClientFactory, clock: ReplayClock
) -> None:
    ledger = Ledger(cash=D(100000))
    data = KrakenMarketData(make_client(), clock)
    pair = data.client.pair("BTC/USD")
    executor = BookPaperExecutor(
        ledger, data, clock, kraken_costs(pair), instrument_for=lambda s: pair.instrument()
    )
    placed = order(Side.BUY, "1")
    executor.submit(placed)
    assert placed.average_fill_price == (D("0.5") * D("30300.1") + D("0.5") * D("30301"))
    assert kraken.calls("AddOrder") == []  # paper: nothing reaches the exchange


def test_a_book_walked_above_the_reviewed_price_is_held_to_the_limits_at_fill() -> None:
    # Reviewed at a last close of 100 under a 200 notional cap: 2 units. The book's asks are at
    # 101 and 102, so at the price paid only 1.9703 units fit; the rest is canceled.
    executor, ledger, _ = paper()
    executor.gate = RiskGate(RiskLimits(max_order_notional=D(200)))
    placed = order(Side.BUY, "2")
    placed.risk_price = D(100)
    events = executor.submit(placed)
    fill = next(e for e in events if isinstance(e, OrderFilled))
    assert fill.quantity * fill.price <= 200
    assert isinstance(events[-1], OrderCanceled)
    assert "risk gate at fill" in events[-1].reason
    assert ledger.quantity("BTC/USD") == fill.quantity
