"""The cross-sectional baselines on the bundled universe, and equal weight checked against the
same rules computed in plain pandas."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from agents.quant import build_quant_agent
from tests.trading.pandas_equal_weight import closes_frame, equal_weight_reference
from trading.data import Catalog
from trading.data.universe import SP20
from trading.factor_research import Indicator, factor_values
from trading.portfolio_strategies import (
    PORTFOLIO_STRATEGIES,
    CrossMomentumParams,
    FactorRankParams,
)
from trading.replay import ReplayConfig, run_replay

START, END = date(2010, 1, 1), date(2019, 12, 31)


def test_equal_weight_over_20_symbols_and_10_years_matches_plain_pandas() -> None:
    catalog = Catalog.default()
    config = ReplayConfig(symbols=SP20, start=START, end=END)
    agent = build_quant_agent("equal_weight", {"weight": 0.95})
    result = asyncio.run(run_replay(agent, catalog, config, run_id="ew"))
    reference = equal_weight_reference(
        closes_frame(catalog, SP20),
        START,
        END,
        cash=config.cash,
        weight=Decimal("0.95"),
        threshold=config.rebalance_threshold,
    )
    decided = {
        d.time.date(): set(d.decision.targets.values())
        for d in result.decisions
        if d.decision.targets
    }
    # The replay decides at a bar's close, stamped the next day at 00:00 UTC.
    assert len(decided) == len(reference.targets) == 120
    assert sorted(decided.values(), key=str)[0] == {Decimal("0.0475")}
    assert all(values == {Decimal("0.0475")} for values in decided.values())
    fills = [(f.time.date(), f.symbol, f.quantity * f.side.sign, f.price) for f in result.fills]
    expected = [(f.day, f.symbol, f.quantity, f.price) for f in reference.fills]
    assert len(fills) > 20
    assert fills == expected
    assert result.final_equity == reference.final_equity
    curve = np.array([float(v) for _, _, v in result.equity])
    assert np.array_equal(curve, reference.equity.to_numpy())


@pytest.mark.parametrize("kind", ["xs_momentum", "low_volatility", "min_variance"])
def test_each_cross_sectional_baseline_trades_the_universe_monthly(kind: str) -> None:
    config = ReplayConfig(symbols=SP20, start=date(2015, 1, 1), end=date(2016, 12, 31))
    result = asyncio.run(
        run_replay(build_quant_agent(kind), Catalog.default(), config, run_id=kind)
    )
    decided = [d for d in result.decisions if d.decision.targets]
    assert len(decided) == 24  # the first bar of each month
    weights = [sum(d.decision.targets.values()) for d in decided]
    assert all(Decimal("0.999") <= w <= Decimal("1.00001") for w in weights)
    held = [sum(1 for w in d.decision.targets.values() if w > 0) for d in decided]
    if kind != "min_variance":
        assert set(held) == {6}  # the top 30 % of 20
    assert result.fills


def test_momentum_ranks_by_the_return_from_12_to_1_months_ago() -> None:
    # The bounds keep a real run at months; the rule is the same over four bars.
    params = CrossMomentumParams.model_construct(lookback=4, skip=1, top=0.5)
    closes = np.array(
        [
            [10.0, 11.0, 12.0, 20.0, 1.0],  # +100 % from 4 to 1 bars ago, then a crash
            [10.0, 10.0, 10.0, 11.0, 50.0],  # +10 %, then a jump the skip leaves out
            [10.0, 9.0, 8.0, 5.0, 5.0],  # -50 %
            [10.0, 10.0, 10.0, 10.0, 10.0],  # flat
        ]
    )
    weights = PORTFOLIO_STRATEGIES["xs_momentum"].weights(params, closes)
    assert weights is not None
    assert weights.tolist() == [0.5, 0.5, 0.0, 0.0]


def test_factor_rank_holds_the_top_quintile_of_the_factor_as_evaluate_factor_ranks_it() -> None:
    params = FactorRankParams(indicator="volatility", window=3, skip=0, direction="low")
    assert params.declaration() == Indicator(name="volatility", window=3, direction="low")
    rng = np.random.default_rng(7)
    scale = np.linspace(0.001, 0.05, 10)  # symbol i's daily volatility grows with i
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 1, (10, 6)) * scale[:, None], axis=1))
    weights = PORTFOLIO_STRATEGIES["factor_rank"].weights(params, closes)
    assert weights is not None
    expected = factor_values(params.declaration(), pd.DataFrame(closes.T)).iloc[-1]
    held = set(np.flatnonzero(weights))
    assert held == set(np.argsort(-expected.to_numpy())[:2])  # a quintile of 10
    assert weights.tolist().count(0.5) == 2


def test_factor_rank_trades_the_universe_monthly() -> None:
    config = ReplayConfig(symbols=SP20, start=date(2015, 1, 1), end=date(2015, 12, 31))
    agent = build_quant_agent("factor_rank", {"indicator": "momentum", "window": 126})
    result = asyncio.run(run_replay(agent, Catalog.default(), config, run_id="fr"))
    decided = [d for d in result.decisions if d.decision.targets]
    assert len(decided) == 12
    held = [sum(1 for w in d.decision.targets.values() if w > 0) for d in decided]
    assert set(held) == {4}  # the top quintile of 20
    assert result.fills
