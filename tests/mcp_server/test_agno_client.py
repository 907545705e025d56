"""An agno agent calls our MCP server through agno's MCPTools, driven by a loopback server that
speaks the OpenAI chat-completions wire format: the model asks for get_price, the tool result
travels back to it, and it answers."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from agno.agent import Agent
from agno.models.openai import OpenAIChat
from agno.tools.mcp import MCPTools
from mcp import StdioServerParameters

LAUNCH = ["-c", "from orchestration.cli import main; main()", "mcp", "--as-of", "2008-09-16"]


def completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
    }


TOOL_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_price", "arguments": '{"symbol": "SPX"}'},
        }
    ],
}


class FakeOpenAI(BaseHTTPRequestHandler):
    """A scripted model on the chat-completions wire format. Turn 1: call get_price for SPX.
    Turn 2: quote the price from the tool message. Anything else is an error the test sees."""

    requests: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(body)
        turn = len(self.requests)
        if self.path != "/v1/chat/completions" or turn > 2:
            self.answer(500, {"error": {"message": f"unexpected turn {turn} on {self.path}"}})
        elif turn == 1:
            self.answer(200, completion(TOOL_CALL, "tool_calls"))
        else:
            [tool_message] = [m for m in body["messages"] if m["role"] == "tool"]
            price = json.loads(tool_message["content"])["price"]
            text = {"role": "assistant", "content": f"SPX last closed at {price}."}
            self.answer(200, completion(text, "stop"))

    def answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_llm() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    requests: list[dict[str, Any]] = []
    handler = type("Handler", (FakeOpenAI,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1", requests
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


async def test_agno_agent_calls_get_price_through_mcp(
    fake_llm: tuple[str, list[dict[str, Any]]],
) -> None:
    base_url, requests = fake_llm
    params = StdioServerParameters(command=sys.executable, args=LAUNCH)
    async with MCPTools(server_params=params, timeout_seconds=60) as tools:
        agent = Agent(
            model=OpenAIChat(id="fake-model", base_url=base_url, api_key="test"), tools=[tools]
        )
        response = await agent.arun("What is the S&P 500's last price?")
    assert len(requests) == 2  # the scripted model was used exactly as written
    offered = {t["function"]["name"] for t in requests[0]["tools"]}
    assert "get_price" in offered
    assert "place_order" not in offered  # trading tools are absent without --allow-trading
    [tool_message] = [m for m in requests[1]["messages"] if m["role"] == "tool"]
    assert tool_message["tool_call_id"] == "call_1"
    result = json.loads(tool_message["content"])
    assert result["price"] == "1192.70"  # the real S&P 500 close of 2008-09-15
    assert result["bar"]["time"].startswith("2008-09-15")
    assert response.content == "SPX last closed at 1192.70."
