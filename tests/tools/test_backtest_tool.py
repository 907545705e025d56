"""backtest_strategy runs declarative specs, never code, and never past now."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from agents.quant import build_quant_agent
from tools.backtest import StrategySpec, backtest_strategy
from tools.context import ToolContext
from trading.costs import CostModel
from trading.errors import ConfigError, LookaheadError
from trading.replay import ReplayConfig, run_replay

SPEC = TypeAdapter(StrategySpec)


@pytest.fixture
def ctx() -> ToolContext:
    return ToolContext.paper(as_of=datetime(2012, 1, 1, tzinfo=UTC))


def test_a_quant_spec_backtests_like_the_agent(ctx: ToolContext) -> None:
    spec = SPEC.validate_python(
        {"type": "quant", "strategy": "sma_cross", "params": {"fast": 10, "slow": 50}}
    )
    result = backtest_strategy(ctx, spec, "SPX", date(2005, 1, 1), date(2010, 12, 31))
    assert result.start.date() == date(2005, 1, 3)
    assert result.end.date() == date(2010, 12, 31)
    assert result.fills > 10
    assert result.metrics.bars > 1000


@pytest.mark.parametrize("borrow", ["0", "0.05"])
async def test_a_quant_spec_takes_the_vectorised_path_where_exact_with_the_replays_result(
    borrow: str,
) -> None:
    costs = CostModel(taker_fee_bps=Decimal(2), borrow_rate=Decimal(borrow))
    ctx = ToolContext.paper(as_of=datetime(2012, 1, 1, tzinfo=UTC), costs=costs)
    raw = {"fast": 10, "slow": 50, "allow_short": True}
    spec = SPEC.validate_python({"type": "quant", "strategy": "sma_cross", "params": raw})
    result = backtest_strategy(ctx, spec, "SPX", date(2005, 1, 1), date(2010, 12, 31))
    config = ReplayConfig(
        symbols=("SPX",), start=date(2005, 1, 1), end=date(2010, 12, 31), costs=costs
    )
    replayed = await run_replay(
        build_quant_agent("sma_cross", raw), ctx.catalog, config, run_id="r"
    )
    assert result.fills == len(replayed.fills) > 10
    assert result.final_equity == replayed.final_equity
    assert result.metrics == replayed.metrics
    if borrow == "0":
        assert (result.path, result.path_reason) == ("vectorised", None)
    else:  # shorts pay borrow on every bar
        assert result.path == "replay"
        assert result.path_reason is not None
        assert "borrow_rate=0.05" in result.path_reason


def rsi_is(period: int, op: str, value: float) -> dict[str, Any]:
    """A rule condition: the RSI over `period` bars is `op` (above or below) `value`."""
    return {
        "left": {"indicator": "rsi", "params": {"period": period}},
        "op": op,
        "right": {"value": value},
    }


def test_rules_over_indicators_enter_and_exit(ctx: ToolContext) -> None:
    spec = SPEC.validate_python(
        {
            "type": "rules",
            "entry": [rsi_is(14, "below", 35)],
            "exit": [rsi_is(14, "above", 60)],
        }
    )
    result = backtest_strategy(ctx, spec, "SPX", date(2008, 1, 1), date(2009, 12, 31))
    assert result.fills >= 2
    assert result.round_trips >= 1
    assert result.path == "replay"
    assert result.path_reason is not None
    assert "rules" in result.path_reason


def test_a_backtest_cannot_reach_past_now(ctx: ToolContext) -> None:
    spec = SPEC.validate_python({"type": "quant", "strategy": "buy_and_hold"})
    with pytest.raises(LookaheadError, match="cannot reach past now"):
        backtest_strategy(ctx, spec, "SPX", date(2011, 1, 1), date(2012, 6, 30))


def test_specs_are_data_and_bad_ones_are_named(ctx: ToolContext) -> None:
    with pytest.raises(ValidationError):
        SPEC.validate_python({"type": "python", "code": "import os"})
    bad = SPEC.validate_python(
        {
            "type": "rules",
            "entry": [{"left": {"indicator": "nope"}, "op": "above", "right": {"value": 1}}],
            "exit": [{"left": {"close": True}, "op": "below", "right": {"value": 1}}],
        }
    )
    with pytest.raises(ConfigError, match="unknown indicator 'nope'"):
        backtest_strategy(ctx, bad, "SPX", date(2008, 1, 1), date(2008, 12, 31))
    unknown = SPEC.validate_python(
        {"type": "quant", "strategy": "sma_cross", "params": {"fats": 3}}
    )
    with pytest.raises(ConfigError, match="unknown parameter 'fats'"):
        backtest_strategy(ctx, unknown, "SPX", date(2008, 1, 1), date(2008, 12, 31))


def test_bad_indicator_parameters_in_rules_list_the_valid_ones(ctx: ToolContext) -> None:
    bad = SPEC.validate_python(
        {
            "type": "rules",
            "entry": [rsi_is(0, "below", 30)],
            "exit": [{"left": {"close": True}, "op": "below", "right": {"value": 1}}],
        }
    )
    with pytest.raises(ConfigError, match=r"indicator 'rsi': parameter 'period'=0"):
        backtest_strategy(ctx, bad, "SPX", date(2008, 1, 1), date(2008, 12, 31))
