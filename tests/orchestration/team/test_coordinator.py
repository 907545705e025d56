"""The decision coordinator: theses weighed by confidence and track record into one target, with
consensus, dissent and abstentions reported, and hold when too few agents gave a valid view."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.specs import Abstention, Thesis
from orchestration.team.coordinator import (
    Ballot,
    CoordinatedDecision,
    CoordinatorConfig,
    coordinate,
    record_ballots,
    to_decision,
    weight_to_decimal,
)
from orchestration.team.errors import CoordinationError
from orchestration.team.track_record import TrackRecord

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def thesis(stance: str, confidence: float, target: float, symbol: str = "SPX") -> Thesis:
    return Thesis.model_validate(
        {
            "symbol": symbol,
            "stance": stance,
            "confidence": confidence,
            "target_weight": target,
            "horizon_days": 1,
            "rationale": "test",
            "evidence": [{"tool": "get_price", "detail": "test"}],
        }
    )


def abstain(agent: str, reason: str, symbol: str = "SPX") -> Abstention:
    return Abstention(agent=agent, symbol=symbol, reason=reason)


class Fixed:
    """Track-record weights given outright."""

    def __init__(self, **weights: float) -> None:
        self.weights = weights

    def weight(self, agent: str) -> float:
        return self.weights[agent]


def test_unanimous_buy_is_full_consensus_without_dissent() -> None:
    result = coordinate(
        "SPX", {"a": thesis("buy", 0.9, 0.6), "b": thesis("buy", 0.3, 0.2)}, current_weight=0.0
    )
    assert result.action == "buy"
    assert result.consensus == 1.0
    assert result.dissent == ()
    # (0.9 x 0.6 + 0.3 x 0.2) / (0.9 + 0.3) = 0.5
    assert result.target_weight == pytest.approx(0.5)
    # consensus 1 x mean confidence 0.6
    assert result.confidence == pytest.approx(0.6)


def test_one_dissenting_bear_is_reported_with_its_share_and_target() -> None:
    ballots: dict[str, Ballot] = {
        "bull-1": thesis("buy", 0.8, 0.6),
        "bull-2": thesis("buy", 0.6, 0.4),
        "bear": thesis("sell", 0.4, -0.5),
    }
    result = coordinate("SPX", ballots)
    # weights 0.8, 0.6, 0.4 (all track weights neutral): merged = 0.52 / 1.8
    assert result.merged_weight == pytest.approx(0.52 / 1.8)
    assert result.consensus == pytest.approx(1.4 / 1.8)
    (dissent,) = result.dissent
    assert (dissent.agent, dissent.stance, dissent.target) == ("bear", "sell", -0.5)
    assert dissent.share == pytest.approx(0.4 / 1.8)
    assert dissent.gap == pytest.approx(0.52 / 1.8 + 0.5)
    assert "bear (sell, wanted -0.50, 22% of weight)" in result.rationale


def test_abstainers_are_left_out_of_the_weights_and_listed_with_their_reasons() -> None:
    ballots: dict[str, Ballot] = {
        "a": thesis("buy", 0.5, 0.4),
        "b": thesis("buy", 0.5, 0.8),
        "llm": abstain("llm", "invalid JSON after 2 re-asks"),
    }
    result = coordinate("SPX", ballots)
    assert [v.agent for v in result.votes] == ["a", "b"]
    assert sum(v.share for v in result.votes) == pytest.approx(1.0)
    assert result.target_weight == pytest.approx(0.6)
    assert result.abstentions == {"llm": "invalid JSON after 2 re-asks"}
    assert "llm (invalid JSON after 2 re-asks)" in result.rationale


def test_too_few_valid_theses_is_a_hold_with_the_reason() -> None:
    ballots: dict[str, Ballot] = {
        "a": thesis("buy", 0.9, 1.0),
        "llm": abstain("llm", "timeout"),
    }
    result = coordinate("SPX", ballots, current_weight=0.25)
    assert (result.action, result.target_weight, result.merged_weight) == ("hold", 0.25, None)
    assert (result.consensus, result.confidence) == (0.0, 0.0)
    assert "1 valid thesis(es), fewer than the 2 required" in result.rationale
    assert result.abstentions == {"llm": "timeout"}
    # A team of one says so.
    alone = coordinate("SPX", ballots, config=CoordinatorConfig(min_agents=1))
    assert (alone.action, alone.target_weight) == ("buy", 1.0)


def test_theses_without_any_confidence_are_a_hold() -> None:
    result = coordinate("SPX", {"a": thesis("buy", 0.0, 0.5), "b": thesis("sell", 0.0, -0.5)})
    assert result.action == "hold"
    assert "no valid thesis carries any confidence" in result.rationale
    assert [v.weight for v in result.votes] == [0.0, 0.0]


def test_a_hold_thesis_votes_for_the_current_weight_whatever_target_it_states() -> None:
    ballots: dict[str, Ballot] = {"a": thesis("buy", 0.5, 0.8), "b": thesis("hold", 0.5, 0.0)}
    result = coordinate("SPX", ballots, current_weight=0.4)
    hold_vote = result.votes[1]
    assert (hold_vote.stated_target, hold_vote.target) == (0.0, 0.4)
    assert result.target_weight == pytest.approx(0.6)
    assert (result.action, result.consensus) == ("buy", 1.0)  # both want to be long


def test_a_hold_on_a_position_drifted_past_the_unit_range_counts_as_the_bound() -> None:
    ballots: dict[str, Ballot] = {"a": thesis("hold", 0.5, 0.0), "b": thesis("hold", 0.5, 0.0)}
    result = coordinate("SPX", ballots, current_weight=-1.25)
    assert [v.target for v in result.votes] == [-1.0, -1.0]
    assert (result.action, result.target_weight) == ("buy", -1.0)


def test_a_move_within_the_hold_band_keeps_the_position() -> None:
    ballots: dict[str, Ballot] = {"a": thesis("buy", 0.5, 0.51), "b": thesis("buy", 0.5, 0.51)}
    result = coordinate("SPX", ballots, current_weight=0.5)
    assert (result.action, result.target_weight) == ("hold", 0.5)
    assert result.merged_weight == pytest.approx(0.51)
    assert to_decision([result]).targets == {}


def test_a_proven_agent_outweighs_a_newcomer_of_equal_confidence() -> None:
    # The veteran was right on 10 of 10 one-day buy calls.
    record = TrackRecord()
    for i in range(10):
        record = record.with_theses(T0 + timedelta(days=i), [("veteran", thesis("buy", 0.5, 0.5))])
    path = [(T0 + timedelta(days=i), 100.0 + i) for i in range(11)]
    record = record.scored(T0 + timedelta(days=10), {"SPX": path})
    ballots: dict[str, Ballot] = {
        "veteran": thesis("buy", 0.7, 0.6),
        "newcomer": thesis("sell", 0.7, -0.6),
    }
    result = coordinate("SPX", ballots, record)
    # (10 + 5) / 20 = 0.75 shrunk hit rate -> skill 0.25 -> weight 1.5 against 1.0
    assert [v.track_weight for v in result.votes] == pytest.approx([1.0, 1.5])
    assert result.action == "buy"
    assert result.merged_weight == pytest.approx((1.5 * 0.6 - 1.0 * 0.6) / 2.5)
    assert [d.agent for d in result.dissent] == ["newcomer"]


def test_a_poor_record_shrinks_a_vote_but_never_reverses_it() -> None:
    ballots: dict[str, Ballot] = {"good": thesis("buy", 0.5, 0.5), "bad": thesis("sell", 0.5, -0.5)}
    result = coordinate("SPX", ballots, Fixed(good=1.0, bad=0.1))
    assert result.merged_weight is not None
    # The bad bear still pulls the target down from 0.5, only weakly.
    assert 0.0 < result.merged_weight < 0.5
    assert result.votes[0].agent == "bad"
    assert result.votes[0].share == pytest.approx(0.05 / 0.55)


def test_ballots_on_another_symbol_or_under_another_name_are_refused() -> None:
    with pytest.raises(CoordinationError, match="'a' sent a ballot on 'IXIC' to the 'SPX'"):
        coordinate("SPX", {"a": thesis("buy", 0.5, 0.5, symbol="IXIC")})
    with pytest.raises(CoordinationError, match="filed under 'a' names agent 'b'"):
        coordinate("SPX", {"a": abstain("b", "timeout")})
    ballots: dict[str, Ballot] = {"a": thesis("buy", 0.5, 0.5), "b": thesis("buy", 0.5, 0.5)}
    with pytest.raises(CoordinationError, match=r"must be positive and finite, got -1\.0"):
        coordinate("SPX", ballots, Fixed(a=-1.0, b=1.0))


def test_the_result_does_not_depend_on_the_order_of_the_ballots() -> None:
    ballots: dict[str, Ballot] = {
        "c": thesis("sell", 0.3, -0.2),
        "a": thesis("buy", 0.9, 0.7),
        "b": abstain("b", "timeout"),
        "d": thesis("hold", 0.5, 0.0),
    }
    reordered = dict(reversed(list(ballots.items())))
    assert coordinate("SPX", ballots, current_weight=0.1) == coordinate(
        "SPX", reordered, current_weight=0.1
    )


def test_a_decision_round_trips_through_json_for_transcripts() -> None:
    ballots: dict[str, Ballot] = {
        "a": thesis("buy", 0.8, 0.6),
        "b": thesis("sell", 0.4, -0.5),
        "c": abstain("c", "empty reply"),
    }
    result = coordinate("SPX", ballots)
    text = json.dumps(result.model_dump(mode="json"))
    assert CoordinatedDecision.model_validate(json.loads(text)) == result


def test_to_decision_sets_decimal_targets_and_leaves_holds_out() -> None:
    buy = coordinate("SPX", {"a": thesis("buy", 0.5, 0.1), "b": thesis("buy", 0.5, 0.1)})
    held = coordinate("IXIC", {"a": thesis("buy", 0.5, 0.3, symbol="IXIC")})
    decision = to_decision([buy, held])
    assert decision.targets == {"SPX": Decimal("0.100000")}
    assert str(decision.targets["SPX"]) == "0.100000"
    assert decision.details == {
        "SPX.consensus": 1.0,
        "SPX.confidence": 0.5,
        "IXIC.consensus": 0.0,
        "IXIC.confidence": 0.0,
    }
    assert decision.rationale.splitlines() == [buy.rationale, held.rationale]
    with pytest.raises(CoordinationError, match="'SPX' was coordinated twice"):
        to_decision([buy, buy])


def test_weights_become_exact_decimals_and_out_of_range_ones_are_refused() -> None:
    assert weight_to_decimal(-1e-9) == Decimal("0")
    assert str(weight_to_decimal(-1e-9)) == "0.000000"
    assert weight_to_decimal(-0.3333333333) == Decimal("-0.333333")
    with pytest.raises(CoordinationError, match=r"within -1\.\.1, got 1\.5"):
        weight_to_decimal(1.5)


def test_only_valid_theses_are_recorded_for_scoring() -> None:
    ballots: dict[str, Ballot] = {"a": thesis("buy", 0.5, 0.5), "b": abstain("b", "timeout")}
    record = record_ballots(TrackRecord(), T0, ballots)
    assert [(p.agent, p.issued_at) for p in record.pending] == [("a", T0)]


STANCES = st.sampled_from(["buy", "sell", "hold"])


@st.composite
def ballot(draw: st.DrawFn) -> Thesis:
    stance = draw(STANCES)
    if stance == "buy":
        target = draw(st.floats(min_value=1e-6, max_value=1.0))
    elif stance == "sell":
        target = draw(st.floats(min_value=-1.0, max_value=0.0))
    else:
        target = draw(st.floats(min_value=-1.0, max_value=1.0))
    return thesis(stance, draw(st.floats(min_value=0.0, max_value=1.0)), target)


@settings(max_examples=200, deadline=None)
@given(
    theses=st.lists(ballot(), min_size=1, max_size=8),
    track=st.lists(st.floats(min_value=0.1, max_value=3.0), min_size=8, max_size=8),
    current=st.floats(min_value=-1.5, max_value=1.5),  # beyond 1: a position that drifted
)
def test_the_merged_target_lies_within_the_inputs_and_the_unit_range(
    theses: list[Thesis], track: list[float], current: float
) -> None:
    ballots: dict[str, Ballot] = {f"a{i}": t for i, t in enumerate(theses)}
    weights = Fixed(**{f"a{i}": w for i, w in enumerate(track)})
    result = coordinate(
        "SPX", ballots, weights, current_weight=current, config=CoordinatorConfig(min_agents=1)
    )
    assert 0.0 <= result.consensus <= 1.0
    assert 0.0 <= result.confidence <= 1.0
    if result.merged_weight is None:
        assert result.action == "hold"
        return
    targets = [v.target for v in result.votes]
    assert min(targets) <= result.merged_weight <= max(targets)
    assert -1.0 <= result.merged_weight <= 1.0
    assert sum(v.share for v in result.votes) == pytest.approx(1.0)
    assert sum(d.share for d in result.dissent) == pytest.approx(1.0 - result.consensus)
    to_decision([result])  # always convertible


def test_the_team_does_not_act_against_most_of_its_weight() -> None:
    # A bull at +0.90 with 37% of the weight and a bear at -0.10 with 63% average to +0.27:
    # this was a buy, with the weight mostly on sell.
    ballots: dict[str, Ballot] = {
        "bull": thesis("buy", 0.37, 0.9),
        "bear": thesis("sell", 0.63, -0.1),
    }
    result = coordinate("SPX", ballots, current_weight=0.0)
    assert result.merged_weight == pytest.approx(0.27)
    assert result.consensus == pytest.approx(0.37)
    assert (result.action, result.target_weight) == ("hold", 0.0)
    assert "only 37% of the weight is; acting needs 50%" in result.rationale
    assert to_decision([result]).targets == {}
    # The rule is a setting: a team that wants the plain weighted mean sets it to zero.
    plain = coordinate("SPX", ballots, config=CoordinatorConfig(min_consensus=0.0))
    assert (plain.action, plain.target_weight) == ("buy", pytest.approx(0.27))


@settings(max_examples=200, deadline=None)
@given(
    theses=st.lists(ballot(), min_size=1, max_size=8),
    current=st.floats(min_value=-1.0, max_value=1.0),
)
def test_a_buy_or_sell_always_has_at_least_half_of_the_weight_on_its_side(
    theses: list[Thesis], current: float
) -> None:
    ballots: dict[str, Ballot] = {f"a{i}": t for i, t in enumerate(theses)}
    result = coordinate(
        "SPX", ballots, current_weight=current, config=CoordinatorConfig(min_agents=1)
    )
    if result.action != "hold":
        assert result.consensus >= 0.5
