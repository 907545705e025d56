"""Vectorised scoring of quant genomes that reproduces the event-driven replay exactly.

Evolution scores thousands of genomes, and the replay (`trading.replay`) spends nearly all of a run
on bars where nothing happens. Two facts make a faster path exact rather than approximate:

- A quant strategy's signal at bar t depends only on the closes up to t and the direction of the
  position held, so it can be computed over the whole close array at once, for each direction.
- Between two trades the account (cash, quantities) does not change, so the bars on which the
  replay would propose an order can be found with numpy over the closes.

Only those bars go through exact `Decimal` code, in the replay's order: the domain's own
`proposals_for_targets`, `RiskGate.review` (skipped only where it provably approves everything),
`CostModel` and `Ledger`; the paper executor's submission check (skipped only for sales it
provably accepts) and fill steps (a few lines: participation cap, price, the affordable quantity)
are mirrored here around those same calls.
Trades, cash, round trips and the final equity are therefore Decimal-equal to the replay's, and
the tests compare them digit for digit.

Floats enter in three places, each guarded so that float rounding cannot change a trade:
- Deciding what need not be computed exactly (which bars to check, whether the participation
  cap can bind): bounds are widened far beyond float error, so a bar the exact code would trade
  on is never skipped; a false alarm costs one exact check that finds nothing.
- Signals (`trading.vectorised_signals`): a rolling mean from a cumulative sum rounds unlike the
  replay's sum per bar, so where a float result lies within its error bound of a decision
  threshold, the strategy's own function decides that bar.
- The equity curve between trades is cash + quantity x close in float64, as the replay converts
  its Decimal equity to float: each point within a few ulps (about 1e-15 relative) of the
  replay's, and the metrics computed from it by the same `compute_metrics` agree to ~1e-12.

The arrays a window needs are prepared once (`trading.vectorised_market.Market`) and kept per
catalog and config, since evolution scores many genomes on one market.

What cannot be reproduced this way is refused with the reason (`supports`, `UnsupportedError`):
limits that watch the equity of every bar (drawdown kill switch, daily loss limit, stop-loss,
take-profit), borrow charged on shorts every bar, and symbols whose bars do not share one
calendar in the window.
"""

from __future__ import annotations

import weakref
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final, NamedTuple

import numpy as np
import pandas as pd

from trading.costs import BPS, CostModel
from trading.data import Catalog
from trading.domain import ZERO, Bar, Instrument, Liquidity, Order, OrderFilled, OrderType, Side
from trading.errors import InsufficientFundsError
from trading.ids import TradeId
from trading.ledger import Ledger
from trading.metrics import ClosedTrade, PerformanceMetrics, compute_metrics
from trading.portfolio_strategies import PortfolioParams
from trading.replay import ReplayConfig
from trading.risk import RiskGate
from trading.sizing import SLACK, CashNeed, proposals_for_targets, share_cash
from trading.strategies import STRATEGIES, QuantParams
from trading.vectorised_market import Market, UnsupportedError
from trading.vectorised_signals import signal_table

TAKER: Final = Liquidity.TAKER
MARKET: Final = OrderType.MARKET

__all__ = [
    "Market",
    "Trade",
    "UnsupportedError",
    "VectorisedResult",
    "supports",
    "vectorised_backtest",
    "vectorised_grid",
]


class Trade(NamedTuple):
    """One fill, as the replay's `OrderFilled` reports it."""

    time: datetime
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal


class _Planned(NamedTuple):
    """A market order's fill at its bar's open before the gate and the cash have their say."""

    bar: Bar
    side: Side
    quantity: Decimal
    price: Decimal
    reviewed: Decimal  # the deciding close, the price the gate reviewed the order at
    lots: Instrument


@dataclass(frozen=True, slots=True)
class VectorisedResult:
    equity: pd.Series  # float equity per bar, indexed like `ReplayResult.equity_series()`
    trades: tuple[Trade, ...]
    metrics: PerformanceMetrics
    final_equity: Decimal
    final_cash: Decimal


