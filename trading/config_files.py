"""Reading a YAML config file and saying what is wrong with it, the same way for every file.

Each loader validates into its own closed pydantic model (`trading.closed.Closed`) and names
its entries its own way (a team's members, an arena's entrants); what they share is here: the
file read and parsed, with one line naming the file when it cannot be, and pydantic's message
for one problem in plain words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from trading.errors import ConfigError

__all__ = [
    "UNKNOWN_FIELD",
    "entry_field",
    "entry_label",
    "field_of",
    "problem",
    "read_yaml",
    "validate_mapping",
]

M = TypeVar("M", bound=BaseModel)

UNKNOWN_FIELD = "unknown field; remove it or check its spelling"


def read_yaml(path: Path, what: str | None = None, *, fix: str | None = None) -> Any:
    """The parsed YAML of `path`, not yet checked. A file that cannot be read or parsed is a
    `ConfigError` on one line: the path, `what` the file is, the reason, and `fix` if given."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        subject = f"cannot read {what}" if what else "cannot read"
        hint = f"; {fix}" if fix else ""
        raise ConfigError(f"{path}: {subject} ({error.strerror}){hint}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None


def field_of(loc: Sequence[int | str]) -> str:
    """A pydantic location as a dotted field name (`members.0.spec`)."""
    return ".".join(str(part) for part in loc)


def problem(item: ErrorDetails) -> str:
    """One pydantic error's message in plain words: a forbidden extra field is named as
    unknown, and a validator's own message loses pydantic's "Value error, " prefix."""
    if item["type"] == "extra_forbidden":
        return UNKNOWN_FIELD
    return item["msg"].removeprefix("Value error, ")


def validate_mapping(
    model: type[M],
    raw: Any,
    where: str,
    *,
    not_mapping: Callable[[Any], str],
    explain: Callable[[ValidationError], str],
) -> M:
    """`raw` validated into `model`. Anything wrong is a `ConfigError` that starts with
    `where`: `not_mapping(raw)` when `raw` is no mapping, else `explain` of pydantic's errors."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: {not_mapping(raw)}")
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{where}: {explain(error)}") from None


def entry_label(
    raw: Mapping[str, Any],
    key: str,
    index: int,
    names: Callable[[dict[str, Any]], Iterable[object]],
) -> str:
    """How an error names entry `index` of the list `raw[key]` (a team's members, an arena's
    entrants): the first string of `names(entry)` quoted, with its 1-based position, else the
    position alone (the entry is not a mapping, or names nothing)."""
    entries = raw.get(key)
    if isinstance(entries, list) and index < len(entries) and isinstance(entries[index], dict):
        for label in names(entries[index]):
            if isinstance(label, str):
                return f"{label!r} (#{index + 1})"
    return f"#{index + 1}"


def entry_field(
    loc: Sequence[int | str],
    raw: Mapping[str, Any],
    *,
    key: str,
    noun: str,
    names: Callable[[dict[str, Any]], Iterable[object]],
    whole: str,
) -> str:
    """Where pydantic's location `loc` points, as an error says it: inside an entry of the list
    `raw[key]`, the `noun` and the entry's `entry_label`, then the field within it if any;
    elsewhere the dotted field, or `whole` for the whole file."""
    if len(loc) >= 2 and loc[0] == key and isinstance(loc[1], int):
        rest = field_of(loc[2:])
        return f"{noun} {entry_label(raw, key, loc[1], names)}" + (f": {rest}" if rest else "")
    return field_of(loc) or whole
