"""Where an agent's tools come from: tradepit's own tools in-process or through its MCP server,
and the external MCP servers a user names, each with an allow-list of its tools.

External servers are third parties: tradepit cannot prove that what they answer was known at
a decision's time. Runs on history therefore refuse them, unless the config marks one
`point_in_time: true`; tradepit then passes the decision time to each of its tools as an
`as_of` argument, and every transcript and report of the run says "external tools,
point-in-time not proven". Runs on a live market (Kraken, paper or live) take them freely.

Secrets are never part of a config: a stdio server gets the *names* of the environment
variables to pass it, an HTTP server the name of the variable holding its bearer token.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal, Self

from pydantic import Discriminator, Field, Tag, model_validator

from trading.closed import Closed
from trading.errors import ConfigError

NOT_PROVEN = "external tools, point-in-time not proven"
OWN_SERVER = "tradepit"  # the name tradepit's own server goes by in stored calls
AS_OF = "as_of"

ServerName = Annotated[
    str, Field(min_length=1, max_length=24, pattern=r"^[a-z][a-z0-9_]*$", description="Short id.")
]
ToolName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
EnvName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Source(Closed):
    name: ServerName
    tools: tuple[ToolName, ...] = Field(
        min_length=1,
        max_length=32,
        description="The allow-list: only these of the server's tools are offered to the agent.",
    )
    point_in_time: bool = Field(
        False,
        description="Mark the server usable on history: tradepit passes each call the decision "
        "time as `as_of`, and the run is marked 'external tools, point-in-time not proven'.",
    )
    call_timeout_s: float = Field(30.0, gt=0, le=600, description="Per tool call.")
    start_timeout_s: float = Field(30.0, gt=0, le=600, description="To start and list tools.")

    @model_validator(mode="after")
    def _distinct_tools(self) -> Self:
        if len(set(self.tools)) != len(self.tools):
            raise ValueError(f"server {self.name!r}: tools are listed twice: {list(self.tools)!r}")
        return self

    def tool_name(self, tool: str) -> str:
        """What the model calls the server's tool: unique across servers and tradepit's own."""
        return f"{self.name}__{tool}"


class StdioSource(_Source):
    """A server tradepit launches as a subprocess and talks to over stdin/stdout."""

    command: str = Field(min_length=1, max_length=512)
    args: tuple[str, ...] = Field((), max_length=64)
    env: tuple[EnvName, ...] = Field(
        (),
        max_length=32,
        description="Names of the environment variables passed to the server (values never "
        "appear in a config, a log or a report).",
    )

    def environment(self) -> dict[str, str]:
        """PATH (so the command resolves) and the variables named, those that are set."""
        names = ("PATH", *self.env)
        return {name: os.environ[name] for name in names if name in os.environ}


class HttpSource(_Source):
    """A server reached over streamable HTTP."""

    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://")
    token_env: EnvName | None = Field(
        None, description="Name of the environment variable holding the bearer token."
    )

    def token(self) -> str | None:
        """The bearer token from its variable; a named variable unset or empty is an error
        that names the variable, never a request sent without it."""
        if self.token_env is None:
            return None
        value = os.environ.get(self.token_env, "")
        if not value:
            raise ConfigError(
                f"MCP server {self.name!r}: its bearer token variable ${self.token_env} is not "
                "set; set it, or remove token_env"
            )
        return value


def _transport(value: Any) -> str:
    if isinstance(value, StdioSource | HttpSource):
        return "stdio" if isinstance(value, StdioSource) else "http"
    if isinstance(value, dict):
        return "http" if "url" in value else "stdio"
    return "stdio"


McpSource = Annotated[
    Annotated[StdioSource, Tag("stdio")] | Annotated[HttpSource, Tag("http")],
    Discriminator(_transport),
]


def check_sources(sources: Sequence[McpSource]) -> None:
    names = [s.name for s in sources]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"mcp_servers are named twice: {twice!r}")
    if OWN_SERVER in names:
        raise ValueError(f"{OWN_SERVER!r} names tradepit's own server; pick another name")


def refuse_on_history(agent: str, sources: Sequence[McpSource]) -> None:
    """A run on history may use an external server only if it is marked point-in-time."""
    unproven = [s.name for s in sources if not s.point_in_time]
    if unproven:
        raise ConfigError(
            f"agent {agent!r}: MCP server {unproven[0]!r} is external and cannot be proven "
            "point-in-time; runs on history (backtest, arena, evolve, trade on bundled data) "
            "refuse it unless its config says point_in_time: true (tradepit then passes the "
            "decision time as as_of), or trade on Kraken"
        )


def caveat(sources: Sequence[McpSource]) -> str | None:
    """What a run's transcripts and reports must say about its tools, if anything."""
    return NOT_PROVEN if sources else None


def tools_caveat(servers: Iterable[str]) -> str | None:
    """What a leaderboard row or a run's report says of agents with external servers, given
    the servers' names (a report covers several agents; a transcript's turn says `caveat`)."""
    names = sorted(set(servers))
    return f"{NOT_PROVEN} (MCP servers: {', '.join(names)})" if names else None


Transport = Literal["memory", "stdio"]
