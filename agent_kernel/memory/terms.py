"""What project memory holds, as text, with an exact-term index: the source of truth for Chroma.

Every memory, turn and learned chunk is written here first (a SQLite insert, about a
millisecond), marked `pending`, and embedded into Chroma later by the background worker
(`memory/worker.py`), which marks it `indexed`. So recall finds a new entry by its exact terms
at once, nothing waits for the embedding model, a process that exits leaves its pending rows
for the next one, and a lost or damaged Chroma folder is rebuilt from here. The exact-term
search goes through an FTS5 trigram index (substring matches, case-insensitive) instead of a
scan. SQLite in WAL mode is safe to share between the kernels of a project.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_kernel.errors import AgentError

Metadata = dict[str, str | int | float | bool]
PENDING, INDEXED, DELETING = "pending", "indexed", "deleting"
# Indexing order: what the user asked to remember first, then learned files, then turns.
PRIORITY = {"memories": 0, "files": 1, "turns": 2}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    rowid INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    text TEXT NOT NULL,
    meta TEXT NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 2,
    UNIQUE (collection, id)
);
CREATE INDEX IF NOT EXISTS entries_state ON entries (state, priority, rowid);
CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5(
    text, content='entries', content_rowid='rowid', tokenize='trigram'
);
CREATE TRIGGER IF NOT EXISTS entries_ai AFTER INSERT ON entries BEGIN
    INSERT INTO entries_fts (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS entries_ad AFTER DELETE ON entries BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER IF NOT EXISTS entries_au AFTER UPDATE OF text ON entries BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO entries_fts (rowid, text) VALUES (new.rowid, new.text);
END;
"""


class TermIndexError(AgentError):
    """The memory text index cannot be written (full disk, read-only folder, damaged file)."""


@dataclass(frozen=True)
class Entry:
    """One row: what to embed (`pending`), what is embedded, or what to take out of Chroma."""

    rowid: int
    collection: str
    id: str
    text: str
    metadata: Metadata
    state: str


def _one_line(error: BaseException, path: Path) -> str:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "full" in reason.lower():
        return f"the disk holding {path} is full ({reason}); free some space"
    return f"cannot use {path}: {reason}"


