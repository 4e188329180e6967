"""A project's memory as one object: where it lives, its store, and its sessions."""

from __future__ import annotations

from collections.abc import Callable

from agent_kernel.memory.paths import ProjectPaths
from agent_kernel.memory.recording import StoredConversation
from agent_kernel.memory.sessions import SessionLog, SessionRecord, title_from
from agent_kernel.memory.store import Store
from agent_kernel.memory.writer import StepWriter
from agent_kernel.runtime.session import Session


class ProjectMemory:
    """What one kernel reaches of its project's `.agent/` folder."""

    def __init__(
        self, paths: ProjectPaths, user: str, *, warn: Callable[[str], None] | None = None
    ) -> None:
        self.paths = paths
        self.user = user
        self.store = Store(paths.database)
        self.sessions = SessionLog(self.store, paths.notebook, user)
        self.writer = StepWriter(self.store, warn=warn)

    def open_session(self, request: str, *, new: bool = False) -> Session:
        """The notebook's current session with its messages, or a new one titled by `request`."""
        record = None if new else self.sessions.current()
        if record is None:
            record = self.sessions.create(self.writer, title_from(request))
            messages = []
        else:
            messages = self.sessions.messages(record.id)
        return self._session(record, messages)

    def resume(self, wanted: str) -> Session:
        record = self.sessions.resume(wanted)
        return self._session(record, self.sessions.messages(record.id))

    def _session(self, record: SessionRecord, messages: list[dict]) -> Session:
        conversation = StoredConversation(record.id, messages, self.writer)
        return Session(id=record.id, conversation=conversation, title=record.title, stored=True)
