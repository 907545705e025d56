"""Every tool with what a client must know about it, and a way to bind it to a context.

Tool functions take the context as their first argument; `bind` returns the same function
without it (same name, docstring, parameters and return type), which is what the MCP server
and in-process agents register. Bound tools are async: the work runs on a worker thread under
the context's lock, so a slow backtest never blocks a server's event loop and two calls never
interleave on one ledger.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tools.backtest import backtest_strategy
from tools.context import ToolContext
from tools.factor_tools import evaluate_factor
from tools.factors import get_factor_series
from tools.market import (
    compute_indicator,
    get_market_summary,
    get_news_sentiment,
    get_ohlcv,
    get_price,
)
from tools.orders import advance_clock, cancel_order, place_order
from tools.portfolio import analyze_portfolio, get_portfolio


@dataclass(frozen=True, slots=True)
class ToolSpec:
    function: Callable[..., Any]
    title: str
    read_only: bool
    trading: bool = False  # offered only when trading is allowed

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def description(self) -> str:
        return inspect.getdoc(self.function) or ""

    @property
    def summary(self) -> str:
        """The docstring's first paragraph on one line."""
        return " ".join(self.description.split("\n\n")[0].split())


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(get_price, "Latest price", read_only=True),
    ToolSpec(get_ohlcv, "OHLCV bars", read_only=True),
    ToolSpec(compute_indicator, "Technical indicator", read_only=True),
    ToolSpec(get_market_summary, "Market summary", read_only=True),
    ToolSpec(get_news_sentiment, "News sentiment", read_only=True),
    ToolSpec(get_factor_series, "Market factor series", read_only=True),
    ToolSpec(evaluate_factor, "Evaluate a cross-sectional factor", read_only=True),
    ToolSpec(analyze_portfolio, "Portfolio risk", read_only=True),
    ToolSpec(backtest_strategy, "Backtest a strategy", read_only=True),
    ToolSpec(get_portfolio, "Portfolio", read_only=True),
    ToolSpec(place_order, "Place an order", read_only=False, trading=True),
    ToolSpec(cancel_order, "Cancel an order", read_only=False, trading=True),
    ToolSpec(advance_clock, "Advance the paper clock", read_only=False, trading=True),
)


def tools_for(allow_trading: bool) -> list[ToolSpec]:
    return [t for t in TOOLS if allow_trading or not t.trading]


def bind(spec: ToolSpec, ctx: ToolContext, lock: asyncio.Lock) -> Callable[..., Awaitable[Any]]:
    function = spec.function
    hints = typing.get_type_hints(function, include_extras=True)
    parameters = list(inspect.signature(function).parameters.values())[1:]  # drop ctx
    signature = inspect.Signature(
        [p.replace(annotation=hints[p.name]) for p in parameters],
        return_annotation=hints["return"],
    )

    @functools.wraps(function)
    async def bound(*args: Any, **kwargs: Any) -> Any:
        async with lock:
            return await asyncio.to_thread(function, ctx, *args, **kwargs)

    bound.__signature__ = signature  # type: ignore[attr-defined]
    bound.__annotations__ = {p.name: hints[p.name] for p in parameters} | {
        "return": hints["return"]
    }
    del bound.__wrapped__  # introspection must see `signature`, not the wrapped function
    return bound
