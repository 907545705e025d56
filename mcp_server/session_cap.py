"""A cap on the stateful HTTP sessions one client address may hold, which the SDK lacks.

Clients on the stateless protocol (2026-07-28 and later) open no session and are not counted.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import anyio
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types import INVALID_REQUEST
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_server.session_limits import SessionLimits

_SESSION_HEADER = MCP_SESSION_ID_HEADER.lower().encode("latin-1")
_VERSION_HEADER = MCP_PROTOCOL_VERSION_HEADER.lower().encode("latin-1")


@dataclass
class _Session:
    client: str
    in_flight: int
    idle_since: float


class PerClientSessionCap:
    """ASGI middleware refusing (429) a request that would open a session for a client address
    already holding `max_sessions_per_client`; written by hand because the SDK only bounds the
    total, which lets one client take every slot.

    A session is the client's from the answer that names it (an `mcp-session-id` header on a
    success) until a DELETE ends it, a request for it is answered 404 (the SDK expired or
    dropped it), or it has had no request in flight for `idle_timeout` seconds: the SDK's own
    rule for expiry, counted from the moment the last request returns through here, so never
    before the SDK's own clock has run out. Openings still in flight hold their slot, so
    concurrent initializes cannot slip past the cap.
    """

    def __init__(self, app: ASGIApp, limits: SessionLimits) -> None:
        self.app = app
        self._cap = limits.max_sessions_per_client
        self._idle_timeout = limits.idle_timeout
        self._sessions: dict[str, _Session] = {}
        self._opening: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session_id = _header(scope["headers"], _SESSION_HEADER)
        if session_id is not None:
            await self._serve_in_session(session_id, scope, receive, send)
        elif scope["method"] == "POST" and _may_open_session(scope):
            await self._serve_opening(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _serve_opening(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = _client_address(scope)
        held = self._held_by(client)
        if held >= self._cap:
            await self._refuse(client, held, scope, receive, send)
            return
        self._opening[client] += 1
        opened: _Session | None = None

        async def watch(message: Message) -> None:
            nonlocal opened
            if message["type"] == "http.response.start" and message["status"] < 400:
                session_id = _header(message.get("headers", []), _SESSION_HEADER)
                if session_id is not None:
                    opened = _Session(client, in_flight=1, idle_since=math.inf)
                    self._sessions[session_id] = opened
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self._opening[client] -= 1
            if not self._opening[client]:
                del self._opening[client]
            if opened is not None:
                self._release(opened)

    async def _serve_in_session(
        self, session_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        session = self._sessions.get(session_id)
        if session is None:  # not one we counted: the SDK answers it as it sees fit
            await self.app(scope, receive, send)
            return
        session.in_flight += 1
        status: int | None = None

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self._release(session)
            ended = scope["method"] == "DELETE" and status is not None and status < 300
            if ended or status == 404:
                self._sessions.pop(session_id, None)

    def _release(self, session: _Session) -> None:
        session.in_flight -= 1
        if not session.in_flight:
            session.idle_since = anyio.current_time()

    def _held_by(self, client: str) -> int:
        """The client's open sessions and openings in flight; expired sessions are forgotten."""
        now = anyio.current_time()
        expired = [
            session_id
            for session_id, session in self._sessions.items()
            if not session.in_flight and now - session.idle_since >= self._idle_timeout
        ]
        for session_id in expired:
            del self._sessions[session_id]
        held = sum(1 for session in self._sessions.values() if session.client == client)
        return held + self._opening[client]

    async def _refuse(
        self, client: str, held: int, scope: Scope, receive: Receive, send: Send
    ) -> None:
        idle = f"{self._idle_timeout:g}"
        message = (
            f"too many open sessions from {client} ({held} of {self._cap}): "
            f"end one (HTTP DELETE) or let one sit idle for {idle} s"
        )
        body = {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": INVALID_REQUEST, "message": message},
        }
        retry_after = {"retry-after": str(math.ceil(self._idle_timeout))}
        await JSONResponse(body, status_code=429, headers=retry_after)(scope, receive, send)


def _may_open_session(scope: Scope) -> bool:
    """The SDK's own routing: a request without a protocol-version header, or naming a
    handshake-era version, goes to the stateful path that can open a session; later
    versions are served statelessly."""
    version = _header(scope["headers"], _VERSION_HEADER)
    return version is None or version in HANDSHAKE_PROTOCOL_VERSIONS


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None
