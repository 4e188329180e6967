"""What differs between OpenAI-compatible servers, in one place.

Every server says it speaks Chat Completions; each speaks its own dialect of it. llama.cpp's
Python server repeats the tool call's name and id in every delta and refuses `content: null`;
vLLM puts its error at the top level of the body; LiteLLM names itself only in headers. A
`Dialect` says what a server accepts, so a request is shaped to it, and how to recognise it
from what it says (`/v1/models` owners, response headers), so `Agent.server = "auto"` works.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

SERVER_NAMES = ("auto", "openai", "llamacpp", "ollama", "vllm", "lmstudio", "litellm")


@dataclass(frozen=True)
class Dialect:
    """What one kind of server accepts in a Chat Completions request."""

    name: str
    null_content: bool = True  # an assistant message with tool calls may say "content": null
    stream_options: bool = True  # {"include_usage": true} is accepted
    parallel_tool_calls: bool = True
    tool_choice: bool = True
    strict: bool = True  # tools[].function.strict
    needs_tool_choice: bool = False  # tools are ignored unless tool_choice is sent
    stream_tools: bool = True  # a request that offers tools may be streamed
    fallback: bool = False  # the conservative shape, after this server refused a request

    @property
    def label(self) -> str:
        return f"{self.name} (conservative)" if self.fallback else self.name

    def conservative(self) -> Dialect:
        """The shape every server in the table accepts: strings for content, no optional
        fields that some schema might refuse."""
        return replace(
            self,
            null_content=False,
            stream_options=False,
            parallel_tool_calls=False,
            tool_choice=self.needs_tool_choice,
            strict=False,
            fallback=True,
        )

    def shape(self, request: dict[str, Any]) -> dict[str, Any]:
        """`request` as this server accepts it; the caller's dict is left as it was."""
        shaped = dict(request)
        for name in ("stream_options", "parallel_tool_calls", "tool_choice"):
            if not getattr(self, name):
                shaped.pop(name, None)
        if not self.null_content:
            shaped["messages"] = [_content_as_text(m) for m in request.get("messages", [])]
        if not self.strict and request.get("tools"):
            shaped["tools"] = [_without_strict(t) for t in request["tools"]]
        return shaped


DIALECTS: dict[str, Dialect] = {
    "openai": Dialect("openai"),
    # llama-cpp-python's server validates messages with pydantic: content must be a string;
    # it ignores stream_options (no usage chunk) and keeps the stream alive with `: ping`;
    # its chatml-function-calling format ignores the tools unless tool_choice is sent, and
    # cannot stream an automatic tool choice (the stream ends empty), so those requests are
    # not streamed. Also what `Agent.server = "llamacpp"` means: it works with both servers.
    "llamacpp": Dialect(
        "llamacpp",
        null_content=False,
        stream_options=False,
        strict=False,
        needs_tool_choice=True,
        stream_tools=False,
    ),
    "ollama": Dialect("ollama", parallel_tool_calls=False, strict=False),
    # tool_choice "auto" is refused unless vLLM runs with --enable-auto-tool-choice; without
    # it, tools still reach the chat template and calls come back as text.
    "vllm": Dialect("vllm", tool_choice=False),
    "lmstudio": Dialect("lmstudio", null_content=False, parallel_tool_calls=False, strict=False),
    "litellm": Dialect("litellm"),
}

# llama.cpp's own C++ `llama-server` (with --jinja) streams tool calls like OpenAI.
LLAMA_SERVER = Dialect("llamacpp", null_content=False, strict=False)

# /v1/models `owned_by` values that name the server (lower case).
_OWNERS = {
    "me": "llamacpp",  # llama-cpp-python's server
    "library": "ollama",
    "ollama": "ollama",
    "vllm": "vllm",
    "organization_owner": "lmstudio",
}


def dialect_named(name: str) -> Dialect:
    return DIALECTS.get(name, DIALECTS["openai"])


def detect(
    headers: Mapping[str, str] | None = None, models: list[dict[str, Any]] | None = None
) -> Dialect:
    """The dialect a server speaks, from what it said about itself; OpenAI's when unsure.

    Headers first (LiteLLM proxies another server's models and owners, so only its headers
    tell), then the `owned_by` of the models it lists.
    """
    lowered = {k.lower(): str(v).lower() for k, v in (headers or {}).items()}
    if any(k.startswith("x-litellm") for k in lowered):
        return DIALECTS["litellm"]
    server = lowered.get("server", "")
    if "llama.cpp" in server or "llama-cpp" in server:
        return LLAMA_SERVER
    for model in models or []:
        if str(model.get("owned_by") or "").lower() == "llamacpp":
            return LLAMA_SERVER
        owner = _OWNERS.get(str(model.get("owned_by") or "").lower(), "openai")
        if owner != "openai":  # OpenAI's owners, or unknown ones: the default dialect
            return DIALECTS[owner]
    return DIALECTS["openai"]


def _content_as_text(message: dict[str, Any]) -> dict[str, Any]:
    if message.get("content") is None and message.get("role") in ("assistant", "tool"):
        return {**message, "content": ""}
    return message


def _without_strict(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function")
    if not isinstance(function, dict) or "strict" not in function:
        return tool
    cleaned = copy.copy(tool)
    cleaned["function"] = {k: v for k, v in function.items() if k != "strict"}
    return cleaned
