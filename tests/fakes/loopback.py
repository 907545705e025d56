"""What every loopback fake server shares: a threaded HTTP server on a free port of 127.0.0.1,
started and stopped by the test, and a way for a handler to hang until the server stops."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer:
    """Serves `handler` (a `BaseHTTPRequestHandler` subclass), which reaches this object as its
    class attribute `fake`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], poll_interval: float = 0.5) -> None:
        self._released = threading.Event()
        bound = type("Handler", (handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), bound)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()  # hung requests return first, or shutdown would wait for them
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def hang(self) -> None:
        """Hold the request (a timeout test) until the server stops, 30 s at most."""
        self._released.wait(timeout=30)
