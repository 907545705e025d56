"""The paper executor: simulated fills against bars, with the shared cost model.

A market order decided on bar t fills at bar t+1's open (never at a price the decision saw),
moved by half the spread and square-root impact. A limit order fills when a later bar's range
crosses its price: at the open if the bar opens through it (taker), else at the limit (maker).
On a close-only series (no open, range or volume) both fill at bar t+1's close instead (market
on close), and no participation cap applies, there being no volume to cap by.
Fills take at most the participation cap of the average daily volume per bar; what the cap or
the cash leaves of a market order is canceled with the reason, while a limit order keeps
working. Volume and volatility come only from bars before the fill bar. Nothing here is random,
so a replay is deterministic without a seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from trading.clock import Clock
from trading.costs import CostModel, FillCost
from trading.data import PointInTimeView
from trading.data.series import to_ns
from trading.domain import (
    ZERO,
    Bar,
    Instrument,
    Liquidity,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    Side,
)
from trading.errors import DataError
from trading.ids import TradeId
from trading.ledger import Ledger, book_fill
from trading.risk import RiskGate
from trading.sizing import CashNeed, share_cash


@dataclass(slots=True)
class _Plan:
    """A fill a bar offers an order, as it is cut on its way to the books."""

    order: Order
    bar: Bar
    instrument: Instrument
    quantity: Decimal
    price: Decimal
    liquidity: Liquidity
    leftover: str  # why the rest of the order does not fill on this bar
    refused: str = ""  # set when the cash or the gate cut it: the rest is canceled
    # The cost of `quantity` once asked for (the cash share, then the ledger's check, then the
    # fill itself ask for the same one); None again whenever `quantity` is cut.
    cost: FillCost | None = None


class PaperExecutor:
    def __init__(
        self,
        ledger: Ledger,
        view: PointInTimeView,
        clock: Clock,
        costs: CostModel,
        instrument_for: Callable[[str], Instrument] | Mapping[str, Instrument] | None = None,
        gate: RiskGate | None = None,
    ) -> None:
        """`gate` re-checks at fill time the orders it reviewed (`RiskGate.fill_allowance`)."""
        self.ledger = ledger
        self.gate = gate
        self.view = view
        self.clock = clock
        self.costs = costs
        self._instrument_for = instrument_for
        self._default_instruments: dict[str, Instrument] = {}
        self.orders: dict[str, Order] = {}
        self._working: list[Order] = []
        self._raw_commission: dict[str, Decimal] = {}
        # Orders that stayed open past a bar they could have filled on: the gate reviews their
        # fills again, since the account may have changed while they waited.
        self._rested: set[str] = set()

    def instrument(self, symbol: str) -> Instrument:
        if callable(self._instrument_for):
            return self._instrument_for(symbol)
        if self._instrument_for is not None and symbol in self._instrument_for:
            return self._instrument_for[symbol]
        # The default, built once per symbol (an Instrument is frozen, so one can be shared).
        default = self._default_instruments.get(symbol)
        if default is None:
            default = self._default_instruments[symbol] = Instrument(symbol)
        return default

    # ---- the executor port ------------------------------------------------------------------

    def submit(self, order: Order) -> list[OrderEvent]:
        now = self.clock.now()
        if order.id in self.orders:
            # Idempotent by order id: a retried submission must not create a second order.
            return []
        self.orders[order.id] = order
        submitted = OrderSubmitted(order.id, now)
        order.apply(submitted)
        # The order is SUBMITTED now, with this id: the table takes a rejection or an
        # acceptance from there, so the second event needs no second check.
        reason = self._precheck(order)
        if reason:
            rejected = OrderRejected(order.id, now, reason)
            order.apply_accepted(rejected)
            return [submitted, rejected]
        accepted = OrderAccepted(order.id, now)
        order.apply_accepted(accepted)
        self._working.append(order)
        return [submitted, accepted]

    def cancel(self, order_id: str, reason: str) -> list[OrderEvent]:
        order = self.orders.get(order_id)
        if order is None or not order.status.is_open:
            return []
        return [self._cancel(order, reason)]

    def open_orders(self) -> list[Order]:
        if not self._working:  # most bars: nothing in flight, and no comprehension to run
            return []
        return [o for o in self._working if o.status.is_open]

    # ---- simulation -------------------------------------------------------------------------

    def process_bars(self, bars: Sequence[Bar]) -> list[OrderEvent]:
        """Fill what the bars closing together allow. Call once per tick, after the clock
        reached their close, in time order.

        Sales fill first, so their cash funds the buys; then the buys, which share the cash
        in proportion to what each needs when it cannot pay for all (`share_cash`); each group
        in symbol order. Nothing depends on the order in which the symbols were given."""
        if not self._working:  # most bars: nothing in flight
            return []
        by_symbol = {bar.symbol: bar for bar in bars}
        due = [
            o
            for o in self._working
            if o.status.is_open
            and o.symbol in by_symbol
            # decided after its bar opened: it waits for the next one
            and o.created_at <= by_symbol[o.symbol].time
        ]
        if len(due) > 1:
            due.sort(key=lambda o: (o.side is Side.BUY, o.symbol, o.created_at, o.id))
        events: list[OrderEvent] = []
        plans: list[_Plan] = []
        for order in due:
            plan = self._plan(order, by_symbol[order.symbol])
            if plan is None:
                continue
            if order.side is Side.SELL:
                events.extend(self._book(plan))
            else:
                plans.append(plan)
        if plans:
            self._book_buys(plans, events)
        for order in due:
            if order.status.is_open:
                self._rested.add(order.id)
        self._working = [o for o in self._working if o.status.is_open]
        return events

    def _book_buys(self, plans: list[_Plan], events: list[OrderEvent]) -> None:
        """Book the buys of one tick, sharing the cash when it cannot pay for all."""
        if len(plans) == 1:  # `share_cash` leaves a lone buy to the ledger's own check
            events.extend(self._book(plans[0]))
            return
        budget = self.ledger.cash + self.ledger.margin.max_cash_borrow
        needs = [
            CashNeed(p.quantity, p.price, self._plan_cost(p).total, p.instrument) for p in plans
        ]
        shares = share_cash(needs, budget)
        for plan, share in zip(plans, shares, strict=True):
            if share < plan.quantity:
                plan.leftover = (
                    f"cash shared among {len(plans)} buys: {budget} pays for {share} of "
                    f"{plan.quantity} {plan.order.symbol}"
                )
                plan.quantity, plan.refused, plan.cost = share, plan.leftover, None
            events.extend(self._book(plan))

    def _plan(self, order: Order, bar: Bar) -> _Plan | None:
        """The fill this bar offers the order before the cash and the gate have their say:
        quantity under the participation cap, price, liquidity; None if it does not trade."""
        instrument = self.instrument(order.symbol)
        average_volume, volatility = self._recent_volume_and_volatility(bar)
        quantity = order.quantity - order.filled_quantity  # `remaining_quantity`
        leftover = ""
        cap = self.costs.max_quantity_for_volume(average_volume)
        if cap is not None and quantity > cap:
            quantity = instrument.round_quantity(cap)
            leftover = (
                f"participation cap: {self.costs.participation_cap} of average volume "
                f"{average_volume:.0f} allows {quantity} per bar"
            )
        priced = self._price(order, bar, quantity, average_volume, volatility, instrument)
        if priced is None:
            return None
        price, liquidity = priced
        return _Plan(order, bar, instrument, quantity, price, liquidity, leftover)

    def _book(self, plan: _Plan) -> list[OrderEvent]:
        """Fill what the cash and the gate allow of the plan. What they refuse is canceled;
        a limit order cut only by the participation cap keeps working."""
        order, quantity, price, liquidity = plan.order, plan.quantity, plan.price, plan.liquidity
        instrument, leftover, refused = plan.instrument, plan.leftover, plan.refused
        whole = plan.cost  # `_plan_cost(plan)`, without its call
        if whole is None:
            whole = plan.cost = self._cost(order, quantity, price, liquidity)
        cost: FillCost | None = whole  # None once the quantity is cut
        events: list[OrderEvent] = []
        affordable, refusal = self._affordable(order, quantity, price, liquidity, instrument, whole)
        if affordable < quantity:
            quantity, leftover, refused, cost = affordable, refusal, refusal, None
        gate = self.gate
        rested = order.id in self._rested
        # The portfolio is built only for a fill the gate looks at again.
        if gate is not None and quantity > ZERO and gate.reviews_fill(order, price, rested=rested):
            allowed, why = gate.fill_allowance(
                order, quantity, price, self.ledger.portfolio(), instrument, rested=rested
            )
            if allowed < quantity:
                quantity, leftover, refused, cost = allowed, why, why, None
        if quantity > ZERO:
            # Uncut, this is the very fill `_affordable` found the ledger takes: the books have
            # not changed since (the gate only reads them), so booking need not ask again.
            checked = cost is whole
            cost = cost or self._cost(order, quantity, price, liquidity)
            events.append(
                self._fill(order, plan.bar, quantity, price, liquidity, cost, affordable=checked)
            )
        if order.remaining_quantity > ZERO and leftover:
            keeps_working = order.type is OrderType.LIMIT and not refused
            if not keeps_working:
                events.append(self._cancel(order, leftover))
        return events

    def _plan_cost(self, plan: _Plan) -> FillCost:
        if plan.cost is None:
            plan.cost = self._cost(plan.order, plan.quantity, plan.price, plan.liquidity)
        return plan.cost

    def _price(
        self,
        order: Order,
        bar: Bar,
        quantity: Decimal,
        average_volume: float,
        volatility: float,
        instrument: Instrument,
    ) -> tuple[Decimal, Liquidity] | None:
        # A close-only bar has no open and no range: orders fill at its close (market on
        # close), a limit order only when the close is at or through its limit.
        start = bar.close if bar.open is None else bar.open
        if order.type is OrderType.MARKET:
            price = self.costs.market_fill_price(
                order.side,
                start,
                quantity,
                average_volume,
                volatility,
                instrument.price_increment,
            )
            return price, Liquidity.TAKER
        limit = order.limit
        if order.side is Side.BUY:
            if start <= limit:
                return start, Liquidity.TAKER
            return (limit, Liquidity.MAKER) if bar.low is not None and bar.low <= limit else None
        if start >= limit:
            return start, Liquidity.TAKER
        return (limit, Liquidity.MAKER) if bar.high is not None and bar.high >= limit else None

    def _affordable(
        self,
        order: Order,
        quantity: Decimal,
        price: Decimal,
        liquidity: Liquidity,
        instrument: Instrument,
        cost: FillCost,
    ) -> tuple[Decimal, str]:
        """The largest quantity up to `quantity` the ledger accepts, and why not more; `cost`
        is the cost of all of `quantity`."""
        refusal = self.ledger.refusal(order.symbol, order.side, quantity, price, cost.total)
        if not refusal:
            return quantity, ""
        # Refusal is monotone in quantity, so bisect over whole lots: the largest count `low`
        # not refused, with every count above `high` refused.
        increment = instrument.quantity_increment
        low, high = 0, int(quantity / increment)
        # First probes where the cash runs out (a buy's cost scaled to the cash, a few times over,
        # so a fixed commission is found too): they only narrow the bracket, so the answer is the
        # bisection's, in ~3 ledger checks rather than ~20 at 0.0001 lots.
        budget = self.ledger.cash + self.ledger.margin.max_cash_borrow
        guess, probe = 0, high  # 0: no guess (a sale, or no cash)
        for _ in range(3):
            lots = probe * increment
            need = lots * order.side.sign * price + self._cost(order, lots, price, liquidity).total
            if probe <= 0 or need <= ZERO or budget <= ZERO:
                break
            probe = guess = min(int(probe * budget / need), high)
        probe = guess
        for _ in range(2):  # the guess, then its neighbour on the side the answer lies
            if not low < probe <= high:
                break
            if self._refusal(order, probe * increment, price, liquidity):
                high = probe = probe - 1
            else:
                low, probe = probe, probe + 1
        while low < high:
            middle = (low + high + 1) // 2
            if self._refusal(order, middle * increment, price, liquidity):
                high = middle - 1
            else:
                low = middle
        return low * increment, refusal

    def _refusal(
        self, order: Order, quantity: Decimal, price: Decimal, liquidity: Liquidity
    ) -> str:
        """Why the ledger refuses this fill, or ""."""
        fee = self._cost(order, quantity, price, liquidity).total
        return self.ledger.refusal(order.symbol, order.side, quantity, price, fee)

    def _cost(
        self, order: Order, quantity: Decimal, price: Decimal, liquidity: Liquidity
    ) -> FillCost:
        return self.costs.fee(quantity, price, liquidity, self._raw_commission.get(order.id))

    def _fill(
        self,
        order: Order,
        bar: Bar,
        quantity: Decimal,
        price: Decimal,
        liquidity: Liquidity,
        cost: FillCost,
        *,
        affordable: bool = False,
    ) -> OrderFilled:
        """Book the fill; `affordable`: the ledger's refusal of exactly it was just asked."""
        order_id = order.id
        self._raw_commission[order_id] = cost.raw_commission
        # Positional: a frozen dataclass's `__init__` takes keywords at twice the cost.
        fill = OrderFilled(
            order_id,  # order_id
            bar.time,  # time
            TradeId.spell(order_id, len(order.events)),  # trade_id
            order.symbol,  # symbol
            order.side,  # side
            quantity,
            price,
            cost.total,  # fee
            liquidity,
        )
        book_fill(order, fill, self.ledger, affordable=affordable)
        return fill

    def _cancel(self, order: Order, reason: str) -> OrderCanceled:
        event = OrderCanceled(order.id, self.clock.now(), reason)
        order.apply(event)
        return event

    def _precheck(self, order: Order) -> str:
        try:
            reference = self.view.last_bar(order.symbol).close
        except DataError as error:
            return str(error)
        instrument = self.instrument(order.symbol)
        if instrument.round_quantity(order.quantity) != order.quantity:
            return (
                f"quantity {order.quantity} is not a multiple of the lot size "
                f"{instrument.quantity_increment} for {order.symbol}"
            )
        # `_refusal` at the reference price, without its two frames.
        if order.type is OrderType.MARKET:
            price, liquidity = reference, Liquidity.TAKER
        else:
            price, liquidity = order.limit, Liquidity.MAKER
        quantity = order.quantity
        fee = self.costs.fee(quantity, price, liquidity, self._raw_commission.get(order.id)).total
        return self.ledger.refusal(order.symbol, order.side, quantity, price, fee)

    def _recent_volume_and_volatility(self, bar: Bar) -> tuple[float, float]:
        arrays = self.view.arrays(bar.symbol)
        # Only bars before the fill bar: the fill bar's own volume is not known at its open.
        end = int(arrays.times.searchsorted(to_ns(bar.time), side="left"))
        start = max(0, end - self.costs.volume_window)
        # A close-only series carries no volume (NaN): no average, so no participation cap.
        # np.add.reduce / size is what ndarray.mean computes, bit for bit, without its overhead.
        average_volume = 0.0
        if bar.volume is not None and end > start:
            average_volume = float(np.add.reduce(arrays.volume[start:end]) / (end - start))
        volatility = 0.0
        if self.costs.impact_coefficient > ZERO:  # unused by the price else
            closes = arrays.close[max(0, start - 1) : end]
            if closes.size > 2:
                volatility = float(np.std(np.diff(np.log(closes)), ddof=1))
        return average_volume, volatility if math.isfinite(volatility) else 0.0
