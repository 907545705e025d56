"""The one base of tradepit's pydantic records: frozen (a validated value never changes under
its reader) and closed (an unknown field is an error that names it, not a typo quietly ignored).
Configs, specs, theses and reports all derive from it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Closed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
