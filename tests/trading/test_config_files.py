"""Every YAML config file is read, and its problems said, the same way: one line naming the
file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError, model_validator

from agents.manager import load_spec_file
from agents.providers import load_providers
from orchestration.team.config import load_team
from trading.closed import Closed
from trading.config_files import (
    UNKNOWN_FIELD,
    entry_field,
    entry_label,
    problem,
    read_yaml,
    validate_mapping,
)
from trading.errors import ConfigError

BROKEN = "name: [unclosed\nmembers: {\n"


def test_a_missing_file_names_the_file_what_it_is_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as raised:
        read_yaml(path, "the team file", fix="set TRADEPIT_TEAM")
    assert str(raised.value) == (
        f"{path}: cannot read the team file (No such file or directory); set TRADEPIT_TEAM"
    )


@pytest.mark.parametrize("load", [load_team, load_providers, load_spec_file])
def test_invalid_yaml_is_one_line_naming_the_file(
    tmp_path: Path, load: Callable[[Path], object]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: not valid YAML: ")
    assert "\n" not in message


class Point(Closed):
    x: int

    @model_validator(mode="after")
    def _not_negative(self) -> Point:
        if self.x < 0:
            raise ValueError("x must not be negative")
        return self


def test_problem_says_unknown_fields_and_drops_pydantics_prefix() -> None:
    with pytest.raises(ValidationError) as unknown:
        Point.model_validate({"x": 1, "y": 2})
    assert problem(unknown.value.errors()[0]) == UNKNOWN_FIELD
    with pytest.raises(ValidationError) as negative:
        Point.model_validate({"x": -1})
    assert problem(negative.value.errors()[0]) == "x must not be negative"


def test_validate_mapping_names_the_place_for_a_non_mapping_and_for_pydantics_errors() -> None:
    def said(raw: object) -> str:
        with pytest.raises(ConfigError) as raised:
            validate_mapping(
                Point,
                raw,
                "p.yaml",
                not_mapping=lambda raw: f"a point is a mapping, got {type(raw).__name__}",
                explain=lambda error: problem(error.errors()[0]),
            )
        return str(raised.value)

    assert said([1]) == "p.yaml: a point is a mapping, got list"
    assert said({"x": -1}) == "p.yaml: x must not be negative"
    assert validate_mapping(
        Point, {"x": 3}, "p.yaml", not_mapping=str, explain=str
    ) == Point.model_validate({"x": 3})


def test_entry_label_is_the_first_name_given_else_the_position() -> None:
    raw = {"members": [{"agent": "ada"}, {"quant": 7}, "text"]}

    def names(entry: dict[str, object]) -> tuple[object, ...]:
        return (entry.get("agent"), entry.get("quant"))

    assert entry_label(raw, "members", 0, names) == "'ada' (#1)"
    assert entry_label(raw, "members", 1, names) == "#2"  # 7 is no name
    assert entry_label(raw, "members", 2, names) == "#3"  # not a mapping
    assert entry_label(raw, "members", 5, names) == "#6"
    assert entry_label({}, "members", 0, names) == "#1"


def test_entry_field_names_an_entry_by_its_label_then_the_field_inside() -> None:
    raw = {"members": [{"agent": "ada"}]}

    def where(loc: tuple[int | str, ...]) -> str:
        return entry_field(
            loc, raw, key="members", noun="member", names=lambda e: [e.get("agent")], whole="team"
        )

    assert where(("members", 0, "spec", "name")) == "member 'ada' (#1): spec.name"
    assert where(("members", 0)) == "member 'ada' (#1)"
    assert where(("coordinator", "min_agents")) == "coordinator.min_agents"
    assert where(()) == "team"
