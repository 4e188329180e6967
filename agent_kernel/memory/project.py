"""A project's memory as one object: where it lives, its store, sessions and memories."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property

from agent_kernel.memory import project_files
from agent_kernel.memory.approvals import ApprovalLog, RecordedApproval
from agent_kernel.memory.memories import MemoryBank, Recalled, Scope, search
from agent_kernel.memory.paths import ProjectPaths, user_store_dir
from agent_kernel.memory.recording import StoredConversation
from agent_kernel.memory.sessions import SessionLog, SessionRecord, now, title_from
from agent_kernel.memory.store import Store
from agent_kernel.memory.vectors import VectorIndex, shared_index
from agent_kernel.memory.writer import StepWriter
from agent_kernel.runtime.approval import ApprovalDecision
from agent_kernel.runtime.context import Remembered, turn_text
from agent_kernel.runtime.conversation import close_unanswered_calls
from agent_kernel.runtime.session import Session

TURNS = "turns"


class ProjectMemory:
    """What one kernel reaches of its project's `.agent/` folder and of its user's memory."""

    def __init__(
        self, paths: ProjectPaths, user: str, *, warn: Callable[[str], None] | None = None
    ) -> None:
        self.paths = paths
        self.user = user
        self.store = Store(paths.database)
        self.sessions = SessionLog(self.store, paths.notebook, user)
        self.writer = StepWriter(self.store, warn=warn)
        self._warn = warn

    # -- sessions ---------------------------------------------------------------------------
    def open_session(self, request: str, *, new: bool = False) -> Session:
        """The notebook's current session with its messages, or a new one titled by `request`."""
        record = None if new else self.sessions.current()
        if record is None:
            record = self.sessions.create(self.writer, title_from(request))
            return self._session(record, [])
        return self._continued(record)

    def resume(self, wanted: str) -> Session:
        return self._continued(self.sessions.resume(wanted))

    def resume_for_approval(self, session_id: str) -> Session:
        """The session of a recorded approval, exactly as recorded, made current here."""
        record = self.sessions.resume(session_id)
        return self._session(record, self.sessions.messages(record.id))

    def answer_call(self, approval: RecordedApproval, content: str) -> None:
        """Record the answer to a call that will not run, so the session stays valid."""
        # After the last recorded message (its count could collide where numbers have gaps).
        seq = self.store.query(
            "SELECT coalesce(max(seq) + 1, 0) FROM messages WHERE session_id = ?",
            [approval.session_id],
        )[0][0]
        message = {"role": "tool", "tool_call_id": approval.call_id, "content": content}
        self.writer.add(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
            [
                approval.session_id,
                seq,
                approval.run_id,
                "tool",
                self.writer.as_json(message),
                now(),
            ],
        )
        self.writer.flush()

    def _continued(self, record: SessionRecord) -> Session:
        """A recorded session to continue with a new request: a run stopped midway (a killed
        kernel, an approval that never came) gets its unanswered calls answered, on record."""
        recorded = self.sessions.messages(record.id)
        waiting = ApprovalLog(self.store).pending(record.id)
        for approval in waiting:
            decision = ApprovalDecision(
                False, self.user, "restart", "the kernel stopped; a new request came first"
            )
            ApprovalLog(self.store).record(approval, decision, self.writer)
            if self._warn is not None:
                self._warn(
                    f"{approval.tool} ({approval.id}) was waiting for approval when the kernel "
                    "stopped; it was not run. Ask again to run it."
                )
        why = (
            "not run: it was waiting for approval when the kernel stopped"
            if waiting
            else "not finished: the kernel stopped while this call ran; check its effects first"
        )
        repaired = close_unanswered_calls(recorded, why)
        session = self._session(record, recorded)
        if repaired[: len(recorded)] == recorded:  # answers go at the end: keep them on record
            for message in repaired[len(recorded) :]:
                session.conversation.append(message)
        else:
            session.conversation = StoredConversation(record.id, repaired, self.writer)
        return session

    def _session(self, record: SessionRecord, messages: list[dict]) -> Session:
        conversation = StoredConversation(record.id, messages, self.writer)
        return Session(id=record.id, conversation=conversation, title=record.title, stored=True)

    # -- memories ---------------------------------------------------------------------------
    @cached_property
    def index(self) -> VectorIndex:
        return shared_index(self.paths.chroma_dir)

    @cached_property
    def project_memories(self) -> MemoryBank:
        return MemoryBank(self.store, self.index, "project")

    @cached_property
    def user_memories(self) -> MemoryBank:
        folder = user_store_dir()
        return MemoryBank(Store(folder / "agent.duckdb"), shared_index(folder / "chroma"), "user")

    def bank(self, scope: Scope) -> MemoryBank:
        return self.user_memories if scope == "user" else self.project_memories

    def bank_of(self, memory_id: str) -> MemoryBank:
        """The bank holding `memory_id` (project first); the project's if neither does."""
        for bank in (self.project_memories, self.user_memories):
            if bank.owns(memory_id):
                return bank
        return self.project_memories

    def recall(self, query: str, k: int = 5) -> list[Recalled]:
        """The best memories of the project and of the user for `query`, best first."""
        found = self.project_memories.recall(query, k)
        if (user_store_dir() / "chroma").exists():  # no personal memories yet: no cost
            found += self.user_memories.recall(query, k)
        return sorted(found, key=lambda r: -r.score)[:k]

    # -- project files ----------------------------------------------------------------------
    def learn(self, pattern: str) -> project_files.LearnReport:
        return project_files.learn(self.paths.project_dir, pattern, self.store, self.index)

    def search_files(self, query: str, k: int = 5) -> list[Recalled]:
        """Chunks of learned files for `query`, by meaning and by exact names."""
        return search(self.index, project_files.COLLECTION, query, k)

    # -- earlier turns ----------------------------------------------------------------------
    def has_recallable(self) -> bool:
        """Whether the project holds anything to recall; a new project skips loading the
        embedding model (seconds) on its first request."""
        rows = self.store.query(
            "SELECT (SELECT count(*) FROM memories WHERE superseded_by IS NULL AND forgotten "
            "IS NULL) + (SELECT count(*) FROM runs WHERE status = 'answered')"
        )
        return bool(rows and rows[0][0]) or (user_store_dir() / "chroma").exists()

    @cached_property
    def _background(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-kernel-index")

    def index_turn_later(
        self, session: Session, run_id: str, request: str, answer: str, *, trusted: bool = True
    ) -> Future[None]:
        """Index a finished turn on a worker thread, so the cell ends when its answer is shown
        (the first indexing loads the embedding model)."""
        return self._background.submit(
            self.index_turn, session, run_id, request, answer, trusted=trusted
        )

    def index_turn(
        self, session: Session, run_id: str, request: str, answer: str, *, trusted: bool = True
    ) -> None:
        """Keep a finished turn findable after it leaves the recent window. An answer written
        with untrusted content in view may repeat it, so such a turn is recalled as data."""
        meta: dict[str, str | int | float | bool] = {
            "kind": "turn",
            "source": f"session {session.title or session.id}",
            "session_id": session.id,
            "trust": "trusted" if trusted else "untrusted",
        }
        self.index.upsert(TURNS, [run_id], [turn_text(request, answer)], [meta])

    def recall_turns(self, query: str, k: int = 4) -> list[Recalled]:
        return search(self.index, TURNS, query, k)

    # -- what the context builder recalls ---------------------------------------------------
    def context_memories(self, request: str) -> list[Remembered]:
        return [
            Remembered(r.id, r.text, f"{r.scope} {r.kind} {r.id}", r.trust == "trusted")
            for r in self.recall(request, 8)
        ]

    def context_turns(self, request: str) -> list[Remembered]:
        return [
            Remembered(r.text, r.text, r.source, r.trust == "trusted")
            for r in self.recall_turns(request, 4)
        ]
