"""What the loop needs from a model: a stream of text deltas and retry notices, then a reply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ToolCallRequest:
    """One tool call as the model sent it; `arguments` is the raw JSON text, unparsed."""

    id: str
    name: str
    arguments: str
    from_text: bool = False  # read from the reply's text, not sent as a tool call


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: Usage | None) -> None:
        if other:
            self.prompt_tokens += other.prompt_tokens
            self.completion_tokens += other.completion_tokens


@dataclass
class ModelReply:
    """A finished model call."""

    text: str = ""
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str = ""
    first_token_ms: float | None = None

    def assistant_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        return message


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class RetryNotice:
    """The call failed and will be retried; text streamed so far in this call is void."""

    reason: str
    attempt: int
    max_attempts: int
    wait_seconds: float


@dataclass(frozen=True)
class ModelNotice:
    """Something the trace should say about this call that is not a failure: the request
    shape was narrowed for this server, or tool calls were read from the reply's text."""

    kind: str  # "fallback" | "text_tool_calls" | "dialect"
    text: str


StreamItem = TextDelta | RetryNotice | ModelNotice | ModelReply


class ChatModel(Protocol):
    """Anything that can answer a list of Chat Completions messages, streaming."""

    name: str

    def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[StreamItem]:
        """Yield TextDelta and RetryNotice items, and finally exactly one ModelReply."""
        ...

    async def aclose(self) -> None: ...
