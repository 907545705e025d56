"""A scripted LLM on loopback that speaks the real wire formats: OpenAI chat completions
(`POST /v1/chat/completions`) and Anthropic messages (`POST /v1/messages`).

A test writes the model's side of the conversation as a script of steps; each request takes
the next step. A request beyond the script gets an HTTP 500 and is recorded in `errors`, and
`assert_done()` fails on unused steps, so a test proves the conversation went exactly as
written.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackServer


@dataclass(frozen=True)
class Say:
    """A final text reply."""

    text: str
    prompt_tokens: int = 20
    completion_tokens: int = 10


@dataclass(frozen=True)
class CallTool:
    """A tool call. `arguments` as a string is sent verbatim (OpenAI), so it can be broken."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str = "call_1"
    prompt_tokens: int = 20
    completion_tokens: int = 10


@dataclass(frozen=True)
class Fail:
    """An HTTP error in the provider's own error format, with the retry hints the providers
    send: `retry-after` (seconds), `retry-after-ms`, and `x-should-retry`."""

    status: int
    message: str = "scripted failure"
    retry_after: float | None = None
    retry_after_ms: float | None = None
    should_retry: bool | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.retry_after is not None:
            headers["retry-after"] = f"{self.retry_after:g}"
        if self.retry_after_ms is not None:
            headers["retry-after-ms"] = f"{self.retry_after_ms:g}"
        if self.should_retry is not None:
            headers["x-should-retry"] = str(self.should_retry).lower()
        return headers


@dataclass(frozen=True)
class Hang:
    """Hold the request without answering until the server stops: the client must time out."""


@dataclass(frozen=True)
class Drop:
    """Reset the connection without an answer, as a server that crashes on a request does
    (llama.cpp's server segfaulted on a large JSON schema)."""


Step = Say | CallTool | list[CallTool] | Fail | Hang | Drop
Script = list[Step] | Callable[[dict[str, Any]], Step]


class FakeLlm(LoopbackServer):
    def __init__(self, script: Script, latency_s: float = 0.0) -> None:
        self._script = script
        self._position = 0
        self.latency_s = latency_s
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.times: list[float] = []  # when each request arrived, on the monotonic clock
        self.errors: list[str] = []
        self.server_seconds = 0.0  # time spent inside the scripted latency, for benchmarks
        self._lock = threading.Lock()
        super().__init__(_Handler)

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def assert_done(self) -> None:
        assert not self.errors, self.errors
        if isinstance(self._script, list):
            unused = self._script[self._position :]
            assert not unused, f"the model's script was not used up: {unused!r}"

    def next_step(self, body: dict[str, Any], path: str) -> Step | None:
        with self._lock:
            self.requests.append(body)
            self.paths.append(path)
            self.times.append(time.monotonic())
            if callable(self._script):
                return self._script(body)
            if self._position >= len(self._script):
                self.errors.append(f"request {len(self.requests)} beyond the script on {path}")
                return None
            step = self._script[self._position]
            self._position += 1
            return step


@contextmanager
def fake_llm(script: Script, latency_s: float = 0.0) -> Iterator[FakeLlm]:
    server = FakeLlm(script, latency_s).start()
    try:
        yield server
    finally:
        server.stop()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLlm
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, the body waits for the
    # client's delayed ACK (about 40 ms on Linux loopback) on every reply. Real servers set
    # TCP_NODELAY too.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        anthropic = self.path.rstrip("/").endswith("/messages")
        if not anthropic and not self.path.rstrip("/").endswith("/chat/completions"):
            self.fake.errors.append(f"unknown endpoint {self.path}")
            self._send(404, {"error": {"message": f"no endpoint {self.path}"}})
            return
        step = self.fake.next_step(body, self.path)
        if step is None:
            self._send(500, _error(anthropic, 500, "unexpected request beyond the script"))
            return
        if isinstance(step, Hang):
            self.fake.hang()
            self.close_connection = True
            return
        if isinstance(step, Drop):
            # Linger 0: close sends a reset (RST), not an orderly end, like a process dying.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if isinstance(step, Fail):
            self._send(step.status, _error(anthropic, step.status, step.message), step.headers())
            return
        if self.fake.latency_s:
            started = time.perf_counter()
            time.sleep(self.fake.latency_s)  # the scripted model's thinking time
            self.fake.server_seconds += time.perf_counter() - started
        model = str(body.get("model", "fake"))
        payload = _anthropic(step, model) if anthropic else _openai(step, model)
        self._send(200, payload)

    def do_GET(self) -> None:  # a local server answering: the provider counts as usable
        self._send(200, {"status": "ok"})

    def _send(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _calls(step: CallTool | list[CallTool]) -> list[CallTool]:
    return step if isinstance(step, list) else [step]


def _openai(step: Say | CallTool | list[CallTool], model: str) -> dict[str, Any]:
    """A chat completion object as OpenAI's API reference documents it (create chat
    completion, the response), tool calls included."""
    if isinstance(step, Say):
        message: dict[str, Any] = {"role": "assistant", "content": step.text, "refusal": None}
        finish, usage = "stop", (step.prompt_tokens, step.completion_tokens)
    else:
        calls = _calls(step)
        message = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {
                        "name": c.name,
                        "arguments": c.arguments
                        if isinstance(c.arguments, str)
                        else json.dumps(c.arguments),
                    },
                }
                for c in calls
            ],
        }
        finish = "tool_calls"
        usage = (calls[0].prompt_tokens, sum(c.completion_tokens for c in calls))
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
    }


def _anthropic(step: Say | CallTool | list[CallTool], model: str) -> dict[str, Any]:
    """A message as Anthropic's Messages API reference documents it, tool_use blocks
    included (a text block first, as Claude writes before its calls)."""
    if isinstance(step, Say):
        content: list[dict[str, Any]] = [{"type": "text", "text": step.text}]
        stop, usage = "end_turn", (step.prompt_tokens, step.completion_tokens)
    else:
        calls = _calls(step)
        content = [{"type": "text", "text": "Let me look that up."}] + [
            {
                "type": "tool_use",
                "id": c.id,
                "name": c.name,
                "input": c.arguments if isinstance(c.arguments, dict) else {"raw": c.arguments},
            }
            for c in calls
        ]
        stop = "tool_use"
        usage = (calls[0].prompt_tokens, sum(c.completion_tokens for c in calls))
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage[0],
            "output_tokens": usage[1],
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _error(anthropic: bool, status: int, message: str) -> dict[str, Any]:
    kind = {429: "rate_limit_error", 401: "authentication_error", 400: "invalid_request_error"}
    error_type = kind.get(status, "api_error")
    if anthropic:
        return {"type": "error", "error": {"type": error_type, "message": message}}
    return {"error": {"message": message, "type": error_type, "code": str(status)}}
