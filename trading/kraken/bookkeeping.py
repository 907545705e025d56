"""A run's bookkeeping at Kraken: which orders are the run's, what its books hold of each, what
Kraken should hold after its fills, and the checks before it trades and when it resumes.

- `preflight`: before a new run, no other run's order may still be working, Kraken's open
  orders must match the journal, and a live run's cash must be there.
- `reconcile_on_resume`: the same, after booking what a crashed process polled but never
  stored and what happened since; a live run's balances must also equal those at its start
  plus every fill of the run (`expected_balances`).

Any difference stops the run with `ReconcileError`, naming it, before an order leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Final

from trading.domain import ZERO, OrderEvent, OrderFilled, Side
from trading.ids import OrderId
from trading.kraken.client import Pair
from trading.kraken.errors import ReconcileError
from trading.kraken.executor import Booked, KrakenExecutor
from trading.storage import Store

__all__ = [
    "BALANCE_TOLERANCE",
    "booked",
    "expected_balances",
    "preflight",
    "reconcile_on_resume",
    "refuse_others",
    "run_owns",
]

# Kraken books USD to 4 places: each fill may round the balance by up to one unit of the last,
# so a resume allows this much per fill of the run (and once more for the display).
BALANCE_TOLERANCE: Final = Decimal("0.0001")


def preflight(
    executor: KrakenExecutor,
    pairs: Sequence[Pair],
    run_id: str,
    symbols: Sequence[str],
    cash: Decimal,
    *,
    live: bool,
) -> dict[str, Decimal]:
    """Before a new run: no other run's order still working, Kraken and the journal agree,
    and a live run's cash is there. Returns what Kraken holds of the pairs' assets."""
    refuse_others(executor, run_owns(run_id, symbols))
    report = executor.reconcile()
    assets = {a for p in pairs for a in (p.base, p.quote)}
    balances = {a: report.balances.get(a, ZERO) for a in sorted(assets)}
    quote = pairs[0].quote
    if live and balances[quote] < cash:
        raise ReconcileError(
            f"Kraken reconcile: {quote}: Kraken holds {balances[quote]}, less than the run's "
            f"cash {cash}; lower the cash or fund the account"
        )
    return balances


def reconcile_on_resume(
    executor: KrakenExecutor,
    store: Store,
    run_id: str,
    symbols: Sequence[str],
    pairs: Sequence[Pair],
    *,
    start_balances: Mapping[str, Decimal] | None,
) -> list[OrderEvent]:
    """On resume: the fills the run's books lack, then Kraken checked against the journal
    (and, given the live run's `start_balances`, against them plus every fill of the run).
    Returns the events found, to be booked in the next cycle."""
    owns = run_owns(run_id, symbols)
    refuse_others(executor, owns)
    # First what a crashed process polled but never stored, then what happened since.
    found = executor.unbooked(booked(store, run_id), owns)
    found += executor.poll()
    expected, tolerance = None, BALANCE_TOLERANCE
    if start_balances is not None:
        stored = [(f.symbol, Side(f.side), f.quantity, f.price, f.fee) for f in store.fills(run_id)]
        polled = [
            (f.symbol, f.side, f.quantity, f.price, f.fee)
            for f in found
            if isinstance(f, OrderFilled)
        ]
        expected = expected_balances(start_balances, pairs, [*stored, *polled])
        tolerance *= 1 + len(stored) + len(polled)
    report = executor.reconcile(expected, tolerance)
    return [*found, *report.events]


def expected_balances(
    start: Mapping[str, Decimal],
    pairs: Sequence[Pair],
    fills: Iterable[tuple[str, Side, Decimal, Decimal, Decimal]],
) -> dict[str, Decimal]:
    """What Kraken should hold of the pairs' assets: the start plus every (symbol, side,
    quantity, price, fee) fill, fees paid in the quote currency as Kraken charges them."""
    by_symbol = {p.symbol: p for p in pairs}
    expected = {a: start.get(a, ZERO) for p in pairs for a in (p.base, p.quote)}
    for symbol, side, quantity, price, fee in fills:
        pair = by_symbol[symbol]
        expected[pair.base] += side.sign * quantity
        expected[pair.quote] -= side.sign * quantity * price + fee
    return expected


def booked(store: Store, run_id: str) -> dict[str, Booked]:
    """What the run's stored fills hold of each of its orders."""
    held: dict[str, Booked] = {}
    for f in store.fills(run_id):
        before = held.get(f.order_id, Booked())
        held[f.order_id] = Booked(
            before.quantity + f.quantity,
            before.notional + f.quantity * f.price,
            before.fee + f.fee,
        )
    return held


def run_owns(run_id: str, symbols: Sequence[str]) -> Callable[[str], bool]:
    """Whether an order id is one of the run's keys (`OrderId`) on one of its symbols."""

    def owns(order_id: str) -> bool:
        key = OrderId.parse(order_id, run_id)
        return key is not None and key.symbol in symbols

    return owns


def refuse_others(executor: KrakenExecutor, owns: Callable[[str], bool]) -> None:
    """Stop with `ReconcileError` while an order the run does not own is working at Kraken."""
    others = sorted(o.id for o in executor.open_orders() if not owns(o.id))
    if others:
        raise ReconcileError(
            f"Kraken reconcile: orders of another run are still working: {', '.join(others)}; "
            "resume that run, or cancel them at Kraken, before trading"
        )
