"""Tool calls a model wrote as text, turned into calls when, and only when, they are valid.

Small local models (and servers run without a tool-call parser) often answer with the call in
the content: Hermes/Qwen `<tool_call>{...}</tool_call>`, SmolLM's list inside that tag, a bare
JSON object `{"name": ..., "arguments": ...}`, or Llama 3's `<|python_tag|>`. A call is taken
only if it names a tool the model was given and its arguments are a JSON object that has the
tool's required fields and no field the schema forbids; anything else stays text.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

from agent_kernel.models.base import ToolCallRequest

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_PYTHON_TAG = re.compile(r"<\|python_tag\|>\s*(.*?)\s*(?:<\|eom_id\|>|<\|eot_id\|>|$)", re.DOTALL)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_PYTHON_CALL = re.compile(r"^([A-Za-z_][\w.]*)\.call\((.*)\)$|^([A-Za-z_]\w*)\((.*)\)$", re.DOTALL)


@dataclass(frozen=True)
class TextCalls:
    """What was found: the calls, the text left around them, and the format's name."""

    calls: list[ToolCallRequest]
    text: str
    format: str


def find_text_calls(text: str, tools: list[dict[str, Any]], prefix: str) -> TextCalls | None:
    """The valid tool calls written in `text`, or None if there are none."""
    schemas = {
        t["function"]["name"]: t["function"].get("parameters") or {}
        for t in tools
        if isinstance(t.get("function"), dict) and t["function"].get("name")
    }
    if not schemas or not text.strip():
        return None
    for pattern, form in ((_TAGGED, "<tool_call>"), (_PYTHON_TAG, "<|python_tag|>")):
        blocks = list(pattern.finditer(text))
        if blocks:
            found = [c for b in blocks for c in _calls_in(b.group(1), schemas)]
            rest = pattern.sub("", text).strip()
            return _result(found, rest, form, prefix)
    body = text.strip()
    if not body.startswith(("{", "[", "```")):
        return None  # a bare call is the whole reply; prose with JSON in it stays prose
    fenced = _FENCE.match(body)
    found = _calls_in(fenced.group(1) if fenced else body, schemas, bare=True)
    return _result(found, "", "JSON object", prefix)


def _result(
    found: list[tuple[str, dict[str, Any]]], rest: str, form: str, prefix: str
) -> TextCalls | None:
    if not found:
        return None
    calls = [
        ToolCallRequest(
            f"{prefix}_{i}", name, json.dumps(arguments, ensure_ascii=False), from_text=True
        )
        for i, (name, arguments) in enumerate(found)
    ]
    return TextCalls(calls, rest, form)


def _calls_in(
    block: str, schemas: dict[str, dict[str, Any]], *, bare: bool = False
) -> list[tuple[str, dict[str, Any]]]:
    """(name, arguments) for every valid call in one block: an object, a list of objects, or
    (Llama 3 built-in style) `name.call(key=value)`."""
    try:
        value: Any = json.loads(block)
    except (json.JSONDecodeError, RecursionError):
        value = None if bare else _python_call(block)
    items = value if isinstance(value, list) else [value]
    calls = []
    for item in items:
        call = _as_call(item)
        if call is not None and _valid(call[1], schemas.get(call[0])):
            calls.append(call)
    return calls


def _as_call(item: Any) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(item, dict):
        return None
    function = item.get("function")
    if isinstance(function, dict):  # {"function": {"name", "arguments"}}, OpenAI's own shape
        item = function
    name = item.get("name")
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except (json.JSONDecodeError, RecursionError):
            return None
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return None
    return name, arguments


def _python_call(block: str) -> dict[str, Any] | None:
    match = _PYTHON_CALL.match(block.strip())
    if not match:
        return None
    name, inner = (match.group(1), match.group(2)) if match.group(1) else match.group(3, 4)
    try:
        call = ast.parse(f"f({inner})", mode="eval").body
        if not isinstance(call, ast.Call) or call.args:
            return None
        arguments = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return None
    return {"name": name, "arguments": arguments}


def _valid(arguments: dict[str, Any], schema: dict[str, Any] | None) -> bool:
    """Names a known tool, has its required fields, and none that its schema forbids."""
    if schema is None:
        return False
    properties = schema.get("properties") or {}
    if any(name not in arguments for name in schema.get("required") or []):
        return False
    if (schema.get("additionalProperties") is False or properties) and any(
        name not in properties for name in arguments
    ):
        return False
    return all(_has_type(value, properties.get(name) or {}) for name, value in arguments.items())


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def _has_type(value: Any, schema: dict[str, Any]) -> bool:
    """The JSON type the schema names (any of them, for a list or anyOf); no type, any value."""
    kinds = schema.get("type")
    options = schema.get("anyOf") or schema.get("oneOf")
    if kinds is None and options:
        return any(_has_type(value, o) for o in options if isinstance(o, dict))
    if kinds is None:
        return True
    names = kinds if isinstance(kinds, list) else [kinds]
    if isinstance(value, bool) and "boolean" not in names:
        return False  # JSON true is not the integer 1
    return any(isinstance(value, _JSON_TYPES.get(n, (object,))) for n in names)
