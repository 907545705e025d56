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
from trading.config_files import UNKNOWN_FIELD, problem, read_yaml
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
