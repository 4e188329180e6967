"""What the side panel lists: a folder's sessions and memories, read from its project store.

The store is `.agent/agent.duckdb` in the folder, the one the folder's kernels write. A folder
whose kernels never ran an agent has no store and lists nothing; reading never creates one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from agent_kernel.memory.paths import DATABASE_FILE, STORE_FOLDER

# A panel shows the recent past; a project with more has `%agent sessions` for the rest.
MAX_ROWS = 500
# The server answers other requests while it waits, but a panel should not hang for long.
LOCK_WAIT_SECONDS = 5.0

SESSIONS = f"""
SELECT s.id, s.title, s.notebook, count(r.id) AS turns, s.last_active, s.user_name AS user
FROM sessions s LEFT JOIN runs r ON r.session_id = s.id
GROUP BY ALL
ORDER BY s.last_active DESC
LIMIT {MAX_ROWS}
"""

# `SELECT *` keeps the listing working across schema versions (a newer store may add columns);
# the fields the panel knows are picked from each row.
MEMORIES = f"SELECT * FROM memories ORDER BY created DESC LIMIT {MAX_ROWS}"
MEMORY_FIELDS = ("id", "scope", "kind", "text", "source", "trust", "created", "superseded_by")


def store_file(folder: Path) -> Path:
    return folder / STORE_FOLDER / DATABASE_FILE


def sessions(folder: Path) -> list[dict[str, Any]]:
    """The folder's sessions, most recently active first: id, title, notebook, turns, ..."""
    return [_jsonable(row) for row in _rows(folder, SESSIONS)]


def memories(folder: Path) -> list[dict[str, Any]]:
    """The folder's project memories, newest first, replaced and forgotten ones flagged."""
    listed = []
    for row in _rows(folder, MEMORIES):
        memory = {name: row.get(name) for name in MEMORY_FIELDS}
        memory["forgotten"] = row.get("forgotten")
        memory["superseded"] = bool(memory["superseded_by"])
        memory["current"] = not memory["superseded"] and memory["forgotten"] is None
        listed.append(_jsonable(memory))
    return listed


def _rows(folder: Path, sql: str) -> list[dict[str, Any]]:
    path = store_file(folder)
    if not path.is_file():
        return []
    from agent_kernel.memory.store import Store

    with Store(path, lock_wait=LOCK_WAIT_SECONDS).connect(read_only=True) as con:
        cursor = con.execute(sql)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else value
        for name, value in row.items()
    }
