"""A project's memory as one object: where it lives, its store, sessions and memories.

Memories, turns and learned files are written to the text index at once and embedded by the
memory worker, a low-priority process that starts the first time there is something to index
or recall (`memory/indexer.py`); the kernel never loads chromadb or the model itself.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from agent_kernel.errors import AgentError
from agent_kernel.memory import project_files
from agent_kernel.memory.approvals import ApprovalLog, RecordedApproval
from agent_kernel.memory.index import MemoryIndex, terms_path
from agent_kernel.memory.indexer import MemoryWorker
from agent_kernel.memory.memories import MemoryBank, Recalled, Scope, search
from agent_kernel.memory.paths import ProjectPaths, user_store_dir
from agent_kernel.memory.recording import StoredConversation
from agent_kernel.memory.sessions import SessionLog, SessionRecord, title_from
from agent_kernel.memory.store import STORE_FAULTS, Store
from agent_kernel.memory.terms import TermIndex
from agent_kernel.memory.vectors import Location
from agent_kernel.memory.writer import shared_writer
from agent_kernel.runtime.approval import ApprovalDecision
from agent_kernel.runtime.context import Remembered, turn_text
from agent_kernel.runtime.conversation import close_unanswered_calls
from agent_kernel.runtime.session import Session

TURNS = "turns"
# The explicit recall and search tools wait this long for the worker (its first start loads
# chromadb and the model); recall for the context never waits.
TOOL_WAIT_SECONDS = 60.0
# A read waits this long for another program's lock, then says so in one line (runs do not
# need the store: they journal; a command can be run again).
READ_LOCK_WAIT = 2.0
SYNC_SECONDS = 5.0  # reads of this kernel's latest records wait this long for the writer


class ProjectMemory:
    """What one kernel reaches of its project's `.agent/` folder and of its user's memory."""

    def __init__(
        self,
        paths: ProjectPaths,
        user: str,
        *,
        warn: Callable[[str], None] | None = None,
        chroma_url: str = "",
        chroma_headers_env: str = "",
        project_name: str = "",
    ) -> None:
        self.paths = paths
        self.user = user
        self.store = Store(paths.database, lock_wait=READ_LOCK_WAIT)
        self.sessions = SessionLog(self.store, paths.notebook, user)
        self.writer = shared_writer(self.store)
        self._warn = warn
        self.worker = MemoryWorker(paths.database.parent / "memory-worker.log")
        self.local_location = Location(path=str(paths.chroma_dir.resolve()))
        self.location = self.local_location
        if chroma_url:
            name = project_name or paths.project_dir.resolve().name
            self.location = Location(url=chroma_url, prefix=name, headers_env=chroma_headers_env)
        self._said: set[str] = set()

    def sync(self, timeout: float = SYNC_SECONDS) -> bool:
        """Wait (interruptibly) until this kernel's records and dead kernels' journals are in
        the store, so a read sees them; False (the store is refusing) after `timeout`."""
        return self.writer.sync(timeout)

    # -- sessions ---------------------------------------------------------------------------
    def open_session(self, request: str, *, new: bool = False) -> Session:
        """The notebook's current session with its messages, or a new one titled by `request`.
        A notebook with no name gets a session per kernel; a named notebook's session that
        another live kernel is writing is not shared unless asked for (`%agent resume`)."""
        record = None
        if not new and self.paths.notebook:
            record = self._current_or_note()
        if record is None:
            record = self.sessions.create(self.writer, title_from(request))
            return self._session(record, [])
        return self._continued(record)

    def _current_or_note(self) -> SessionRecord | None:
        self.sync()
        try:
            record = self.sessions.current()
        except STORE_FAULTS as exc:
            self._say(
                f"the notebook's session could not be read ({exc}); this run starts a new one"
            )
            return None
        if record is not None and not self.sessions.lease(record):
            self._say(
                f"another kernel is writing this notebook's session {record.id}, so this kernel "
                f"starts its own (to share it instead: %agent resume {record.id})"
            )
            return None
        return record

    def _say(self, text: str) -> None:
        if self._warn is not None:
            self._warn(text)

    def resume(self, wanted: str) -> Session:
        self.sync()
        return self._continued(self.sessions.resume(wanted, self.writer))

    def resume_for_approval(self, session_id: str) -> Session:
        """The session of a recorded approval, exactly as recorded, made current here."""
        self.sync()
        record = self.sessions.resume(session_id, self.writer)
        return self._session(record, self.sessions.messages(record.id))

    def answer_call(self, approval: RecordedApproval, content: str) -> None:
        """Record the answer to a call that will not run, so the session stays valid (it takes
        the session's next number when it is ingested)."""
        message = {"role": "tool", "tool_call_id": approval.call_id, "content": content}
        self.writer.add_message(approval.session_id, approval.run_id, message)
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
    def index(self) -> MemoryIndex:
        """The project's index; its text is rebuilt from the store when it is missing."""
        terms = TermIndex(terms_path(self.paths.chroma_dir, self.location))
        index = MemoryIndex(self.location, terms, self.worker)
        if not terms.exists() and self.paths.database.exists():
            self._rebuild_text(index, MemoryBank(self.store, index, "project"))
        return index

    @cached_property
    def project_memories(self) -> MemoryBank:
        return MemoryBank(self.store, self.index, "project")

    @cached_property
    def user_memories(self) -> MemoryBank:
        folder = user_store_dir()
        location = Location(path=str((folder / "chroma").resolve()))
        terms = TermIndex(folder / "recall.sqlite")
        index = MemoryIndex(location, terms, self.worker)
        bank = MemoryBank(Store(folder / "agent.duckdb"), index, "user")
        if not terms.exists() and (folder / "agent.duckdb").exists():
            bank.rebuild_rows()
        return bank

    def bank(self, scope: Scope) -> MemoryBank:
        return self.user_memories if scope == "user" else self.project_memories

    def bank_of(self, memory_id: str) -> MemoryBank:
        """The bank holding `memory_id` (project first); the project's if neither does."""
        for bank in (self.project_memories, self.user_memories):
            if bank.owns(memory_id):
                return bank
        return self.project_memories

    def recall(self, query: str, k: int = 5, *, wait: float = TOOL_WAIT_SECONDS) -> list[Recalled]:
        """The best memories of the project and of the user for `query`, best first.
        `wait`: how long to wait for the worker's meaning-based search (0 for the context)."""
        found = self.project_memories.recall(query, k, wait=wait)
        if _has_user_memories():  # no personal memories yet: no cost
            found += self.user_memories.recall(query, k, wait=wait)
        return sorted(found, key=lambda r: -r.score)[:k]

    # -- project files ----------------------------------------------------------------------
    def learn(self, pattern: str) -> project_files.LearnReport:
        return project_files.learn(self.paths.project_dir, pattern, self.store, self.index)

    def search_files(
        self, query: str, k: int = 5, *, wait: float = TOOL_WAIT_SECONDS
    ) -> list[Recalled]:
        """Chunks of learned files for `query`, by meaning and by exact names."""
        if wait > 0:
            self.index.wait_indexed(project_files.COLLECTION, wait)
        return search(self.index, project_files.COLLECTION, query, k, wait=wait)

    # -- the index itself -------------------------------------------------------------------
    def _rebuild_text(self, index: MemoryIndex, bank: MemoryBank) -> tuple[int, int]:
        """Memories and answered turns from the store back into the text index (pending)."""
        memories = bank.rebuild_rows()
        rows = self.store.query(
            "SELECT r.id, r.session_id, r.request, r.answer, s.title FROM runs r "
            "LEFT JOIN sessions s ON s.id = r.session_id WHERE r.status = 'answered'"
        )
        # Whether untrusted content was in view is not kept with a run: recall them as data.
        metas: list[dict[str, str | int | float | bool]] = [
            {
                "kind": "turn",
                "source": f"session {title or sid}",
                "session_id": sid,
                "trust": "untrusted",
            }
            for _, sid, _, _, title in rows
        ]
        texts = [turn_text(request or "", answer or "") for _, _, request, answer, _ in rows]
        index.put(TURNS, [r[0] for r in rows], texts, metas)
        return memories, len(rows)

    def reindex(self, timeout: float = 300.0) -> str:
        """Rebuild the index from the store (and the learned text): empties Chroma, moving a
        damaged folder aside, then embeds everything again in the background."""
        index = self.index
        memories, turns = self._rebuild_text(index, self.project_memories)
        result = self.worker.call(
            "reindex", timeout, location=index.location.to_json(), terms=str(index.terms.path)
        )
        self.worker.broken.pop(index.location, None)
        index.nudge()
        moved = f"; the damaged index was moved to {result['moved']}" if result["moved"] else ""
        return (
            f"Rebuilding {index.location.describe()}: {memories} memories, {turns} turns and "
            f"{index.terms.count('files')} learned chunks, {result['pending']} to embed in the "
            f"background (exact terms find them now){moved}."
        )

    def sync_to_server(self) -> str:
        """Copy this project's local memories and learned chunks to the Chroma server once."""
        if not self.location.remote:
            raise AgentError(
                'no Chroma server is set; %config Agent.chroma_url = "http://host:8000" first'
            )
        local = TermIndex(terms_path(self.paths.chroma_dir, self.local_location))
        if not local.exists():  # a project from before the text index: its rows are the source
            local_index = MemoryIndex(self.local_location, local, self.worker)
            MemoryBank(self.store, local_index, "project").rebuild_rows()
        copied = 0
        for collection in ("memories", "files"):
            entries = local.entries(collection)
            ids, texts = [e.id for e in entries], [e.text for e in entries]
            self.index.put(collection, ids, texts, [e.metadata for e in entries])
            copied += len(entries)
        return f"Copying {copied} memories and learned chunks to {self.location.describe()}."

    def wait_indexed(self, timeout: float = 120.0) -> bool:
        """Wait until everything pending is embedded (tests and benchmarks)."""
        return self.index.wait_indexed(None, timeout)

    def problems(self) -> list[str]:
        """What the user should hear once: indexing stopped, semantic memory off."""
        found = list(self.worker.problems)
        self.worker.problems.clear()
        for location, error in list(self.worker.broken.items()):
            found.append(
                f"semantic memory is off: {location.describe()} cannot be used ({error}); "
                "recall finds exact terms only. %agent memory --reindex rebuilds it from the store."
            )
        fresh = [p for p in found if p not in self._said]
        self._said.update(fresh)
        return fresh

    # -- earlier turns ----------------------------------------------------------------------
    def has_recallable(self) -> bool:
        """Whether the project holds anything to recall (a SQLite count, no model)."""
        return bool(self.index.terms.count()) or _has_user_memories()

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
        self.index.put(TURNS, [run_id], [turn_text(request, answer)], [meta])

    def recall_turns(self, query: str, k: int = 4) -> list[Recalled]:
        return search(self.index, TURNS, query, k)

    # -- what the context builder recalls ---------------------------------------------------
    def context_memories(self, request: str) -> list[Remembered]:
        """Recall for the context: never waits, and a broken index costs the section only."""
        try:
            found = self.recall(request, 8, wait=0)
        except AgentError as error:
            self.worker.problems.append(f"memories were not recalled for this request: {error}")
            return []
        return [
            Remembered(r.id, r.text, f"{r.scope} {r.kind} {r.id}", r.trust == "trusted")
            for r in found
        ]

    def context_turns(self, request: str) -> list[Remembered]:
        try:
            found = self.recall_turns(request, 4)
        except AgentError as error:
            self.worker.problems.append(f"earlier turns were not recalled: {error}")
            return []
        return [Remembered(r.text, r.text, r.source, r.trust == "trusted") for r in found]


def _has_user_memories() -> bool:
    return (user_store_dir() / "recall.sqlite").exists() or (user_store_dir() / "chroma").exists()