def supports(config: ReplayConfig, params: QuantParams | None = None) -> str | None:
    """None when the vectorised path reproduces the replay of `config` exactly, else why not.

    With `params`, a long-only genome is accepted under a borrow rate (it never borrows).
    Data can still be refused when run: symbols whose bars do not share one calendar."""
    if isinstance(params, PortfolioParams):
        return "cross-sectional strategies decide on the whole universe; they run on the replay"
    limits = config.limits
    per_bar = {
        "max_drawdown": limits.max_drawdown,
        "daily_loss_limit": limits.daily_loss_limit,
        "stop_loss": limits.stop_loss,
        "take_profit": limits.take_profit,
    }
    for name, value in per_bar.items():
        if value is not None:
            return (
                f"risk limit {name}={value} is judged on the equity or marks of every bar, "
                "which the vectorised path does not replay"
            )
    may_short = config.margin.allow_shorting and (params is None or params.allow_short)
    if config.costs.borrow_rate > ZERO and may_short:
        return (
            f"borrow_rate={config.costs.borrow_rate} charges shorts on every bar, which the "
            "vectorised path does not replay (it does run strategies that never short)"
        )
    return None


def vectorised_backtest(
    kind: str,
    params: QuantParams,
    catalog: Catalog,
    config: ReplayConfig,
    *,
    instruments: Mapping[str, Instrument] | None = None,
) -> VectorisedResult:
    """What `run_replay(build_quant_agent(kind, ...), catalog, config)` would report: its fills,
    equity curve, metrics and final equity. `UnsupportedError` when it cannot be exact."""
    _refuse(config, params)
    return _Run(_market(catalog, config, instruments), kind, params).result()


def vectorised_grid(
    kind: str,
    params_list: Sequence[QuantParams],
    catalog: Catalog,
    config: ReplayConfig,
    *,
    instruments: Mapping[str, Instrument] | None = None,
) -> list[PerformanceMetrics]:
    """Metrics of each genome, in order, over one market prepared once."""
    for params in params_list:
        _refuse(config, params)
    market = _market(catalog, config, instruments)
    return [_Run(market, kind, params).result().metrics for params in params_list]


_MarketKey = tuple[ReplayConfig, tuple[tuple[str, Instrument], ...]]
# Markets already prepared, by catalog and config: preparing one (the replay's window, thousands
# of timestamps as datetimes) costs more than scoring a genome on it, and evolution scores many
# genomes on one. Weakly keyed by catalog, so its markets go when it does; a few per catalog.
_MARKETS: weakref.WeakKeyDictionary[Catalog, dict[_MarketKey, Market]] = weakref.WeakKeyDictionary()
_MARKETS_PER_CATALOG: Final = 8


def _market(
    catalog: Catalog, config: ReplayConfig, instruments: Mapping[str, Instrument] | None
) -> Market:
    key = (config, tuple(sorted((instruments or {}).items())))
    known = _MARKETS.setdefault(catalog, {})
    market = known.get(key)
    if market is None:
        if len(known) >= _MARKETS_PER_CATALOG:
            del known[next(iter(known))]  # the oldest
        market = known[key] = Market(catalog, config, instruments)
    return market


def _refuse(config: ReplayConfig, params: QuantParams) -> None:
    reason = supports(config, params)
    if reason is not None:
        raise UnsupportedError(reason)


def _largest_accepted(
    refused: Callable[[Decimal], bool], quantity: Decimal, increment: Decimal, guess: int | None
) -> Decimal:
    """The executor's answer: the most whole lots up to `quantity` the ledger accepts. Refusal
    is monotone in quantity (cash and margin only tighten as it grows), so the answer is the
    one count accepted with the next refused: a verified guess is it, else bisect as the
    executor does."""
    top = int(quantity / increment)
    if guess is not None and 0 <= guess < top:
        accepted = guess == 0 or not refused(guess * increment)
        if accepted and refused((guess + 1) * increment):
            return guess * increment
    low, high = 0, top
    while low < high:
        middle = (low + high + 1) // 2
        if refused(middle * increment):
            high = middle - 1
        else:
            low = middle
    return low * increment


class _Holdings:
    """What `proposals_for_targets` reads of `Ledger.portfolio()`, the same Decimals (the
    ledger's equity and quantities) without a view of every position built per decision."""

    __slots__ = ("equity", "ledger")

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.equity = ledger.equity()

    def quantity(self, symbol: str) -> Decimal:
        return self.ledger.quantity(symbol)


# ---- the run ----------------------------------------------------------------------------------


