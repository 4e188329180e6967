"""The conversation: model-facing messages of earlier turns, behind one small interface.

Later `%%agent` cells see earlier turns through it; storage-backed versions replace the
in-memory one without the loop noticing.
"""

from __future__ import annotations

from typing import Any, Protocol

Message = dict[str, Any]


class Conversation(Protocol):
    def messages(self) -> list[Message]:
        """Every message so far, oldest first (a copy the caller may extend)."""
        ...

    def append(self, message: Message) -> None: ...

    def reset(self) -> None: ...


class InMemoryConversation:
    """The conversation of one kernel; gone when the kernel restarts."""

    def __init__(self) -> None:
        self._messages: list[Message] = []

    def messages(self) -> list[Message]:
        return list(self._messages)

    def append(self, message: Message) -> None:
        self._messages.append(message)

    def reset(self) -> None:
        self._messages.clear()

    @property
    def turns(self) -> int:
        return sum(1 for m in self._messages if m.get("role") == "user")
