"""Portfolio tools: the account as it stands, and its risk (VaR, CVaR, beta, correlations)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import numpy as np
from pydantic import Field

from tools.context import ToolContext
from tools.schemas import Output, Symbol, tool
from trading.domain import ZERO
from trading.errors import ConfigError


class PositionOut(Output):
    symbol: str
    quantity: Decimal
    average_price: Decimal
    mark: Decimal
    market_value: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    weight: float = Field(description="Market value / equity.")


class OpenOrderOut(Output):
    order_id: str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    filled_quantity: Decimal
    limit_price: Decimal | None
    status: str


class PortfolioState(Output):
    as_of: datetime
    cash: Decimal
    equity: Decimal
    positions: list[PositionOut]
    open_orders: list[OpenOrderOut]
    realized_pnl: Decimal
    fees: Decimal
    borrow_costs: Decimal
    kill_switch: str | None = Field(
        description="Why the drawdown kill switch tripped, if it did: the run then sells "
        "everything and holds cash to its end."
    )


@tool
def get_portfolio(ctx: ToolContext) -> PortfolioState:
    """Cash, equity, positions marked at the latest closes, and open orders."""
    for symbol in list(ctx.ledger.positions):
        ctx.ledger.mark(symbol, ctx.view.last_bar(symbol).close)
    portfolio = ctx.ledger.portfolio()
    return PortfolioState(
        as_of=ctx.now,
        cash=portfolio.cash,
        equity=portfolio.equity,
        positions=[
            # The ledger's view of the position, field for field, and its weight.
            PositionOut(**p._asdict(), weight=float(portfolio.weight(p.symbol)))
            for p in portfolio.positions.values()
            if p.quantity != ZERO
        ],
        open_orders=[
            OpenOrderOut(
                order_id=o.id,
                symbol=o.symbol,
                side=o.side.value,
                type=o.type.value,
                quantity=o.quantity,
                filled_quantity=o.filled_quantity,
                limit_price=o.limit_price,
                status=o.status.value,
            )
            for o in ctx.executor.open_orders()
        ],
        realized_pnl=portfolio.realized_pnl,
        fees=portfolio.fees,
        borrow_costs=portfolio.borrow_costs,
        kill_switch=ctx.gate.tripped_reason or None,
    )


class PortfolioAnalysis(Output):
    as_of: datetime
    value: Decimal = Field(description="Net market value of the holdings.")
    gross_exposure: Decimal = Field(description="Sum of |market values|.")
    net_exposure: Decimal = Field(description="Sum of market values (shorts negative).")
    weights: dict[str, float] = Field(description="Market value / gross exposure.")
    concentration: float = Field(
        description="Herfindahl index of |weights|: 1 = one position, 1/n = n equal ones."
    )
    lookback: int = Field(description="Daily returns used for the statistics.")
    confidence: float
    var: float = Field(description="Historical one-bar value at risk, as a loss fraction.")
    cvar: float = Field(description="Mean loss beyond the VaR, as a fraction.")
    var_amount: Decimal
    cvar_amount: Decimal
    beta: float | None = Field(description="Beta of the holdings against the benchmark.")
    benchmark: str
    correlation: dict[str, dict[str, float | None]] = Field(
        description="Correlation of the symbols' returns over the lookback."
    )


@tool
def analyze_portfolio(
    ctx: ToolContext,
    holdings: Annotated[
        dict[Symbol, Decimal] | None,
        Field(description="Symbol -> quantity (negative = short); default: the account's."),
    ] = None,
    lookback: Annotated[int, Field(ge=20, le=2520, description="Bars of history.")] = 252,
    confidence: Annotated[float, Field(ge=0.8, le=0.999, description="VaR confidence.")] = 0.95,
) -> PortfolioAnalysis:
    """Value, weights, exposure, concentration, historical VaR and CVaR, beta and correlations.

    Args:
        holdings: Symbol -> quantity to analyse (negative for shorts); the account's own
            positions when omitted.
        lookback: How many bars of history the statistics use (20 to 2520).
        confidence: Confidence level of VaR and CVaR, for example 0.95.
    """
    if holdings is None:
        holdings = {s: p.quantity for s, p in ctx.ledger.positions.items() if p.quantity != ZERO}
    if not holdings:
        raise ConfigError("no holdings to analyse: the account is flat and none were given")
    symbols = sorted(holdings)
    prices = {s: ctx.view.last_bar(s).close for s in symbols}
    values = {s: holdings[s] * prices[s] for s in symbols}
    gross = sum((abs(v) for v in values.values()), ZERO)
    net = sum(values.values(), ZERO)
    if gross == ZERO:
        raise ConfigError("every holding has quantity zero: nothing to analyse")
    weights = {s: float(values[s] / gross) for s in symbols}

    returns = _aligned_returns(ctx, [*symbols, ctx.benchmark], lookback)
    matrix = np.column_stack([returns[s] for s in symbols])
    # Portfolio returns per unit of gross exposure, from today's weights (a what-if on history).
    portfolio_returns = matrix @ np.array([weights[s] for s in symbols])
    losses = -portfolio_returns
    var = float(np.quantile(losses, confidence))
    cvar = float(losses[losses >= var].mean())
    bench = returns[ctx.benchmark]
    beta = None
    if np.var(bench, ddof=1) > 0:
        beta = float(np.cov(portfolio_returns, bench, ddof=1)[0, 1] / np.var(bench, ddof=1))
    correlation: dict[str, dict[str, float | None]] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(matrix, rowvar=False) if len(symbols) > 1 else np.ones((1, 1))
    for i, a in enumerate(symbols):
        correlation[a] = {
            b: (float(corr[i, j]) if np.isfinite(corr[i, j]) else None)
            for j, b in enumerate(symbols)
        }
    return PortfolioAnalysis(
        as_of=ctx.now,
        value=net,
        gross_exposure=gross,
        net_exposure=net,
        weights=weights,
        concentration=float(sum(w * w for w in weights.values())),
        lookback=len(bench),
        confidence=confidence,
        var=var,
        cvar=cvar,
        var_amount=gross * Decimal(repr(var)),
        cvar_amount=gross * Decimal(repr(cvar)),
        beta=beta,
        benchmark=ctx.benchmark,
        correlation=correlation,
    )


def _aligned_returns(ctx: ToolContext, symbols: list[str], lookback: int) -> dict[str, np.ndarray]:
    """Simple returns of each symbol on the dates all of them traded, the last `lookback`."""
    closes = {s: ctx.view.frame(s)["close"] for s in dict.fromkeys(symbols)}
    frames = iter(closes.values())
    common = next(frames).index
    for series in frames:
        common = common.intersection(series.index)
    if len(common) < 21:
        raise ConfigError(
            f"only {len(common)} common bars for {', '.join(closes)} by now; at least 21 needed"
        )
    common = common[-(lookback + 1) :]
    aligned = {s: series.loc[common].to_numpy() for s, series in closes.items()}
    return {s: np.diff(values) / values[:-1] for s, values in aligned.items()}
