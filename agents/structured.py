"""Structured outputs: holding a model to the answer's JSON schema where it can be held.

`providers.yaml` says per model how (`ModelInfo.structured_output`), and the agent asks in
that form:

- `json_schema`: `response_format: {"type": "json_schema", "json_schema": {...}}`, which
  OpenAI, vLLM and LM Studio take as it is and litellm turns into Ollama's `format`;
- `json_mode`: `response_format: {"type": "json_object", "schema": {...}}`, llama.cpp's own
  form (its server answers `json_schema` with HTTP 500);
- `tool_call`: a `submit_thesis` tool whose parameters are the schema; its arguments are the
  answer, and agno ends the run when it is called;
- `none`: the schema is only in the prompt.

Whatever the form, the reply is validated as strictly as ever (`LlmAgent._validate`): a
server may ignore the form, and a model answering in text when offered the tool is still
heard. The forms go out as agno request parameters and an agno tool, not as wire code, so
they reach the provider through whichever agno model class carries the request.

The schema (`answer_schema`) is the `ThesisReply` schema narrowed to one turn, in the subset
grammar engines handle: one object with its evidence inlined (no `$ref`, no `anyOf`), the
symbol asked about and the tools the agent holds as enums, whole-percent integers with their
bounds (the weight's from the agent's `max_weight`), and no string lengths: llama.cpp expands
`maxLength: 2000` into 2000 nested grammar rules, and OpenAI's strict mode refuses the keyword.
Lengths are still checked when the reply validates.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel

from agents.providers import ModelRef, StructuredOutput
from agents.specs import PERCENT, ThesisReply

SUBMIT_TOOL = "submit_thesis"
PROMPT_SOURCE = "prompt"  # what evidence cites for a figure stated in the request
SCHEMA_NAME = "thesis"
_GRAMMAR_UNSAFE = frozenset({"title", "minLength", "maxLength", "default"})


def mode_for(models: Sequence[ModelRef]) -> StructuredOutput:
    """The form an agent asks in: its models' own, when its primary and fallback share one.
    The same request goes to each model in turn, so models that differ get the schema in the
    prompt only ("none") rather than a form one of them refuses."""
    modes = {ref.info.structured_output for ref in models}
    return modes.pop() if len(modes) == 1 else "none"


def weight_bound_pct(max_weight: float) -> int:
    """The largest whole-percent weight within `max_weight` (0.333 allows 33)."""
    return math.floor(round(max_weight * PERCENT, 9))


def answer_schema(symbol: str, tools: Iterable[str], max_weight: float) -> dict[str, Any]:
    """The JSON schema of one turn's answer (see the module's docstring); a fresh copy."""
    schema: dict[str, Any] = copy.deepcopy(
        _answer_schema(symbol, tuple(sorted(set(tools))), max_weight)
    )
    return schema


@functools.cache
def _answer_schema(symbol: str, tools: tuple[str, ...], max_weight: float) -> dict[str, Any]:
    schema = grammar_schema(ThesisReply)
    properties = schema["properties"]
    properties["symbol"]["enum"] = [symbol]
    bound = weight_bound_pct(max_weight)
    properties["target_weight_pct"] |= {"minimum": -bound, "maximum": bound}
    properties["evidence"]["items"]["properties"]["tool"]["enum"] = [*tools, PROMPT_SOURCE]
    return schema


def grammar_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON schema in the subset grammar engines handle (see the module's
    docstring), without the class docstring, which speaks to programmers, not to the model."""
    raw = model.model_json_schema()
    schema: dict[str, Any] = _grammar_safe(_inlined(raw, raw.get("$defs", {})))
    schema.pop("description", None)
    return schema


def request_params(mode: StructuredOutput, schema: dict[str, Any]) -> dict[str, Any]:
    """The request parameters that ask for `schema` in `mode` (none for tool_call and none:
    the first asks through its tool, the second through the prompt)."""
    if mode == "json_schema":
        form = {"name": SCHEMA_NAME, "schema": schema, "strict": True}
        return {"response_format": {"type": "json_schema", "json_schema": form}}
    if mode == "json_mode":
        return {"response_format": {"type": "json_object", "schema": _enumerated(schema)}}
    return {}


# A bounded integer with at most this many values is spelled out as an enum for grammar engines.
MOST_ENUMERATED = 201


def _enumerated(node: Any) -> Any:
    """`node` with each bounded integer also given as an enum of its values: llama-cpp-python's
    schema-to-grammar converter ignores `minimum`/`maximum` (SmolLM2 sent target_weight_pct
    above 100 under json_mode) but follows `enum`, so only an enum keeps the value in range."""
    if isinstance(node, list):
        return [_enumerated(v) for v in node]
    if not isinstance(node, dict):
        return node
    copied = {k: _enumerated(v) for k, v in node.items()}
    low, high = copied.get("minimum"), copied.get("maximum")
    if (
        copied.get("type") == "integer"
        and isinstance(low, int)
        and isinstance(high, int)
        and 0 <= high - low < MOST_ENUMERATED
    ):
        copied["enum"] = list(range(low, high + 1))
    return copied


def submit_tool() -> Any:
    """The agno tool a `tool_call` model answers through; the agent sets its `parameters` to
    each turn's schema (agno copies them into every run)."""
    from agno.tools.function import Function

    def submit_thesis(**answer: Any) -> str:
        return json.dumps(answer)

    return Function(
        name=SUBMIT_TOOL,
        description="Submit your answer: the thesis, as this tool's arguments. Call it once, "
        "when you have gathered your evidence; it ends your turn.",
        entrypoint=submit_thesis,
        skip_entrypoint_processing=True,
        stop_after_tool_call=True,
    )


def submitted(name: str, arguments: object) -> str | None:
    """The answer a `submit_thesis` call carried, as the JSON text a reply would be."""
    if name != SUBMIT_TOOL:
        return None
    return json.dumps(arguments if isinstance(arguments, dict) else {})


def _inlined(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            return _inlined(defs[ref.rsplit("/", 1)[-1]], defs)
        return {k: _inlined(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inlined(v, defs) for v in node]
    return node


def _grammar_safe(node: Any) -> Any:
    if isinstance(node, dict):
        kept = {k: v for k, v in node.items() if k not in _GRAMMAR_UNSAFE}
        # Property names are data, not keywords: a property called "title" must stay.
        return {
            k: (
                {p: _grammar_safe(s) for p, s in v.items()}
                if k == "properties"
                else _grammar_safe(v)
            )
            for k, v in kept.items()
        }
    if isinstance(node, list):
        return [_grammar_safe(v) for v in node]
    return node
