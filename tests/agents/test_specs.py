"""Agent specs are bounded genomes; theses and decisions are typed, and bad ones are refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agents.specs import AgentSpec, Role, Thesis, TradeDecision

THESIS: dict[str, Any] = {
    "symbol": "SPX",
    "stance": "buy",
    "confidence": 0.7,
    "target_weight": 0.5,
    "horizon_days": 20,
    "rationale": "Trend up, breadth improving.",
    "evidence": [{"tool": "get_market_summary", "detail": "SPX 63-bar return +8%"}],
}


def test_a_spec_with_defaults_is_valid() -> None:
    spec = AgentSpec(name="tech-1", role=Role.TECHNICAL_ANALYST, model="fast")
    assert spec.temperature == 0.2
    assert "compute_indicator" in spec.tools


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tools": ["get_price", "rm_rf"]}, "unknown tools ['rm_rf']"),
        ({"tools": ["get_price", "get_price"]}, "listed twice"),
        ({"role": "custom"}, "a custom role needs a persona"),
        ({"persona": "You are a pirate."}, "only a custom role takes one"),
        ({"temperature": 3.0}, "temperature"),
        ({"name": "Bad Name"}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_spec_is_refused_with_the_field(fields: dict[str, Any], message: str) -> None:
    base = {"name": "a1", "role": "bull", "model": "deep"}
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        AgentSpec.model_validate(base | fields)


def test_every_numeric_gene_is_bounded_for_evolution() -> None:
    for name, field in AgentSpec.model_fields.items():
        if field.annotation in (int, float):
            kinds = {type(m).__name__ for m in field.metadata}
            assert kinds & {"Ge", "Gt"}, f"{name} has no lower bound"
            assert kinds & {"Le", "Lt"}, f"{name} has no upper bound"


def test_a_valid_thesis_round_trips_through_json() -> None:
    thesis = Thesis.model_validate(THESIS)
    assert Thesis.model_validate_json(thesis.model_dump_json()) == thesis


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"confidence": 7}, "less than or equal to 1"),
        ({"stance": "moon"}, "'buy', 'sell' or 'hold'"),
        ({"target_weight": -0.3}, "a buy stance needs a positive target_weight"),
        ({"evidence": []}, "at least 1 item"),
        ({"extra": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_theses_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Thesis.model_validate(THESIS | change)


def test_the_thesis_schema_names_its_choices_for_structured_output() -> None:
    schema = Thesis.model_json_schema()
    assert schema["properties"]["stance"]["enum"] == ["buy", "sell", "hold"]
    assert schema["properties"]["confidence"]["maximum"] == 1.0
    assert schema["additionalProperties"] is False


def test_a_trade_decision_is_bounded() -> None:
    with pytest.raises(ValidationError, match="target_weight"):
        TradeDecision(symbol="SPX", action="buy", target_weight=2, confidence=1, rationale="x")
