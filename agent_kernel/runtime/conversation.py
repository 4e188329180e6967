"""The conversation: model-facing messages of earlier turns, behind one small interface.

Later `%%agent` cells see earlier turns through it; storage-backed versions replace the
in-memory one without the loop noticing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from agent_kernel.text import clean_data

if TYPE_CHECKING:
    from agent_kernel.models.base import ToolCallRequest

Message = dict[str, Any]


class Conversation(Protocol):
    def messages(self) -> list[Message]:
        """Every message so far, oldest first (a copy the caller may extend)."""
        ...

    def append(self, message: Message) -> None: ...

    def reset(self) -> None: ...

    @property
    def turns(self) -> int:
        """How many requests the conversation holds."""
        ...


class InMemoryConversation:
    """The conversation of one kernel; gone when the kernel restarts."""

    def __init__(self, messages: list[Message] | None = None) -> None:
        # Messages recorded before text was cleaned on the way in are cleaned on the way back.
        self._messages: list[Message] = [clean_data(m)[0] for m in messages or []]

    def messages(self) -> list[Message]:
        return list(self._messages)

    def append(self, message: Message) -> None:
        # One message that cannot be encoded would fail every later model call of the session.
        self._messages.append(clean_data(message)[0])

    def reset(self) -> None:
        self._messages.clear()

    @property
    def turns(self) -> int:
        return sum(1 for m in self._messages if m.get("role") == "user")


def close_unanswered_calls(messages: list[Message], why: str) -> list[Message]:
    """Messages with an error answer after every tool call that has none.

    A run stopped mid-tool (a killed kernel) leaves calls without results, and servers reject
    a conversation with an unanswered call; this keeps the session usable. The answers go after
    the call's existing tool messages, before the next message of any other role.
    """
    repaired: list[Message] = []
    waiting: list[str] = []

    def answer_waiting() -> None:
        for call_id in waiting:
            repaired.append({"role": "tool", "tool_call_id": call_id, "content": f"Error: {why}"})
        waiting.clear()

    for message in messages:
        if message.get("role") == "tool":
            if message.get("tool_call_id") in waiting:
                waiting.remove(message["tool_call_id"])
        else:
            answer_waiting()
        repaired.append(message)
        waiting.extend(call.get("id", "") for call in message.get("tool_calls") or [])
    answer_waiting()
    return repaired


def unanswered_calls(messages: list[Message]) -> list[ToolCallRequest]:
    """The calls of the last assistant message that have no tool answer yet, in order."""
    from agent_kernel.models.base import ToolCallRequest

    answered: set[str] = set()
    for message in reversed(messages):
        if message.get("role") == "tool":
            answered.add(str(message.get("tool_call_id")))
        elif message.get("role") == "assistant":
            return [
                ToolCallRequest(c["id"], c["function"]["name"], c["function"]["arguments"])
                for c in message.get("tool_calls") or []
                if c["id"] not in answered
            ]
        else:
            return []
    return []
