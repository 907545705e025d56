"""Track records: theses scored point-in-time against realised forward returns, shrunk toward a
neutral prior, and saved and restored without changing any weight."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.specs import Thesis
from orchestration.team.errors import CoordinationError
from orchestration.team.track_record import (
    TrackRecord,
    TrackRecordConfig,
    closes_from_view,
    rank_correlation,
)
from tests.helpers import catalog_of, daily_series
from trading.clock import ReplayClock
from trading.data import PointInTimeView

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def thesis(
    stance: str,
    confidence: float = 0.8,
    target: float | None = None,
    *,
    symbol: str = "SPX",
    horizon: int = 5,
) -> Thesis:
    if target is None:
        target = {"buy": 0.5, "sell": -0.5, "hold": 0.0}[stance]
    return Thesis.model_validate(
        {
            "symbol": symbol,
            "stance": stance,
            "confidence": confidence,
            "target_weight": target,
            "horizon_days": horizon,
            "rationale": "test",
            "evidence": [{"tool": "get_price", "detail": "test"}],
        }
    )


def daily(closes: list[float], start: int = 0) -> list[tuple[datetime, float]]:
    """Closes known at the end of consecutive days: the n-th is known at day(start + n)."""
    return [(day(start + i), c) for i, c in enumerate(closes)]


# ---- point in time -------------------------------------------------------------------------------

RISING = daily([100.0 + i for i in range(40)])  # day n closes at 100 + n


def test_a_thesis_is_not_scored_before_its_horizon_has_passed() -> None:
    record = TrackRecord().with_theses(day(10), [("a", thesis("buy", horizon=5))])
    # The whole history is passed, future included: the record must still wait for day 15.
    early = record.scored(day(14.99), {"SPX": RISING})
    assert early.skill("a").scored == 0
    assert len(early.pending) == 1


def test_a_due_thesis_is_scored_against_the_first_close_at_its_due_time() -> None:
    record = TrackRecord().with_theses(day(10), [("a", thesis("buy", horizon=5))])
    scored = record.scored(day(15), {"SPX": RISING})
    (outcome,) = scored.outcomes["a"]
    assert outcome.exit_at == day(15)
    assert outcome.forward_return == pytest.approx(115.0 / 110.0 - 1.0)
    assert scored.pending == ()


def test_a_horizon_ending_between_bars_waits_for_the_next_close() -> None:
    weekdays = [(day(n), 100.0 + n) for n in (0, 1, 2, 3, 4, 7, 8)]  # no bars on days 5, 6
    record = TrackRecord().with_theses(day(4), [("a", thesis("buy", horizon=1))])
    assert record.scored(day(6), {"SPX": weekdays}).skill("a").scored == 0
    (outcome,) = record.scored(day(7), {"SPX": weekdays}).outcomes["a"]
    assert outcome.exit_at == day(7)
    assert outcome.forward_return == pytest.approx(107.0 / 104.0 - 1.0)


@settings(max_examples=60, deadline=None)
@given(
    now=st.integers(min_value=0, max_value=60),
    issued=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=6),
    horizon=st.integers(min_value=1, max_value=20),
    closes=st.lists(st.floats(min_value=1.0, max_value=1000.0), min_size=50, max_size=50),
)
def test_scoring_with_the_future_equals_scoring_with_history_cut_at_now(
    now: int, issued: list[int], horizon: int, closes: list[float]
) -> None:
    history = daily(closes)
    known = [(t, c) for t, c in history if t <= day(now)]
    record = TrackRecord()
    for i, when in enumerate(sorted(issued)):
        record = record.with_theses(
            day(when), [(f"a{i % 2}", thesis("buy" if i % 3 else "sell", horizon=horizon))]
        )
    assert record.scored(day(now), {"SPX": history}) == record.scored(day(now), {"SPX": known})


def test_time_does_not_run_backwards() -> None:
    record = TrackRecord().scored(day(10), {})
    with pytest.raises(CoordinationError, match="cannot score at the earlier"):
        record.scored(day(9), {})


def test_naive_times_and_unsorted_closes_are_refused_with_the_bad_value() -> None:
    with pytest.raises(CoordinationError, match="timezone-aware"):
        TrackRecord().scored(datetime(2020, 1, 1), {})  # noqa: DTZ001 - the naive time under test
    with pytest.raises(CoordinationError, match=r"'2020-01-02T00:00:00\+00:00' follows"):
        TrackRecord().scored(day(5), {"SPX": [(day(3), 1.0), (day(1), 1.0)]})


def test_closes_from_a_point_in_time_view_stop_at_now() -> None:
    series = daily_series("SPX", [10.0, 11.0, 12.0, 13.0, 14.0])
    view = PointInTimeView(catalog_of(series), ReplayClock(day(3)))
    # The daily bar labelled day n closes (becomes known) at day n + 1.
    assert closes_from_view(view, ["SPX"]) == {
        "SPX": [(day(1), 10.0), (day(2), 11.0), (day(3), 12.0)]
    }


# ---- what is scored, and how --------------------------------------------------------------------


def test_holds_are_not_scored_and_sells_count_as_bearish() -> None:
    record = TrackRecord().with_theses(
        day(0), [("a", thesis("hold")), ("b", thesis("sell", target=0.0, horizon=1))]
    )
    assert [p.agent for p in record.pending] == ["b"]
    falling = daily([100.0, 90.0])
    scored = record.scored(day(1), {"SPX": falling})
    assert scored.skill("b").hit_rate == 1.0


def test_a_fixed_evaluation_horizon_overrides_each_thesis() -> None:
    record = TrackRecord(config=TrackRecordConfig(horizon_days=2)).with_theses(
        day(0), [("a", thesis("buy", horizon=30))]
    )
    assert record.pending[0].due == day(2)


def test_ic_matches_a_hand_checked_example() -> None:
    # Convictions rank [5, 4, 2, 3, 1], returns rank [5, 3, 1, 4, 2]: d = [0, 1, 1, -1, -1],
    # sum d^2 = 4, rho = 1 - 6 x 4 / (5 x (25 - 1)) = 0.8. Every direction was right.
    calls = [("buy", 0.9, 0.04), ("buy", 0.5, 0.01), ("sell", 0.2, -0.03), ("buy", 0.1, 0.02)]
    calls.append(("sell", 0.7, -0.01))
    record = TrackRecord().with_theses(
        day(0),
        [("a", thesis(s, c, symbol=f"S{i}", horizon=1)) for i, (s, c, _) in enumerate(calls)],
    )
    closes = {f"S{i}": daily([100.0, 100.0 * (1 + r)]) for i, (*_, r) in enumerate(calls)}
    skill = record.scored(day(1), closes).skill("a")
    assert skill.scored == 5
    assert skill.ic == pytest.approx(0.8)
    assert skill.hit_rate == 1.0


def test_rank_correlation_gives_ties_their_mean_rank() -> None:
    # xs ranks [1.5, 1.5, 3, 4], ys ranks [1, 2, 3, 4]: Pearson of those is 0.9486833.
    assert rank_correlation([1.0, 1.0, 2.0, 3.0], [10.0, 20.0, 30.0, 40.0]) == pytest.approx(
        3 / 10**0.5
    )
    assert rank_correlation([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert rank_correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None
    assert rank_correlation([1.0], [2.0]) is None


def test_ic_is_undefined_for_a_constant_conviction() -> None:
    record = TrackRecord().with_theses(
        day(0), [("a", thesis("buy", 0.8, symbol=f"S{i}", horizon=1)) for i in range(6)]
    )
    closes = {f"S{i}": daily([100.0, 100.0 + i + 1]) for i in range(6)}
    assert record.scored(day(1), closes).skill("a").ic is None


# ---- prior and weights ---------------------------------------------------------------------------


def scored_record(hits: int, misses: int, agent: str = "a", start: int = 0) -> TrackRecord:
    """`agent` made hits + misses one-day buy calls on a series that rises then falls."""
    n = hits + misses
    path = [100.0]
    for i in range(n):
        path.append(path[-1] * (1.01 if i < hits else 0.99))
    record = TrackRecord()
    for i in range(n):
        record = record.with_theses(day(start + i), [(agent, thesis("buy", horizon=1))])
    return record.scored(day(start + n), {"SPX": daily(path, start)})


def test_a_new_agent_starts_at_the_neutral_weight() -> None:
    skill = TrackRecord().skill("newcomer")
    assert (skill.scored, skill.hit_rate, skill.ic, skill.skill, skill.weight) == (
        0,
        None,
        None,
        0.0,
        1.0,
    )


def test_one_lucky_thesis_barely_moves_a_new_agent_while_a_long_record_counts() -> None:
    lucky = scored_record(hits=1, misses=0).skill("a")
    veteran = scored_record(hits=42, misses=18).skill("a")
    assert lucky.hit_rate == 1.0
    # (1 + 5) / (1 + 10) = 0.545 shrunk hit rate -> skill 0.045 -> weight 1.09
    assert lucky.weight == pytest.approx(1.0 + 2 * 0.5 * (2 * 6 / 11 - 1))
    assert lucky.weight < 1.1
    # (42 + 5) / (60 + 10) = 0.671 -> skill 0.171 -> weight 1.34
    assert veteran.weight == pytest.approx(1.0 + 2 * 0.5 * (2 * 47 / 70 - 1))
    assert veteran.weight > lucky.weight


def test_a_bad_record_is_floored_and_never_negative() -> None:
    config = TrackRecordConfig(prior_strength=0.0)
    record = scored_record(hits=0, misses=20).model_copy(update={"config": config})
    skill = record.skill("a")
    # Every call wrong; IC is undefined (one constant conviction) and counts as zero, so
    # skill = 0.5 x (2 x 0 - 1) = -0.5 and 1 + 2 x -0.5 = 0, lifted to the floor.
    assert (skill.hit_rate, skill.ic, skill.skill) == (0.0, None, -0.5)
    assert skill.weight == config.floor > 0


def test_the_window_keeps_only_the_latest_scored_theses() -> None:
    record = scored_record(hits=3, misses=7)
    small = record.model_copy(update={"config": TrackRecordConfig(window=5)})
    rescored = small.with_theses(day(10), [("a", thesis("buy", horizon=1))]).scored(
        day(11), {"SPX": daily([100.0, 101.0], start=10)}
    )
    assert rescored.skill("a").scored == 5


def test_a_saved_record_restores_with_identical_weights_and_pending_theses() -> None:
    record = scored_record(hits=7, misses=3, agent="a")
    record = record.with_theses(day(10), [("a", thesis("buy", horizon=3)), ("b", thesis("sell"))])
    saved = json.dumps(record.to_dict())
    restored = TrackRecord.from_dict(json.loads(saved))
    assert restored == record
    for agent in ("a", "b", "never-seen"):
        assert restored.skill(agent) == record.skill(agent)
    later = {"SPX": daily([100.0 + i for i in range(20)], start=5)}
    assert restored.scored(day(20), later) == record.scored(day(20), later)


def test_a_corrupt_saved_record_is_refused() -> None:
    with pytest.raises(CoordinationError, match="not a saved track record"):
        TrackRecord.from_dict({"pending": "nope"})
