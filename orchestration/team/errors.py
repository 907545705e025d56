"""The team's one error: the coordinator or a track record used in a way that cannot be right.

It is its own module because both raise it and the coordinator reads the track record.
"""

from __future__ import annotations

from trading.errors import FatalError


class CoordinationError(FatalError):
    """The coordinator or a track record was used in a way that cannot be right."""
