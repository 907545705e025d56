"""One model server for the whole real-model session: loading the model takes seconds, and
every test here asks it something."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.real_model.server import ModelServer, ModelUnavailable


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    try:
        server = ModelServer().start()
    except ModelUnavailable as missing:
        # Asked for by `-m real_model`, so a missing model is a failure, not a quiet skip.
        pytest.fail(str(missing), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
