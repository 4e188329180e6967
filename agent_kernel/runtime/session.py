"""A session: one notebook's ongoing conversation with the agent."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from agent_kernel.events import new_id
from agent_kernel.runtime.conversation import Conversation, InMemoryConversation


@dataclass
class Session:
    """Which conversation a `%%agent` cell continues; `%%agent --new` starts another."""

    id: str = field(default_factory=lambda: new_id("ses_"))
    conversation: Conversation = field(default_factory=InMemoryConversation)
    started: float = field(default_factory=time.time)
    runs: int = 0
