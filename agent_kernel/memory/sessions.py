"""Sessions in the store: which one each notebook continues, their titles and their messages."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from agent_kernel.errors import AgentError
from agent_kernel.events import new_id
from agent_kernel.memory import queries
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


class SessionLog:
    """The sessions of one project store, seen from one notebook."""

    def __init__(self, store: Store, notebook: str, user: str) -> None:
        self.store = store
        self.notebook = notebook
        self.user = user

    def current(self) -> SessionRecord | None:
        """The session this notebook continues (what it last used, even before a restart)."""
        rows = self.store.query(queries.CURRENT_SESSION, [self.notebook])
        return SessionRecord(*rows[0]) if rows else None

    def create(self, writer: StepWriter, title: str) -> SessionRecord:
        """Queue a new session, made current for this notebook, with the run's first step."""
        record = SessionRecord(new_id("ses_"), self.notebook, title)
        stamp = now()
        writer.add(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
            [record.id, self.notebook, self.user, stamp, title, stamp],
        )
        writer.add(*self._pointer(record.id, stamp))
        return record

    def resume(self, wanted: str) -> SessionRecord:
        """Make a session (by id or unique id prefix) the notebook's current one."""
        record = self.find(wanted)
        self.store.write([self._pointer(record.id, now())])
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

    def _pointer(self, session_id: str, stamp: dt.datetime) -> tuple[str, list[Any]]:
        return (
            "INSERT OR REPLACE INTO notebook_sessions VALUES (?, ?, ?)",
            [self.notebook, session_id, stamp],
        )
