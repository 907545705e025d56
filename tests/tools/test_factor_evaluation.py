"""`evaluate_factor`: hand-computed IC and quintile figures on a small case, and the result at
a moment being the same whether later data exists or not."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from tools.context import ToolContext
from tools.factor_tools import evaluate_factor
from trading.data import Catalog
from trading.data.series import BarSeries, close_only_series
from trading.data.universe import SOURCE_NAME, SP20, UniverseSource
from trading.factor_research import Combination, Indicator, RankedPart, evaluate

ONE_BAR_MOMENTUM = Indicator(name="momentum", window=1)


def small_case() -> pd.DataFrame:
    """Five names over four days; day 1's and day 2's moves set the factor, the next day's
    moves are the forward returns it is judged on."""
    day0 = np.full(5, 100.0)
    day1 = day0 * (1 + np.array([0.01, 0.02, 0.03, 0.04, 0.05]))
    day2 = day1 * (1 + np.array([0.01, 0.02, 0.03, 0.04, 0.05]))
    day3 = day2 * (1 + np.array([0.03, 0.01, 0.02, 0.05, 0.04]))
    index = pd.date_range("2021-01-04", periods=4, freq="D", tz="UTC")
    return pd.DataFrame([day0, day1, day2, day3], index=index, columns=list("ABCDE"))


def test_ic_and_quintiles_match_a_hand_computation() -> None:
    report = evaluate(ONE_BAR_MOMENTUM, small_case(), dates=4)
    lag1, lag5, lag20 = report.ic
    # Day 1: ranks 1..5 against forward ranks 1..5: IC 1. Day 2: ranks 1..5 against 3,1,2,5,4:
    # 1 - 6 * (4 + 1 + 1 + 1 + 1) / (5 * 24) = 0.6. Day 3 has no next day yet.
    assert lag1.dates == 2
    assert lag1.mean == pytest.approx(0.8)
    assert lag1.std == pytest.approx(np.sqrt(0.08))
    assert lag1.t_stat == pytest.approx(0.8 / (np.sqrt(0.08) / np.sqrt(2)))  # 4.0
    assert lag5.mean is None
    assert lag20.dates == 0
    # One name per quintile. Day 1: Q1..Q5 earn 1..5 %; day 2 (same ranks): 3, 1, 2, 5, 4 %.
    assert report.quintile_returns == pytest.approx([0.02, 0.015, 0.025, 0.045, 0.045])
    assert report.monotonic == "no"
    # The top name: E on day 1 and day 2, D on day 3.
    assert report.top_turnover == pytest.approx(0.5)
    assert report.dates == 3


def test_the_direction_and_a_combination_flip_and_rank_the_factor() -> None:
    closes = small_case()
    low = evaluate(ONE_BAR_MOMENTUM.model_copy(update={"direction": "low"}), closes, 4)
    assert low.ic[0].mean == pytest.approx(-0.8)
    assert low.quintile_returns == pytest.approx([0.045, 0.045, 0.025, 0.015, 0.02])
    both = Combination(parts=[RankedPart(indicator=ONE_BAR_MOMENTUM, weight=2.0)])
    assert evaluate(both, closes, 4).ic[0].mean == pytest.approx(0.8)


class CutSource:
    """The bundled universe as it stood at `cut`: no later close exists at all."""

    name = SOURCE_NAME

    def __init__(self, cut: datetime) -> None:
        self.cut = cut

    def symbols(self) -> list[str]:
        return list(SP20)

    def load(self, symbol: str) -> BarSeries:
        whole = UniverseSource().load(symbol)
        frame = whole.to_frame()["close"]
        return close_only_series(symbol, SOURCE_NAME, frame[frame.index < self.cut], 3)


def test_the_result_at_a_moment_is_the_same_whether_later_data_exists_or_not() -> None:
    now = datetime(2012, 7, 2, tzinfo=UTC)
    factor = Combination(
        parts=[
            RankedPart(indicator=Indicator(name="momentum", window=252, skip=21)),
            RankedPart(indicator=Indicator(name="volatility", window=63), weight=-0.5),
        ]
    )
    full = evaluate_factor(ToolContext.paper(Catalog.default(), as_of=now), factor, None, 600)
    cut = evaluate_factor(
        ToolContext.paper(Catalog([CutSource(now)]), as_of=now), factor, None, 600
    )
    assert full == cut
    assert full.last is not None
    assert full.last < now
    assert [s.lag for s in full.ic] == [1, 5, 20]
    assert all(s.t_stat is not None for s in full.ic)
    assert len(full.quintiles) == 5
    assert {c.factor for c in full.fama_french} == {"MKT_RF", "SMB", "HML"}
    assert all(c.correlation is not None and c.months >= 20 for c in full.fama_french)
    assert "survivorship-biased universe" in full.notes[0]
    # A year on, the same factor has seen more: the figures move.
    later = evaluate_factor(
        ToolContext.paper(Catalog.default(), as_of=datetime(2013, 7, 1, tzinfo=UTC)),
        factor,
        None,
        600,
    )
    assert later.ic != full.ic
