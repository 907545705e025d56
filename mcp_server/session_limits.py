"""How many stateful HTTP sessions the MCP server keeps, per client and in all, and how long
an idle one lives.

The SDK's session manager bounds the total (`max_sessions`, answered 503) and expires idle
sessions (`session_idle_timeout`), but its defaults of 10,000 sessions and 30 minutes let one
local client open 10,000 sessions in 44 s and lock every other client out (503) for half an
hour. A trading server has a handful of clients, so the bounds here are small, and add the one
the SDK lacks: a cap per client address (`session_cap`).

Kept free of the SDK's imports: the CLI reads the defaults for its --help.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trading.errors import ConfigError

DEFAULT_MAX_SESSIONS = 16
DEFAULT_IDLE_TIMEOUT = 300.0  # seconds
DEFAULT_MAX_SESSIONS_PER_CLIENT = 4


@dataclass(frozen=True)
class SessionLimits:
    """Bounds on the stateful HTTP sessions: `max_sessions` open at once in all,
    `max_sessions_per_client` of them from one client address, and `idle_timeout` seconds
    without a request in flight before a session is closed."""

    max_sessions: int = DEFAULT_MAX_SESSIONS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_sessions_per_client: int = DEFAULT_MAX_SESSIONS_PER_CLIENT

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise ConfigError(f"max_sessions must be at least 1, got {self.max_sessions!r}")
        if self.max_sessions_per_client < 1:
            raise ConfigError(
                f"max_sessions_per_client must be at least 1, got {self.max_sessions_per_client!r}"
            )
        if not (math.isfinite(self.idle_timeout) and self.idle_timeout > 0):
            raise ConfigError(
                "idle_timeout must be a finite number of seconds above 0, "
                f"got {self.idle_timeout!r}"
            )