class _Run:
    """One genome over one market: the replay's accounts, touched only on candidate bars."""

    def __init__(self, market: Market, kind: str, params: QuantParams) -> None:
        self.market = market
        self.config = market.config
        self.costs: CostModel = market.config.costs
        self.ledger = Ledger(cash=self.config.cash, margin=self.config.margin)
        self.gate = RiskGate(self.config.limits)
        self.rebalances = STRATEGIES[kind].rebalances
        n = len(market.symbols)
        self.share = Decimal(repr(params.weight)) / n
        self.weight = float(self.share)
        self.threshold = float(self.config.rebalance_threshold)
        limits = self.config.limits
        # With one symbol whose weight fits both caps and no order cap, the gate approves every
        # proposal whole: sizing never asks for more than weight x equity at the reference
        # price (it divides by a unit cost >= that price), and quantities are whole lots. Its
        # review (the costliest step of a trade) is then skipped; with several symbols the
        # gross cap can bind, so they always go through it.
        self.gate_passes_all = (
            n == 1
            and limits.max_order_notional is None
            and self.share <= min(limits.max_position_weight, limits.max_gross_exposure)
        )
        # A sale that opens no short is refused at submission only if cash after it falls below
        # -max_cash_borrow. Cash is never below that (every fill is checked, and nothing else
        # charges cash here), and without per-unit or minimum commissions the fee is at most
        # 20% of the notional (each rate is at most 1000 bps), so the sale only raises cash:
        # the check cannot refuse it and is skipped (a fee and a refusal per exit).
        costs = self.costs
        self.sales_pass = costs.commission_per_share == ZERO and costs.min_commission == ZERO
        # Signals at each step (not each bar of the series), per direction held. A weight of
        # zero makes every target zero whatever the signal says, so the signal is zero too
        # (else every bar with a signal would be checked, to find nothing to trade).
        self.tables = [
            market.at_steps(k, signal_table(kind, params, s.close, market.cumsum(k)))
            for k, s in enumerate(market.series)
        ]
        self.signals = self.tables  # what the strategy says, for its decisions as logged
        if self.share == ZERO:
            self.tables = [np.zeros_like(table) for table in self.tables]
        # Per symbol and row, the steps whose signal differs from the step before, found when
        # first needed (as lists: `bisect` searches them faster than numpy one at a time).
        self.switches: list[list[list[int] | None]] = [[None, None, None] for _ in range(n)]
        self.impact = self.costs.impact_coefficient > ZERO
        self.trades: list[Trade] = []
        self.directions = [0] * n  # of the positions held, as the ledger says after each fill
        # Steps at which the account changed, with cash and quantities from there on.
        self.segments: list[tuple[int, float, list[float]]] = [
            (0, float(self.config.cash), [0.0] * n)
        ]

    def result(self) -> VectorisedResult:
        last = self.market.steps - 1
        step = 0
        while step < last:
            candidate = self._next_candidate(step, last)
            if candidate < 0:
                break
            orders = self._decide(candidate)
            if orders:
                self._fill(orders, candidate + 1)
            step = candidate + 1
        return self._finish()

    # ---- finding the bars where the replay may trade ------------------------------------------

    def _held(self) -> tuple[list[float], list[int]]:
        """Each symbol's quantity (float) and direction, read from the ledger after a fill."""
        quantities = [self.ledger.quantity(s) for s in self.market.symbols]
        directions = [1 if q > ZERO else -1 if q < ZERO else 0 for q in quantities]
        return [float(q) for q in quantities], directions

    def _next_candidate(self, start: int, stop: int) -> int:
        """The first step in [start, stop) at which the exact code could propose an order, or
        -1: where a signal departs from the direction held, or a held position drifts from its
        target by the rebalance threshold (the account being constant until then)."""
        directions = self.directions
        first_change = stop
        for k, direction in enumerate(directions):
            first_change = min(first_change, self._first_change(k, direction, start))
        # A strategy that does not rebalance leaves a held signal out of its targets, so
        # drift alone never makes it trade.
        if self.rebalances and any(directions) and first_change > start:
            _, cash, quantities = self.segments[-1]
            if not self._may_drift(start, first_change, cash, quantities):
                return first_change if first_change < stop else -1
            drift = self._first_drift(start, first_change, cash, quantities)
            if drift >= 0:
                return drift
        return first_change if first_change < stop else -1

    def _first_change(self, k: int, direction: int, start: int) -> int:
        """The first step from `start` at which symbol k's signal, for `direction` held, is not
        that direction, or the number of steps: `start` itself, else the first step after it
        where the signal switches (from the direction held to something else)."""
        row = direction + 1
        table = self.tables[k]
        if table[row, start] != direction:
            return start
        switches = self.switches[k][row]
        if switches is None:
            values = table[row]
            switches = (np.flatnonzero(values[1:] != values[:-1]) + 1).tolist()
            self.switches[k][row] = switches
        i = bisect_right(switches, start)
        return switches[i] if i < len(switches) else self.market.steps

    def _may_drift(self, start: int, stop: int, cash: float, quantities: list[float]) -> bool:
        """Whether any step in [start, stop) could rebalance, judged from each symbol's lowest
        and highest close there: a few scalar bounds instead of a pass over every step, which
        settles most holding periods (a position sized to its target stays near it)."""
        market = self.market
        lows, highs = market.extremes(start, stop)
        # Each symbol's value over the period lies between its values at these two closes.
        values = [
            (q * low, q * high) if q >= 0 else (q * high, q * low)
            for q, low, high in zip(quantities, lows, highs, strict=True)
        ]
        if len(values) == 1:  # the sums below, without their generators
            least, most_value = values[0]
            gross = abs(cash) + abs(quantities[0]) * highs[0]
        else:
            least = sum(v[0] for v in values)
            most_value = sum(v[1] for v in values)
            gross = abs(cash) + sum(abs(q) * h for q, h in zip(quantities, highs, strict=True))
        error = SLACK * gross + 1e-300
        floor_equity = cash + least - error
        if floor_equity <= 0:
            return True
        weight = self.weight
        reach = self.threshold * floor_equity
        for k, q in enumerate(quantities):
            if q == 0:
                continue
            rest_low = cash + least - values[k][0] - error
            rest_high = cash + most_value - values[k][1] + error
            # Desired units w (rest + q p) / unit_cost(p) are monotone in p for a fixed rest
            # (a ratio of two linear functions) and rise with the rest: extremes at the corners.
            low, high = lows[k], highs[k]
            low_cost, high_cost = market.unit_cost(k, low), market.unit_cost(k, high)
            corners = (
                weight * (rest_low + q * low) / low_cost,
                weight * (rest_low + q * high) / high_cost,
                weight * (rest_high + q * low) / low_cost,
                weight * (rest_high + q * high) / high_cost,
            )
            fewest = max(min(corners) * (1 - SLACK) - market.lots[k], 0.0)  # lot rounding
            most = max(corners) * (1 + SLACK)
            deviation = max(abs(fewest - abs(q)), abs(most - abs(q)))
            if deviation * highs[k] * (1 + SLACK) >= reach:
                return True
        return False

    def _first_drift(self, start: int, stop: int, cash: float, quantities: list[float]) -> int:
        """First step in [start, stop) where a held position may be off its target by at least
        the rebalance threshold (signals there equal the directions held)."""
        market = self.market
        closes = market.closes[:, start:stop]
        held = np.asarray(quantities)
        equity = held @ closes + cash
        # Float error bound of equity, from the size of its terms, widened by SLACK.
        error = SLACK * (np.abs(held) @ closes + abs(cash)) + 1e-300
        weight = self.weight
        candidate = equity <= error  # the exact code proposes nothing then; let it say so
        reach = self.threshold * (equity - error)
        for k, q in enumerate(quantities):
            if q == 0:
                continue
            per_unit = market.per_unit[k, start:stop]
            raw = weight * equity / per_unit
            width = SLACK * raw + weight * error / per_unit
            lot = market.lots[k]
            # Round toward zero to the lot at both ends: the exact desired quantity is between.
            low = np.floor(np.maximum(raw - width, 0.0) / lot * (1 - SLACK)) * lot
            high = np.floor((raw + width) / lot * (1 + SLACK)) * lot
            deviation = np.maximum(np.abs(low - abs(q)), np.abs(high - abs(q)))
            candidate |= (deviation > 0) & (deviation * closes[k] * (1 + SLACK) >= reach)
        found = np.flatnonzero(candidate)
        return start + int(found[0]) if found.size else -1

    # ---- the exact steps, as the replay takes them ----------------------------------------------

    def _decide(self, step: int) -> list[tuple[str, Side, Decimal]]:
        """The decision at `step`'s close: marks, targets, proposals, the gate, and the
        executor's submission check; the orders accepted for the next bar."""
        market, ledger, costs = self.market, self.ledger, self.costs
        closes = {}
        for k, symbol in enumerate(market.symbols):
            closes[symbol] = market.bar(k, step).close
            ledger.mark(symbol, closes[symbol])
        directions = self.directions
        signals = [int(self.tables[k][directions[k] + 1, step]) for k in range(len(directions))]
        # `strategy_targets`: a strategy that does not rebalance leaves a held signal out.
        targets = {
            symbol: self.share * signals[k]
            for k, symbol in enumerate(market.symbols)
            if self.rebalances or signals[k] != directions[k] or signals[k] == 0
        }
        # Sizing reads only equity and quantities; the gate reads the whole portfolio.
        portfolio = _Holdings(ledger) if self.gate_passes_all else ledger.portfolio()
        proposals = proposals_for_targets(
            targets,
            portfolio,
            closes,
            market.instruments,
            costs,
            self.config.rebalance_threshold,
        )
        if not proposals:
            return []
        if isinstance(portfolio, _Holdings):
            approved = [(p.symbol, p.side, p.quantity) for p in proposals]
        else:
            reviews = self.gate.review(proposals, portfolio, market.instruments)
            approved = [(r.proposal.symbol, r.proposal.side, r.quantity) for r in reviews]
        orders = []
        for symbol, side, quantity in approved:
            if quantity == ZERO:
                continue
            reference = closes[symbol]
            if market.instrument(symbol).round_quantity(quantity) != quantity:
                continue  # rejected at submission: not a whole number of lots
            surely_paid = (
                self.sales_pass and side is Side.SELL and ledger.quantity(symbol) >= quantity
            )
            if not surely_paid:
                fee = costs.fee(quantity, reference, TAKER).total
                if ledger.refusal(symbol, side, quantity, reference, fee):
                    continue  # rejected at submission: the account cannot pay at the last close
            orders.append((symbol, side, quantity))
        return orders

    def _fill(self, orders: list[tuple[str, Side, Decimal]], step: int) -> None:
        """Settle `step` as `trading.replay.settle` does with `PaperExecutor.process_bars`:
        sales fill first at their bars' opens, then buys, sharing the cash when it cannot pay
        for all (`share_cash`), each group in symbol order; then every symbol is marked."""
        market, ledger, costs = self.market, self.ledger, self.costs
        position = {symbol: k for k, symbol in enumerate(market.symbols)}
        buys: list[_Planned] = []
        for symbol, side, quantity in sorted(orders, key=lambda o: (o[1] is Side.BUY, o[0])):
            k = position[symbol]
            planned = self._plan(k, market.bar(k, step), side, quantity, step)
            if planned is None:
                continue
            if side is Side.SELL:
                self._book(planned)
            else:
                buys.append(planned)
        if buys:
            budget = ledger.cash + ledger.margin.max_cash_borrow
            needs = [
                CashNeed(b.quantity, b.price, costs.fee(b.quantity, b.price, TAKER).total, b.lots)
                for b in buys
            ]
            for planned, share in zip(buys, share_cash(needs, budget), strict=True):
                if share > ZERO:
                    self._book(planned._replace(quantity=share))
        for k, symbol in enumerate(market.symbols):
            ledger.mark(symbol, market.bar(k, step).close)
        quantities, self.directions = self._held()
        self.segments.append((step, float(ledger.cash), quantities))

    def _plan(self, k: int, bar: Bar, side: Side, quantity: Decimal, step: int) -> _Planned | None:
        """`PaperExecutor._plan`: the quantity under the participation cap, and its price."""
        market, costs = self.market, self.costs
        instrument = market.instruments[bar.symbol]
        average_volume, volatility = 0.0, 0.0
        if self.impact or not market.under_cap(k, step, float(quantity)):
            average_volume, volatility = self._volume_and_volatility(k, step)
            cap = costs.max_quantity_for_volume(average_volume)
            if cap is not None and quantity > cap:
                quantity = instrument.round_quantity(cap)  # the rest is canceled
                if quantity <= ZERO:
                    return None  # the cap allows less than a lot: nothing fills
        price = costs.market_fill_price(
            side,
            bar.close if bar.open is None else bar.open,
            quantity,
            average_volume,
            volatility,
            instrument.price_increment,
        )
        return _Planned(bar, side, quantity, price, market.bar(k, step - 1).close, instrument)

    def _book(self, planned: _Planned) -> None:
        """`PaperExecutor._book`: what the gate and the cash allow of the planned fill."""
        costs, ledger = self.costs, self.ledger
        bar, side, quantity, price, instrument = (
            planned.bar,
            planned.side,
            planned.quantity,
            planned.price,
            planned.lots,
        )
        order_id = f"vectorised-{planned.bar.time.isoformat()}-{bar.symbol}"
        if price > planned.reviewed:
            # The paper executor's fill-time check: above the price it reviewed, the gate
            # reviews the fill again (`RiskGate.fill_allowance`).
            order = Order(
                order_id, bar.symbol, side, quantity, MARKET, bar.time, risk_price=planned.reviewed
            )
            quantity, _ = self.gate.fill_allowance(
                order, quantity, price, ledger.portfolio(), instrument
            )
            if quantity <= ZERO:
                return

        def filled(units: Decimal, fee: Decimal) -> OrderFilled:
            trade_id = str(TradeId(order_id, "2"))  # the paper executor's: its third event
            return OrderFilled(
                order_id, bar.time, trade_id, bar.symbol, side, units, price, fee, TAKER
            )

        fee = costs.fee(quantity, price, TAKER).total
        try:
            # The ledger checks the fill first and changes nothing when it refuses it: that is
            # the executor's affordability check, made once instead of twice per trade.
            ledger.apply_fill(filled(quantity, fee))
        except InsufficientFundsError:

            def refused(units: Decimal) -> bool:
                fee = costs.fee(units, price, TAKER).total
                return bool(ledger.refusal(bar.symbol, side, units, price, fee))

            estimate = self._affordable_estimate(side, price, instrument.quantity_increment)
            quantity = _largest_accepted(refused, quantity, instrument.quantity_increment, estimate)
            if quantity <= ZERO:
                return
            fee = costs.fee(quantity, price, TAKER).total
            ledger.apply_fill(filled(quantity, fee))
        self.trades.append(Trade(bar.time, bar.symbol, side, quantity, price, fee))

    def _affordable_estimate(self, side: Side, price: Decimal, increment: Decimal) -> int | None:
        """Lots a buy can pay for, from float arithmetic (None for sells, whose limit is the
        short margin): only a guess that `_largest_accepted` verifies exactly."""
        if side is Side.SELL:
            return None
        costs, p = self.costs, float(price)
        budget = float(self.ledger.cash + self.config.margin.max_cash_borrow)
        taker = float(costs.taker_fee_bps / BPS)
        per_unit = p * (1 + taker + float(costs.commission_bps / BPS)) + self.market.per_share
        units = min(budget / per_unit, (budget - float(costs.min_commission)) / (p * (1 + taker)))
        return max(int(units / float(increment)), 0)

    def _volume_and_volatility(self, k: int, step: int) -> tuple[float, float]:
        """`PaperExecutor._recent_volume_and_volatility`: only bars before the fill bar, with
        the same numpy reductions over the same slices, so the same floats."""
        series = self.market.series[k]
        end = int(self.market.positions[k][step])
        start = max(0, end - self.costs.volume_window)
        volume = series.volume[start:end]
        # np.add.reduce / size is what ndarray.mean computes, bit for bit, without its overhead.
        average_volume = float(np.add.reduce(volume) / volume.size) if volume.size else 0.0
        volatility = 0.0
        if self.costs.impact_coefficient > ZERO:  # unused by the price otherwise
            closes = series.close[max(0, start - 1) : end]
            if closes.size > 2:
                volatility = float(np.std(np.diff(np.log(closes)), ddof=1))
            volatility = volatility if np.isfinite(volatility) else 0.0
        return average_volume, volatility

    def _finish(self) -> VectorisedResult:
        market, ledger = self.market, self.ledger
        last = market.steps - 1
        for k, symbol in enumerate(market.symbols):
            ledger.mark(symbol, market.bar(k, last).close)
        starts = [start for start, _, _ in self.segments] + [market.steps]
        lengths = np.diff(starts)
        cash = np.repeat([c for _, c, _ in self.segments], lengths)
        held = np.repeat(np.array([q for _, _, q in self.segments]).T, lengths, axis=1)
        values = cash + (held * market.closes).sum(axis=0)
        equity = pd.Series(values, index=market.index, name="equity")
        metrics = compute_metrics(
            equity,
            benchmark=market.benchmark,
            closed_trades=[
                ClosedTrade(t.symbol, t.opened_at, t.closed_at, float(t.pnl))
                for t in ledger.round_trips
            ],
            traded_notional=float(ledger.traded_notional),
            periods_per_year=market.periods_per_year,
        )
        return VectorisedResult(
            equity=equity,
            trades=tuple(self.trades),
            metrics=metrics,
            final_equity=ledger.equity(),
            final_cash=ledger.cash,
        )
