"""How each kind of server speaks, for the scripted server: `ScriptedServer(dialect="llamacpp")`.

Derived from the servers' documented and observed wire formats (llama-cpp-python 0.3's
`llama_chat_format` and `server/errors.py`, vLLM's and LiteLLM's error bodies, Ollama's and
LM Studio's `/v1/models`), so the agent's dialect layer is tested against each in CI without
the servers themselves. The model's words stay scripted; only the protocol changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ErrorShape = Callable[[int, str], dict[str, Any]]


def openai_error(status: int, message: str) -> dict[str, Any]:
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def llamacpp_error(status: int, message: str) -> dict[str, Any]:
    kind = "internal_server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def vllm_error(status: int, message: str) -> dict[str, Any]:
    # vLLM's ErrorResponse is the body itself, not nested under "error".
    return {"object": "error", "message": message, "type": "BadRequestError", "param": None,
            "code": status}  # fmt: skip


def lmstudio_error(status: int, message: str) -> dict[str, Any]:
    return {"error": message}


def litellm_error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": f"litellm.BadRequestError: {message}", "type": None,
                      "param": None, "code": str(status)}}  # fmt: skip


@dataclass(frozen=True)
class ServerDialect:
    """What one kind of server does differently on the wire."""

    name: str
    owned_by: str = "scripted"
    headers: dict[str, str] = field(default_factory=dict)
    repeat_call_head: bool = False  # the call's id and name in every tool-call delta
    whole_calls: bool = False  # each call in one delta, arguments complete
    null_content_delta: bool = False  # "content": null beside tool-call deltas
    refuse_null_content: bool = False  # an assistant message with "content": null -> error
    usage_chunk: bool = True  # honours stream_options.include_usage
    keepalive: float | None = None  # seconds between `: ping` comments while the model works
    refuse_tool_choice_auto: bool = False  # vLLM without --enable-auto-tool-choice
    # llama-cpp-python's chatml-function-calling: a streamed request with tool_choice "auto"
    # whose answer is a tool call raises inside the stream, which then ends with no data.
    cut_streamed_auto_tools: bool = False
    error: ErrorShape = openai_error


DIALECTS: dict[str, ServerDialect] = {
    "openai": ServerDialect("openai"),
    "llamacpp": ServerDialect(
        "llamacpp",
        owned_by="me",
        headers={"server": "uvicorn"},
        repeat_call_head=True,  # as it streams a chosen function (and functionary formats)
        null_content_delta=True,
        cut_streamed_auto_tools=True,
        refuse_null_content=True,
        usage_chunk=False,
        keepalive=15.0,  # sse_starlette's default ping
        error=llamacpp_error,
    ),
    "ollama": ServerDialect("ollama", owned_by="library", whole_calls=True),
    "vllm": ServerDialect("vllm", owned_by="vllm", refuse_tool_choice_auto=True, error=vllm_error),
    "lmstudio": ServerDialect("lmstudio", owned_by="organization_owner", error=lmstudio_error),
    "litellm": ServerDialect(
        "litellm", owned_by="openai", headers={"x-litellm-version": "1.74.0"}, error=litellm_error
    ),
}


def refusal(dialect: ServerDialect, body: dict[str, Any]) -> tuple[int, str] | None:
    """The error this server gives for a request shape it does not accept, if any."""
    if dialect.refuse_null_content:
        bad = [
            i
            for i, m in enumerate(body.get("messages") or [])
            if isinstance(m, dict) and "content" in m and m["content"] is None
        ]
        if bad:
            # llama-cpp-python wraps the pydantic failure of its request model in an HTTP 500.
            first = bad[0]
            return 500, (
                f"{len(bad) * 7} validation errors:\n  {{'type': 'string_type', 'loc': "
                f"('body', 'messages', {first}, 'typed-dict', 'content'), 'msg': 'Input should "
                "be a valid string', 'input': None}"
            )
    if dialect.refuse_tool_choice_auto and body.get("tool_choice") == "auto":
        return 400, (
            '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
        )
    return None
