"""The suite's own guard: any attempt to leave the machine fails the test that makes it."""

from __future__ import annotations

import socket
import threading

import pytest


def test_connecting_to_a_public_address_is_refused() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(ConnectionRefusedError, match="loopback"),
    ):
        sock.connect(("93.184.216.34", 80))


def test_resolving_a_public_name_is_refused() -> None:
    with pytest.raises(socket.gaierror, match="only loopback"):
        socket.getaddrinfo("api.openai.com", 443)


def test_loopback_servers_stay_reachable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        accepted = threading.Thread(target=lambda: server.accept()[0].close())
        accepted.start()
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        accepted.join(timeout=5)
