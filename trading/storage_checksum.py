"""The checksum of a cycle's fills, so a resume can tell that stored fills were changed.

The loop commits each cycle's fills with the sha256 of their canonical form (every column as
exact text, times as UTC ISO strings, rows in trade id order) and their trade ids. A paper
run's resume rebuilds the accounts from the committed decisions and never reads the fills, so
a fill row deleted, duplicated or edited afterwards would go unnoticed while reports and the
track record read it; the checksum catches it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

FILL_FIELDS = (
    "trade_id",
    "order_id",
    "symbol",
    "side",
    "quantity",
    "price",
    "fee",
    "liquidity",
    "time",
)


def fills_checksum(rows: Iterable[Mapping[str, Any]]) -> str:
    """sha256 of the rows' canonical form; the same for the fills as written and as read."""
    canonical = sorted([_text(row[field]) for field in FILL_FIELDS] for row in rows)
    encoded = json.dumps(canonical, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)
