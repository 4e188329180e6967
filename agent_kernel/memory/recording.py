"""Record a run: its events and the conversation's messages, made durable step by step.

Both are observers of the run: the loop knows nothing of them. A step's records are journaled
together when the step ends (a model reply, a tool result, the end of the run) and reach the
store in the background, so a kernel killed mid-run loses at most the step in flight, and no
step waits for the database. A problem recording is shown once per run, in the run's cell.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from agent_kernel.events import Event
from agent_kernel.memory.audit import EventRow
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
# Steps after which the store should have the run at once, not in the next batch.
URGENT = frozenset({"approval_requested", "run_finished"})
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
        super().append(message)
        # As the conversation keeps it (valid text).
        self.writer.add_message(self.session_id, self.run_id, self._messages[-1])


class EventRecorder:
    """An event observer that writes every step of a run to the store."""

    def __init__(
        self, writer: StepWriter, session_id: str, report: Callable[[str], None] | None = None
    ) -> None:
        self.writer = writer
        self.session_id = session_id
        self.report = report
        self.reported: str | None = None  # the problem already shown in this run's cell

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
            self.writer.add_activity(self.session_id)
        if event.kind in STEP_ENDS:
            # Before a run waits for a person, its request is on the disk itself, and in the
            # store at once (other tools list pending approvals); other steps go in batches.
            urgent = event.kind in URGENT
            self.writer.flush(to_disk=event.kind == "approval_requested", now=urgent)
            self.show_problem()

    def show_problem(self) -> None:
        """Once per run: what failed to be recorded, what was kept and where the log is."""
        problem = self.writer.problem()
        if problem is None or self.reported is not None or self.report is None:
            return
        self.reported = problem
        self.report(f"recording: {problem}")
