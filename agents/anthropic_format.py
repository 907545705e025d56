"""Anthropic messages from and to OpenAI chat completions: the gateway's requests become
bodies for `/v1/messages`, and Anthropic's answers come back in the shape agno reads.

The translation is written here rather than left to litellm, which does it too, because litellm
spends about 15 ms of CPU per call on pricing and logging we do ourselves (a no-tool turn took
22 ms through it against 5 ms on the OpenAI wire, bench/agent_overhead.py), and agents run
many calls in parallel on one event loop. It covers what agents send: system, user and
assistant text, tool calls and their results, tool definitions and tool choice. The HTTP side
(auth and version headers, errors) is in `agents.wire`.
"""

from __future__ import annotations

import json
from typing import Any

from agents.usage import count, usage_of

# Anthropic requires max_tokens; agents always set it, a bare request gets this.
DEFAULT_MAX_TOKENS = 4096
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}
# Request fields Anthropic takes as they are; others (seed, response_format) it has no use for.
_PASSED = ("temperature", "top_p")


def anthropic_request(model: str, request: dict[str, Any]) -> dict[str, Any]:
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in request["messages"]:
        role = message["role"]
        if role in ("system", "developer"):
            system.append(_text(message.get("content")))
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message["tool_call_id"],
                "content": _text(message.get("content")),
            }
            _append(messages, "user", [result])
        elif role == "assistant":
            _append(messages, "assistant", _assistant_blocks(message))
        else:
            _append(messages, "user", _user_blocks(message.get("content")))
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": request.get("max_tokens") or DEFAULT_MAX_TOKENS,
    }
    if system:
        body["system"] = "\n\n".join(part for part in system if part)
    body.update({name: request[name] for name in _PASSED if request.get(name) is not None})
    if request.get("stop") is not None:
        stop = request["stop"]
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = request.get("tools") or []
    if tools:
        body["tools"] = [
            {
                "name": tool["function"]["name"],
                "description": tool["function"].get("description") or "",
                "input_schema": tool["function"].get("parameters")
                or {"type": "object", "properties": {}},
            }
            for tool in tools
        ]
        choice = _tool_choice(request.get("tool_choice"))
        if choice is not None:
            body["tool_choice"] = choice
    return body


def openai_response(payload: dict[str, Any]) -> dict[str, Any]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in payload.get("content") or []:
        if block.get("type") == "text":
            text.append(block.get("text") or "")
        elif block.get("type") == "tool_use":
            calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {"name": block["name"], "arguments": json.dumps(block["input"])},
                }
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    usage = usage_of(payload)
    # Cache reads and writes are prompt tokens too, billed apart only by Anthropic's prices.
    prompt = sum(
        count(usage, field)
        for field in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    completion = count(usage, "output_tokens")
    return {
        "id": payload.get("id", ""),
        "object": "chat.completion",
        "created": 0,
        "model": payload.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _FINISH_REASONS.get(payload.get("stop_reason") or "", "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Anthropic takes turns that alternate user and assistant: the results of parallel tool
    calls, and a message after them, join one user turn."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": list(blocks)})


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = _user_blocks(message.get("content"))
    for call in message.get("tool_calls") or []:
        function = call["function"]
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except json.JSONDecodeError:
            arguments = None
        # The model's own call, sent back as history; Anthropic only takes an object here,
        # and an unreadable one has already come back to the model as a tool error.
        blocks.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": function["name"],
                "input": arguments if isinstance(arguments, dict) else {},
            }
        )
    return blocks


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    text = _text(content)
    return [{"type": "text", "text": text}] if text.strip() else []


def _text(content: Any) -> str:
    """Message content as text: a string, or OpenAI's list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text") or "" for part in content if isinstance(part, dict) and "text" in part
    )


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    named = {"auto": "auto", "none": "none", "required": "any"}
    if isinstance(choice, str) and choice in named:
        return {"type": named[choice]}
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "tool", "name": choice["function"]["name"]}
    raise ValueError(f"unsupported tool_choice {choice!r}")
