"""A session: one notebook's ongoing conversation with the agent."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from agent_kernel.events import new_id
from agent_kernel.runtime.conversation import Conversation, InMemoryConversation


@dataclass
class Session:
    """Which conversation a `%%agent` cell continues; `%%agent --new` starts another.

    `stored` sessions live in the project store and continue after a kernel restart; the
    others (no store available) end with the kernel.
    """

    id: str = field(default_factory=lambda: new_id("ses_"))
    conversation: Conversation = field(default_factory=InMemoryConversation)
    title: str = ""
    stored: bool = False
    started: float = field(default_factory=time.time)
    runs: int = 0
