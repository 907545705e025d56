"""The executor port: what the engine trades through, and what an executor is built on.

`PaperExecutor` (fills from bars), `BookPaperExecutor` (fills on Kraken's live book),
`KrakenExecutor` (the exchange) and the resume's `RecordedFills` implement `CycleExecutor` and
emit the same events. The engine trades through the paper executor unless it is given an
`ExecutorFactory`, which builds one on the engine's `EnginePorts`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from trading.clock import Clock
from trading.costs import CostModel
from trading.data import PointInTimeView
from trading.domain import Bar, Instrument, Order, OrderEvent
from trading.ledger import Ledger
from trading.risk import RiskGate

__all__ = ["CycleExecutor", "EnginePorts", "ExecutorFactory"]


class CycleExecutor(Protocol):
    """What a cycle needs of an executor: submit and cancel orders (each returns the events it
    produced right away; fills arrive later), the open orders and the orders it has seen by id,
    and `process_bars`, called with the bars a tick closes (fill what they allow, or catch up
    with an exchange on their symbols)."""

    @property
    def orders(self) -> Mapping[str, Order]: ...

    def submit(self, order: Order) -> list[OrderEvent]: ...

    def cancel(self, order_id: str, reason: str) -> list[OrderEvent]: ...

    def open_orders(self) -> list[Order]: ...

    def process_bars(self, bars: Sequence[Bar]) -> list[OrderEvent]: ...


@dataclass(frozen=True, slots=True)
class EnginePorts:
    """What an executor may be built on: the engine's ledger, its point-in-time view, its clock
    (at the tick being run), the run's costs and instruments."""

    ledger: Ledger
    view: PointInTimeView
    clock: Clock
    costs: CostModel
    instruments: Mapping[str, Instrument]
    gate: RiskGate


ExecutorFactory = Callable[[EnginePorts], CycleExecutor]
