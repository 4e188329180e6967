"""Reading a server's refusal: what it refused, in one line, and whether trying again can help.

Servers shape errors differently: OpenAI and llama.cpp nest `{"error": {"message"}}`, vLLM
has put the message at the top level, LM Studio and Ollama sometimes send `{"error": "text"}`,
FastAPI servers answer 422 with `{"detail": [...]}`, and llama-cpp-python wraps its own
pydantic validation failure in an HTTP 500. A request the server finds invalid fails the
same way every time, so it is never retried; a context that is too long gets its own advice.
"""

from __future__ import annotations

import re
from typing import Any

_VALIDATION = re.compile(
    r"validation error|validationerror|input should be|field required|extra inputs are not"
    r"|unrecognized (request )?argument|unsupported (parameter|value)|invalid (type|value)"
    r"|is not (a valid|of type|allowed)|expected (a |an )?(string|str)\b|cannot be null"
    r"|must be a string|unknown (field|parameter)|not supported",
    re.IGNORECASE,
)
_CONTEXT = re.compile(
    r"context length|context window|context size|maximum context|context_length_exceeded"
    r"|exceed_context_size|prompt is too long|too many tokens|exceeds the (available )?context",
    re.IGNORECASE,
)
_REQUESTED = re.compile(
    r"(?:requested|request has|prompt has|n_prompt_tokens\W+|requested tokens \()\s*(\d+)", re.I
)
_WINDOW = re.compile(
    r"(?:maximum context length is|context (?:window|size) of|n_ctx\W+)\s*(\d+)", re.I
)
# What the conservative shape changes; a refusal naming none of it is not about the shape.
_SHAPE = re.compile(
    r"validation error|extra (inputs|fields)|unrecognized|unexpected (keyword|field)"
    r"|additional properties|\bcontent\b|\bnull\b|\bnone\b|stream_options|include_usage"
    r"|parallel[_ ]tool[_ ]calls|tool[_ ]choice|\bstrict\b",
    re.IGNORECASE,
)
MESSAGE_CHARS = 240


def server_message(exc: Any) -> str:
    """The server's own words about a failed request, in whatever shape it sent them."""
    body = getattr(exc, "body", None)
    text = _message_of(body)
    if not text:
        text = str(getattr(exc, "message", "") or "")
    return " ".join(text.split())


def _message_of(body: Any) -> str:
    if isinstance(body, str):
        return body
    if not isinstance(body, dict):
        return ""
    inner = body.get("error")
    if inner is not None and inner is not body:
        found = _message_of(inner)
        if found:
            return found
    if body.get("message"):
        return str(body["message"])
    detail = body.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and detail:  # FastAPI's 422: [{"loc": [...], "msg": ...}]
        first = detail[0] if isinstance(detail[0], dict) else {}
        where = ".".join(str(p) for p in first.get("loc", []))
        count = f"{len(detail)} validation error{'s' if len(detail) > 1 else ''}"
        return f"{count}; first: {where}: {first.get('msg', '')}".strip()
    return ""


def is_context_length(status: int, message: str) -> bool:
    return 400 <= status < 600 and bool(_CONTEXT.search(message))


def is_validation(status: int, message: str) -> bool:
    """A refusal of the request itself: the same request fails the same way again."""
    if status in (401, 403, 404, 408, 409, 429):
        return False
    if 400 <= status < 500:
        return True
    return bool(_VALIDATION.search(message)) and not _looks_transient(message)


def is_shape_refusal(status: int, message: str) -> bool:
    """A validation refusal about something the conservative request shape changes."""
    return is_validation(status, message) and bool(_SHAPE.search(message))


def _looks_transient(message: str) -> bool:
    lowered = message.lower()
    return any(w in lowered for w in ("overloaded", "try again", "unavailable", "loading model"))


def short(message: str) -> str:
    """A pydantic dump or a stack trace cut to what a person reads in one line."""
    pydantic = re.search(r"(\d+) validation errors? for \w+\s+(.*)", message)
    if pydantic:
        message = f"{pydantic.group(1)} validation error(s); first: {pydantic.group(2)}"
    message = " ".join(message.split())
    return message if len(message) <= MESSAGE_CHARS else message[: MESSAGE_CHARS - 1] + "…"


def tokens_in(message: str) -> tuple[int | None, int | None]:
    """(tokens the request had, tokens the model takes) when the server said them."""
    sent = _REQUESTED.search(message)
    window = _WINDOW.search(message)
    return (int(sent.group(1)) if sent else None, int(window.group(1)) if window else None)
