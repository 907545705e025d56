"""The VIX and Fama-French factors as point-in-time series the tools read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tools.context import ToolContext
from tools.factors import get_factor_series
from trading.clock import ReplayClock
from trading.data.factors import PointInTimeFactors, bundled_factors
from trading.errors import UnknownSymbolError


def test_a_fama_french_month_is_known_only_once_it_has_ended() -> None:
    clock = ReplayClock(datetime(2018, 10, 31, 23, tzinfo=UTC))
    factors = PointInTimeFactors(bundled_factors(), clock)
    last = factors.series("MKT_RF").index[-1]
    assert last == datetime(2018, 9, 1, tzinfo=UTC)  # October has not ended
    clock.advance_to(datetime(2018, 11, 1, tzinfo=UTC))
    october = factors.series("mkt_rf")
    assert october.index[-1] == datetime(2018, 10, 1, tzinfo=UTC)
    assert october.iloc[-1] == pytest.approx(-0.0768)  # -7.68 % in Ken French's file


def test_a_vix_close_is_known_when_its_day_ends() -> None:
    clock = ReplayClock(datetime(2018, 12, 24, 12, tzinfo=UTC))
    vix = PointInTimeFactors(bundled_factors(), clock).series("VIX")
    assert vix.index[-1] == datetime(2018, 12, 21, tzinfo=UTC)
    assert (
        len(
            PointInTimeFactors(
                bundled_factors(), ReplayClock(datetime(2014, 1, 3, tzinfo=UTC))
            ).series("VIX")
        )
        == 0
    )


def test_the_tool_returns_the_last_values_known_by_now() -> None:
    ctx = ToolContext.paper(as_of=datetime(2016, 1, 1, tzinfo=UTC))
    out = get_factor_series(ctx, "HML", limit=3)
    assert [p.period.month for p in out.points] == [10, 11, 12]
    assert out.frequency == "monthly"
    assert all(p.period < ctx.now for p in out.points)
    with pytest.raises(UnknownSymbolError, match="unknown factor 'XYZ'"):
        get_factor_series(ctx, "XYZ")
