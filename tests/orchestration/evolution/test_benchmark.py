"""The benchmark a child must beat out of sample: the replay's own buy and hold over the same
window, scored by the run's fitness metric."""

from __future__ import annotations

import asyncio

import pytest

from agents.quant import build_quant_agent
from orchestration.evolution.benchmark import benchmark_on
from orchestration.evolution.evaluate import window_config
from orchestration.evolution.run import base_config
from orchestration.evolution.walkforward import lay_out, timeline
from tests.orchestration.evolution.configs import quant_config
from trading.data import Catalog
from trading.metrics import compute_metrics
from trading.replay import run_replay

CATALOG = Catalog.default()


@pytest.mark.parametrize("symbols", [["SPX"], ["SPX", "IXIC"]])
def test_the_benchmark_return_is_the_one_a_backtest_of_the_window_reports(
    symbols: list[str],
) -> None:
    config = quant_config(market={"symbols": symbols})
    fold = lay_out(timeline(CATALOG, config.market), config.walk_forward)[-1]
    base = base_config(config)
    benchmark = benchmark_on(CATALOG, base, fold.validation, "sharpe")
    agent = build_quant_agent("sma_cross", {"fast": "5", "slow": "20"})
    replay = asyncio.run(
        run_replay(agent, CATALOG, window_config(base, fold.validation), run_id="bench")
    )
    assert replay.metrics.benchmark_total_return is not None
    assert benchmark.total_return == pytest.approx(replay.metrics.benchmark_total_return, rel=1e-12)
    assert benchmark.name.startswith(("buy and hold of", "equal-weight buy and hold of"))


def test_one_symbols_benchmark_scores_as_holding_it_over_the_window() -> None:
    config = quant_config()
    fold = lay_out(timeline(CATALOG, config.market), config.walk_forward)[0]
    bars = CATALOG.load("SPX").to_frame()["close"]
    days = bars.index.date
    closes = bars[(days >= fold.validation.start) & (days <= fold.validation.end)]
    assert len(closes) == fold.validation.bars
    held = compute_metrics(closes)
    for metric in ("sharpe", "sortino", "calmar"):
        score = benchmark_on(CATALOG, base_config(config), fold.validation, metric).score
        assert score == pytest.approx(getattr(held, metric), rel=1e-9)
