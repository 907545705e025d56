"""Reading a YAML config file and saying what is wrong with it, the same way for every file.

Each loader validates into its own closed pydantic model (`trading.closed.Closed`) and names
its entries its own way (a team's members, an arena's entrants); what they share is here: the
file read and parsed, with one line naming the file when it cannot be, and pydantic's message
for one problem in plain words.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic_core import ErrorDetails

from trading.errors import ConfigError

__all__ = ["UNKNOWN_FIELD", "field_of", "problem", "read_yaml"]

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
