"""What a scripted server answers: one `Reply` per Chat Completions request, in order.

A reply is text, tool calls, or a fault (an HTTP error, a delay, a stream cut midway). Scripts
can also be JSON (`Reply.from_dict`) so the server runs from a file on the command line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """A tool call the scripted model makes.

    `arguments` is a dict (sent as JSON) or a raw string, so a test can send malformed
    arguments exactly as a confused model would.
    """

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False)


@dataclass(frozen=True)
class Reply:
    """One answer of the scripted model, or a fault in place of one.

    Args:
        text: Assistant text, streamed in pieces of `chunk_chars` characters.
        tool_calls: Tool calls, streamed after the text (several per reply are fine).
        usage: (prompt_tokens, completion_tokens) to report, or None to report none.
        chunk_chars: Characters per streamed piece of text or tool arguments.
        status: HTTP status; anything but 200 sends `error_message` as an OpenAI error body.
        error_message: The error's message, when `status` is not 200.
        retry_after: Seconds for a `Retry-After` header on an error.
        delay: Seconds to wait before answering at all (for timeouts).
        cut_after: Drop the connection after this many streamed chunks (a cut stream).
        finish_reason: Overrides the finish reason ("stop", or "tool_calls" with calls).
    """

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: tuple[int, int] | None = None
    chunk_chars: int = 16
    status: int = 200
    error_message: str = ""
    retry_after: float | None = None
    delay: float = 0.0
    cut_after: int | None = None
    finish_reason: str | None = None

    @classmethod
    def error(cls, status: int, message: str, *, retry_after: float | None = None) -> Reply:
        """An HTTP error with an OpenAI-style body, e.g. `Reply.error(429, "slow down")`."""
        return cls(status=status, error_message=message, retry_after=retry_after)

    @classmethod
    def slow(cls, seconds: float, text: str = "") -> Reply:
        """A reply that starts only after `seconds`, to exercise timeouts and interrupts."""
        return cls(text=text, delay=seconds)

    @classmethod
    def cut(cls, text: str, *, after: int = 2, chunk_chars: int = 4) -> Reply:
        """A stream that drops the connection after `after` chunks, before it finishes."""
        return cls(text=text, cut_after=after, chunk_chars=chunk_chars)

    @property
    def is_error(self) -> bool:
        return self.status != 200

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        """A reply from JSON: {"text", "tool_calls": [{"name", "arguments", "id"}], "usage",
        "error": {"status", "message", "retry_after"}, "delay", "cut_after", "chunk_chars"}."""
        known = {
            "text",
            "tool_calls",
            "usage",
            "error",
            "delay",
            "cut_after",
            "chunk_chars",
            "finish_reason",
        }
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"unknown reply field(s) {', '.join(sorted(unknown))}; "
                f"use {', '.join(sorted(known))}"
            )
        calls = [
            ToolCall(c["name"], c.get("arguments", {}), c.get("id"))
            for c in data.get("tool_calls", [])
        ]
        error = data.get("error") or {}
        usage = data.get("usage")
        return cls(
            text=data.get("text", ""),
            tool_calls=calls,
            usage=(int(usage[0]), int(usage[1])) if usage else None,
            chunk_chars=int(data.get("chunk_chars", 16)),
            status=int(error.get("status", 200)) if error else 200,
            error_message=str(error.get("message", "")),
            retry_after=error.get("retry_after"),
            delay=float(data.get("delay", 0.0)),
            cut_after=data.get("cut_after"),
            finish_reason=data.get("finish_reason"),
        )


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received: what the client really sent over HTTP."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]


# A script entry is a fixed reply or a function that builds one from the request.
Responder = Callable[[RecordedRequest], Reply]
ScriptItem = Reply | Responder