class TermIndex:
    """The memory text of one project (or of one user) in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._created = False

    # -- connections ------------------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=NORMAL")
                con.executescript(_SCHEMA)
            except (sqlite3.Error, OSError) as error:
                raise TermIndexError(_one_line(error, self.path)) from error
            self._local.con = con
        return con

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._con().execute(sql, params).fetchall()
        except (sqlite3.Error, OSError) as error:
            raise TermIndexError(_one_line(error, self.path)) from error

    def _write(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        con = self._con()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany(sql, rows)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as error:
            raise TermIndexError(_one_line(error, self.path)) from error

    def exists(self) -> bool:
        return self.path.exists()

    # -- writing (the kernel) -----------------------------------------------------------------
    def put(
        self,
        collection: str,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[Metadata],
    ) -> None:
        """Add or replace entries; they are found by exact terms now, by meaning once embedded."""
        priority = PRIORITY.get(collection, 2)
        self._write(
            "INSERT INTO entries (collection, id, text, meta, state, priority) "
            "VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (collection, id) DO UPDATE SET "
            "text = excluded.text, meta = excluded.meta, state = 'pending'",
            [
                (collection, i, t, json.dumps(m), priority)
                for i, t, m in zip(ids, texts, metadatas, strict=True)
            ],
        )

    def remove(self, collection: str, ids: Sequence[str]) -> None:
        """Take entries out of recall now; the worker then deletes them from Chroma."""
        self._write(
            "UPDATE entries SET state = 'deleting', priority = -1 WHERE collection = ? AND id = ?",
            [(collection, i) for i in ids],
        )

    def ids_where(self, collection: str, key: str, value: str) -> list[str]:
        rows = self._run(
            "SELECT id FROM entries WHERE collection = ? AND json_extract(meta, ?) = ? "
            "AND state != 'deleting'",
            [collection, f"$.{key}", value],
        )
        return [r[0] for r in rows]

    def mark_all_pending(self) -> int:
        """Everything embedded again (a rebuilt or replaced Chroma index); returns how many."""
        self._write("UPDATE entries SET state = 'pending' WHERE state = ?", [(INDEXED,)])
        return self.count_state(PENDING)

    # -- reading ------------------------------------------------------------------------------
    def containing(self, collection: str, term: str, k: int) -> list[Entry]:
        """Up to `k` current entries whose text contains `term` (case-insensitive)."""
        base = (
            "SELECT e.rowid, e.collection, e.id, e.text, e.meta, e.state FROM entries e "
            "WHERE e.collection = ? AND e.state != 'deleting' AND "
        )
        if len(term) >= 3:  # trigram index
            phrase = '"' + term.replace('"', '""') + '"'
            sql = base + "e.rowid IN (SELECT rowid FROM entries_fts WHERE entries_fts MATCH ?)"
            rows = self._run(sql + " LIMIT ?", [collection, phrase, k])
        else:  # two characters: too short for trigrams, rare (a quoted `Q3`)
            sql = base + "instr(lower(e.text), lower(?)) > 0 LIMIT ?"
            rows = self._run(sql, [collection, term, k])
        return [_entry(r) for r in rows]

    def states(self, collection: str, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._run(
            f"SELECT id, state FROM entries WHERE collection = ? AND id IN ({marks})",
            [collection, *ids],
        )
        return dict(rows)

    def count(self, collection: str | None = None) -> int:
        if collection is None:
            rows = self._run("SELECT count(*) FROM entries WHERE state != 'deleting'")
        else:
            rows = self._run(
                "SELECT count(*) FROM entries WHERE collection = ? AND state != 'deleting'",
                [collection],
            )
        return int(rows[0][0])

    def count_state(self, state: str, collection: str | None = None) -> int:
        where, params = "state = ?", [state]
        if collection is not None:
            where, params = where + " AND collection = ?", [state, collection]
        return int(self._run(f"SELECT count(*) FROM entries WHERE {where}", params)[0][0])

    def entries(self, collection: str) -> list[Entry]:
        rows = self._run(
            "SELECT rowid, collection, id, text, meta, state FROM entries "
            "WHERE collection = ? AND state != 'deleting' ORDER BY rowid",
            [collection],
        )
        return [_entry(r) for r in rows]

    # -- the worker -------------------------------------------------------------------------
    def next_batch(self, limit: int, *, max_priority: int = 2) -> list[Entry]:
        """The most urgent work: deletions first, then memories, files and turns (up to
        `max_priority`: while a run is active, turns wait)."""
        rows = self._run(
            "SELECT rowid, collection, id, text, meta, state FROM entries "
            "WHERE state IN ('pending', 'deleting') AND priority <= ? "
            "ORDER BY priority, rowid LIMIT ?",
            [max_priority, limit],
        )
        return [_entry(r) for r in rows]

    def done(self, entries: Sequence[Entry]) -> None:
        """Mark a batch as handled: embedded rows indexed, deleted rows gone. A row changed
        again since it was read keeps its newer state."""
        con = self._con()
        try:
            con.execute("BEGIN IMMEDIATE")
            for e in entries:
                if e.state == DELETING:
                    con.execute(
                        "DELETE FROM entries WHERE rowid = ? AND state = 'deleting'", [e.rowid]
                    )
                else:
                    con.execute(
                        "UPDATE entries SET state = 'indexed' WHERE rowid = ? AND text = ? "
                        "AND meta = ? AND state = 'pending'",
                        [e.rowid, e.text, json.dumps(e.metadata)],
                    )
            con.execute("COMMIT")
        except (sqlite3.Error, OSError) as error:
            con.execute("ROLLBACK") if con.in_transaction else None
            raise TermIndexError(_one_line(error, self.path)) from error


def _entry(row: Sequence[Any]) -> Entry:
    rowid, collection, entry_id, text, meta, state = row
    return Entry(rowid, collection, entry_id, text, json.loads(meta), state)
