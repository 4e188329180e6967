"""Sessions in the store: which one each notebook continues, their titles and their messages.

A session is written by one live kernel at a time unless the user asks to share it: a kernel
holds an OS lock on a lease file per session it writes (dropped by the OS when the kernel dies,
even by SIGKILL). A notebook with no name (nbclient, papermill, a script, `jupyter console`)
gets a session per kernel; a second kernel on a named notebook whose session is leased starts
its own, with a note. `%agent resume` shares on purpose: messages then take their order at
ingest, so nothing collides.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_kernel.errors import AgentError
from agent_kernel.events import new_id
from agent_kernel.memory import journal, queries
from agent_kernel.memory.store import Store
from agent_kernel.memory.writer import StepWriter
from agent_kernel.runtime.conversation import Message

TITLE_CHARS = 60


class SessionNotFoundError(AgentError):
    """`%agent resume ID` named no session, or several."""


@dataclass(frozen=True)
class SessionRecord:
    id: str
    notebook: str
    title: str


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def title_from(request: str) -> str:
    """A session title from its first request: the first line, cut at a word."""
    line = " ".join(request.strip().splitlines()[0].split()) if request.strip() else ""
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[:TITLE_CHARS].rsplit(" ", 1)[0]
    return (cut or line[:TITLE_CHARS]) + "…"


_held: dict[Path, int] = {}  # lease files this process holds, and their descriptors
_held_lock = threading.Lock()


def take_lease(folder: Path, session_id: str) -> bool:
    """Whether this kernel may write `session_id` alone: True if no other live kernel holds its
    lease (this kernel then holds it until it exits). A folder where no lease can be written
    cannot coordinate, and does not refuse."""
    path = folder / "leases" / f"{session_id}.lease"
    with _held_lock:
        if path in _held:
            return True
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return True
        if not journal.try_lock(fd):
            os.close(fd)
            return False
        with contextlib.suppress(OSError):
            os.write(fd, f"{os.getpid()}\n".encode())
        _held[path] = fd
        return True


class SessionLog:
    """The sessions of one project store, seen from one notebook."""

    def __init__(self, store: Store, notebook: str, user: str) -> None:
        self.store = store
        self.notebook = notebook
        self.user = user
        self.lease_dir = journal.journal_dir(store.path.parent)

    def current(self) -> SessionRecord | None:
        """The session this notebook continues (what it last used, even before a restart)."""
        rows = self.store.query(queries.CURRENT_SESSION, [self.notebook])
        return SessionRecord(*rows[0]) if rows else None

    def create(self, writer: StepWriter, title: str) -> SessionRecord:
        """Queue a new session, made current for this notebook, with the run's first step."""
        record = SessionRecord(new_id("ses_"), self.notebook, title)
        take_lease(self.lease_dir, record.id)
        writer.add_session(record.id, self.notebook, self.user, title)
        writer.add_pointer(self.notebook, record.id)
        return record

    def lease(self, record: SessionRecord) -> bool:
        return take_lease(self.lease_dir, record.id)

    def resume(self, wanted: str, writer: StepWriter) -> SessionRecord:
        """Make a session (by id or unique id prefix) the notebook's current one; shared with
        any other kernel writing it, on purpose."""
        record = self.find(wanted)
        take_lease(self.lease_dir, record.id)
        writer.add_pointer(self.notebook, record.id)
        writer.flush()
        return record

    def find(self, wanted: str) -> SessionRecord:
        rows = self.store.query(
            "SELECT id, notebook, title FROM sessions WHERE id = ? OR id LIKE ? "
            "ORDER BY id = ? DESC, last_active DESC LIMIT 5",
            [wanted, f"{wanted}%", wanted],
        )
        if not rows:
            raise SessionNotFoundError(
                f"no session {wanted!r} in this project; %agent sessions lists them"
            )
        if rows[0][0] != wanted and len(rows) > 1:
            ids = ", ".join(r[0] for r in rows)
            raise SessionNotFoundError(f"{wanted!r} matches several sessions ({ids}); give more")
        return SessionRecord(*rows[0])

    def messages(self, session_id: str) -> list[Message]:
        """The session's messages as recorded, in order (see close_unanswered_calls)."""
        rows = self.store.query(
            "SELECT message FROM messages WHERE session_id = ? ORDER BY seq", [session_id]
        )
        return [json.loads(r[0]) for r in rows]

    def table(self) -> Any:
        """Every session of the project, most recent first, as a DataFrame."""
        return self.store.query_df(queries.SESSIONS_TABLE)
