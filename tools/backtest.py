"""The backtest tool: replay a declarative strategy spec over history, never code.

A client names one of the built-in strategies with parameters, or writes rules over indicators
(enter long when every entry condition holds, go flat when any exit condition does). The spec
is data validated by pydantic; nothing a client sends is ever executed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from pydantic import Field

from tools.context import ToolContext
from tools.indicators import INDICATORS, Ohlcv, check_params, compute_indicator
from tools.schemas import Output, Symbol, tool
from trading.closed import Closed
from trading.data.series import from_ns, to_ns
from trading.decision import Decision, Snapshot
from trading.errors import ConfigError, LookaheadError
from trading.metrics import PerformanceMetrics
from trading.replay import ReplayConfig, run_replay
from trading.strategies import STRATEGIES, strategy_targets, validate_params
from trading.vectorised_replay import Backtest, quant_backtest

T = TypeVar("T")


class Spec(Closed):
    """A strategy a backtest request names: a quant strategy or an indicator rule."""


class QuantStrategySpec(Spec):
    type: Literal["quant"] = "quant"
    strategy: str = Field(
        description=f"One of: {', '.join(sorted(STRATEGIES))}.", examples=["sma_cross"]
    )
    params: dict[str, float | int | bool] = Field(
        default_factory=dict, description='Strategy parameters, e.g. {"fast": 10}.'
    )


class Operand(Spec):
    """A value a condition compares: an indicator output, the close, or a constant."""

    indicator: str | None = Field(None, description="Indicator name; None with value or close.")
    output: str | None = Field(None, description="Which output of the indicator; default first.")
    params: dict[str, float | int | bool] = Field(default_factory=dict)
    value: float | None = Field(None, description="A constant instead of an indicator.")
    close: bool = Field(False, description="The bar's close instead of an indicator.")


class Condition(Spec):
    left: Operand
    op: Literal["above", "below", "crosses_above", "crosses_below"]
    right: Operand


class RuleStrategySpec(Spec):
    type: Literal["rules"] = "rules"
    entry: list[Condition] = Field(min_length=1, max_length=10, description="All must hold.")
    exit: list[Condition] = Field(min_length=1, max_length=10, description="Any one exits.")
    weight: float = Field(1.0, gt=0, le=1, description="Share of equity when long.")


StrategySpec = Annotated[QuantStrategySpec | RuleStrategySpec, Field(discriminator="type")]


class BacktestSummary(Output):
    symbol: str
    start: datetime
    end: datetime
    initial_cash: Decimal
    final_equity: Decimal
    fills: int
    round_trips: int
    metrics: PerformanceMetrics
    path: Literal["vectorised", "replay"] = Field(
        description="Which engine ran: the vectorised path (built-in strategies, where it "
        "reproduces the replay exactly) or the event-driven replay; both give the same result."
    )
    path_reason: str | None = Field(
        None, description="Why the replay ran rather than the vectorised path; null otherwise."
    )


@tool
def backtest_strategy(
    ctx: ToolContext,
    spec: Annotated[StrategySpec, Field(description="A built-in strategy or indicator rules.")],
    symbol: Symbol,
    start: Annotated[date, Field(description="First bar, YYYY-MM-DD.")],
    end: Annotated[date, Field(description="Last bar, YYYY-MM-DD; not after today.")],
    cash: Annotated[Decimal, Field(gt=0, le=10**12, description="Starting cash.")] = Decimal(
        100_000
    ),
) -> BacktestSummary:
    """Backtest a declarative strategy on one symbol with the session's fees and slippage.

    Args:
        spec: {"type": "quant", "strategy": "sma_cross", "params": {"fast": 10, "slow": 50}}
            or {"type": "rules", "entry": [...], "exit": [...]} where each condition compares
            two operands (an indicator output, the close, or a constant) with above, below,
            crosses_above or crosses_below.
        symbol: Ticker symbol, for example SPX.
        start: First bar of the test.
        end: Last bar of the test; it must have closed by now.
        cash: Starting cash.
    """
    if end < start:
        raise ConfigError(f"end {end} is before start {start}")
    series = ctx.catalog.load(symbol)
    after_end = datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
    last = int(np.searchsorted(series.times, to_ns(after_end))) - 1
    if last >= 0 and from_ns(series.close_times[last]) > ctx.now:
        raise LookaheadError(
            f"the {series.symbol} bars up to {end} have not all closed by now "
            f"({ctx.now.isoformat()}): a backtest cannot reach past now"
        )
    config = ReplayConfig(
        symbols=(symbol.upper(),), start=start, end=end, cash=cash, costs=ctx.costs
    )
    run_id = f"{ctx.session}-backtest"
    if isinstance(spec, QuantStrategySpec):
        quant = _QuantSpecAgent(spec)
        run = _run(
            lambda: quant_backtest(
                quant, quant.kind, quant.params, ctx.catalog, config, run_id=run_id
            )
        )
    else:
        rules = _RuleAgent(spec)
        replayed = _run(lambda: run_replay(rules, ctx.catalog, config, run_id=run_id))
        run = Backtest(replayed, "replay", "indicator rules run only through the replay")
    result = run.result
    return BacktestSummary(
        symbol=symbol.upper(),
        start=result.equity[0].time,
        end=result.equity[-1].time,
        initial_cash=cash,
        final_equity=result.final_equity,
        fills=len(result.fills),
        round_trips=len(result.round_trips),
        metrics=result.metrics,
        path=run.path,
        path_reason=run.reason,
    )


def _run(start: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(start())
    # Called from inside an event loop (an MCP server's): the run gets a thread and a loop of
    # its own rather than blocking or re-entering the caller's.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(start())).result()


class _QuantSpecAgent:
    def __init__(self, spec: QuantStrategySpec) -> None:
        self.kind = spec.strategy
        self.params = validate_params(spec.strategy, spec.params)
        self.name = spec.strategy

    async def decide(self, snapshot: Snapshot) -> Decision:
        return Decision(strategy_targets(self.kind, self.params, snapshot))


class _RuleAgent:
    name = "rules"

    def __init__(self, spec: RuleStrategySpec) -> None:
        for condition in [*spec.entry, *spec.exit]:
            for operand in (condition.left, condition.right):
                _check_operand(operand)
        self.spec = spec

    async def decide(self, snapshot: Snapshot) -> Decision:
        targets: dict[str, Decimal] = {}
        weight = Decimal(repr(self.spec.weight)) / len(snapshot.symbols)
        for symbol in snapshot.symbols:
            a = snapshot.view.arrays(symbol)
            data = Ohlcv(a.open, a.high, a.low, a.close, a.volume)
            held = snapshot.portfolio.quantity(symbol) > 0
            if held and any(_holds(c, data) for c in self.spec.exit):
                targets[symbol] = Decimal(0)
            elif not held and all(_holds(c, data) for c in self.spec.entry):
                targets[symbol] = weight
        return Decision(targets)


def _check_operand(operand: Operand) -> None:
    chosen = sum([operand.indicator is not None, operand.value is not None, operand.close])
    if chosen != 1:
        raise ConfigError(
            f"an operand names exactly one of indicator, value or close: {operand.model_dump()!r}"
        )
    if operand.indicator is not None:
        spec = INDICATORS.get(operand.indicator)
        if spec is None:
            raise ConfigError(
                f"unknown indicator {operand.indicator!r}; valid: {', '.join(sorted(INDICATORS))}"
            )
        if operand.output is not None and operand.output not in spec.outputs:
            raise ConfigError(
                f"indicator {operand.indicator!r} has no output {operand.output!r}; "
                f"valid: {', '.join(spec.outputs)}"
            )
        check_params(operand.indicator, operand.params)


def _series(operand: Operand, data: Ohlcv) -> np.ndarray:
    if operand.value is not None:
        return np.full(2, operand.value)
    if operand.close:
        return data.close[-2:]
    indicator = operand.indicator or ""  # _check_operand made sure one is named
    outputs = compute_indicator(indicator, data, operand.params)
    name = operand.output or INDICATORS[indicator].outputs[0]
    return outputs[name][-2:]


def _holds(condition: Condition, data: Ohlcv) -> bool:
    if len(data.close) < 2:
        return False
    left, right = _series(condition.left, data), _series(condition.right, data)
    if len(left) < 2 or len(right) < 2 or not np.all(np.isfinite([*left, *right])):
        return False
    match condition.op:
        case "above":
            return bool(left[-1] > right[-1])
        case "below":
            return bool(left[-1] < right[-1])
        case "crosses_above":
            return bool(left[-2] <= right[-2] and left[-1] > right[-1])
        case "crosses_below":
            return bool(left[-2] >= right[-2] and left[-1] < right[-1])
