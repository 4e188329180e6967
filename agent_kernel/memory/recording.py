"""Record a run: its events as rows, the conversation's messages, committed step by step.

Both are observers of the run: the loop knows nothing of them. A step's rows are committed
together when the step ends (a model reply, a tool result, the end of the run), so a kernel
killed mid-run leaves every finished step readable.
"""

from __future__ import annotations

import datetime as dt

from agent_kernel.events import Event
from agent_kernel.memory.audit import EventRow
from agent_kernel.memory.sessions import now
from agent_kernel.memory.writer import StepWriter
from agent_kernel.runtime.conversation import InMemoryConversation, Message

# Events that end a step: what was queued until then is committed at once.
# An approval request is committed before the run waits, so it outlives the kernel.
STEP_ENDS = frozenset(
    {
        "run_started",
        "model_finished",
        "approval_requested",
        "approval_decided",
        "tool_finished",
        "run_finished",
    }
)
# Streamed text is not a step; the reply's whole text is recorded with model_finished.
NOT_RECORDED = frozenset({"text_delta"})


class StoredConversation(InMemoryConversation):
    """A session's messages: kept in memory for the loop, queued for the store as they come."""

    def __init__(self, session_id: str, messages: list[Message], writer: StepWriter) -> None:
        super().__init__(messages)
        self.session_id = session_id
        self.writer = writer
        self.run_id: str | None = None

    def append(self, message: Message) -> None:
        seq = len(self._messages)
        super().append(message)
        message = self._messages[-1]  # as the conversation keeps it: valid text
        row = [self.session_id, seq, self.run_id, message.get("role", "")]
        self.writer.add(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
            [*row, self.writer.as_json(message), now()],
        )


class EventRecorder:
    """An event observer that writes every step of a run to the store."""

    def __init__(self, writer: StepWriter, session_id: str) -> None:
        self.writer = writer
        self.session_id = session_id

    def __call__(self, event: Event) -> None:
        if event.kind in NOT_RECORDED:
            return
        self.writer.add_event(
            EventRow(
                self.session_id,
                event.run_id,
                event.step,
                event.kind,
                self.writer.as_json(event.data),
                dt.datetime.fromtimestamp(event.time, dt.timezone.utc),
            )
        )
        if event.kind == "run_finished":
            self.writer.add(
                "UPDATE sessions SET last_active = ? WHERE id = ?", [now(), self.session_id]
            )
        if event.kind in STEP_ENDS:
            self.writer.flush()
