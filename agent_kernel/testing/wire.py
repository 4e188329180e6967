"""The Chat Completions wire format: a `Reply` as a JSON completion or as SSE chunks.

Chunks follow what OpenAI sends: a role chunk, content pieces, each tool call's id and name
first and its arguments in pieces after, a finish chunk, a usage chunk with no choices when
the client asked for `stream_options.include_usage`, then `data: [DONE]`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from agent_kernel.testing.dialects import DIALECTS, ServerDialect
from agent_kernel.testing.script import Reply


def _pieces(text: str, size: int) -> Iterator[str]:
    size = max(1, size)
    for start in range(0, len(text), size):
        yield text[start : start + size]


def _call_id(reply: Reply, index: int, completion_id: str) -> str:
    call = reply.tool_calls[index]
    return call.id or f"call_{completion_id[-8:]}_{index}"


def _finish_reason(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _usage(reply: Reply) -> dict[str, int] | None:
    if reply.usage is None:
        return None
    prompt, completion = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion(reply: Reply, model: str, completion_id: str) -> dict[str, Any]:
    """A non-streamed `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(reply, i, completion_id),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json()},
            }
            for i, call in enumerate(reply.tool_calls)
        ]
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(reply)}],
    }
    usage = _usage(reply)
    if usage is not None:
        body["usage"] = usage
    return body


def stream_chunks(
    reply: Reply,
    model: str,
    completion_id: str,
    include_usage: bool,
    dialect: ServerDialect = DIALECTS["openai"],
) -> Iterator[dict[str, Any]]:
    """The `chat.completion.chunk` objects of a streamed reply, in order, as `dialect`'s
    server sends them."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(reply.text, reply.chunk_chars):
        yield chunk({"content": piece})
    yield from _tool_call_chunks(reply, completion_id, dialect, chunk)
    yield chunk({}, _finish_reason(reply))
    usage = _usage(reply)
    if include_usage and dialect.usage_chunk and usage is not None:
        yield {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
        }


def _tool_call_chunks(
    reply: Reply, completion_id: str, dialect: ServerDialect, chunk: Any
) -> Iterator[dict[str, Any]]:
    """OpenAI: id and name once, then argument pieces. llama-cpp-python: id and name again
    in every piece, beside "content": null. Ollama: each call whole in one delta."""
    for index, call in enumerate(reply.tool_calls):
        whole = call.arguments_json() if dialect.whole_calls else ""
        head: dict[str, Any] = {
            "index": index,
            "id": _call_id(reply, index, completion_id),
            "type": "function",
            "function": {"name": call.name, "arguments": whole},
        }
        if dialect.whole_calls:
            yield chunk({"tool_calls": [head]})
            continue
        if not dialect.repeat_call_head:
            yield chunk({"tool_calls": [head]})
        for piece in _pieces(call.arguments_json(), reply.chunk_chars):
            fragment: dict[str, Any] = {"index": index, "function": {"arguments": piece}}
            if dialect.repeat_call_head:
                fragment = {**head, "function": {"name": call.name, "arguments": piece}}
            delta: dict[str, Any] = {"tool_calls": [fragment]}
            if dialect.null_content_delta:
                delta = {"role": None, "content": None, **delta}
            yield chunk(delta)


def sse_event(data: dict[str, Any] | str) -> bytes:
    """One server-sent event line pair."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    # A lone surrogate in a scripted reply goes out as JSON's `\udcff` escape, as a real
    # server would send it; it cannot be UTF-8 itself.
    return f"data: {text}\n\n".encode("utf-8", "backslashreplace")


def error_body(
    status: int, message: str, dialect: ServerDialect = DIALECTS["openai"]
) -> dict[str, Any]:
    """An error object shaped as `dialect`'s server shapes it (OpenAI's by default)."""
    return dialect.error(status, message)
