"""Journal records into the store: a fixed statement per record type, each journal at most once.

Records are typed data, never SQL, so a journal file someone placed in `.agent/journal/` can add
rows but not run statements. Every journal's progress (the last record number ingested) is
updated in the same transaction as the rows, so ingesting a journal twice, or by two kernels,
never duplicates a row. Messages take the session's next sequence number at ingest, so kernels
that share a session (`%agent resume` in both) interleave in ingest order instead of colliding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from agent_kernel.memory.audit import EventRow, extend_chain
from agent_kernel.memory.journal import Record


class BadRecordError(ValueError):
    """A record that no statement takes (damaged or foreign); it is set aside, not retried."""


def progress(con: Any, journal: str) -> int:
    row = con.execute("SELECT last_n FROM journal_progress WHERE journal = ?", [journal]).fetchone()
    return int(row[0]) if row else -1


def apply(con: Any, journal: str, records: Sequence[Record]) -> tuple[int, str | None]:
    """Insert the records after the journal's progress (inside the caller's transaction);
    returns the number of the last record applied (or the progress if none were new) and the
    audit chain's new head if events were added (to anchor once the transaction commits)."""
    done = progress(con, journal)
    fresh = [r for r in records if r["n"] > done]
    events: list[EventRow] = []
    head: str | None = None
    for record in fresh:
        if record.get("t") == "event":
            events.append(event_row(record))
            continue
        if events:  # keep the chain in record order around other rows
            head = extend_chain(con, events)
            events = []
        _apply_one(con, record)
    if events:
        head = extend_chain(con, events)
    if not fresh:
        return done, None
    last = max(r["n"] for r in fresh)
    con.execute("INSERT OR REPLACE INTO journal_progress VALUES (?, ?, now())", [journal, last])
    return last, head


def event_row(record: Record) -> EventRow:
    try:
        return EventRow(
            record["session_id"],
            str(record["run_id"]),
            int(record["step"]),
            str(record["kind"]),
            str(record["data"]),
            _time(record["time"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRecordError(f"event record {record.get('n')}: {exc}") from None


def _apply_one(con: Any, record: Record) -> None:
    kind = record.get("t")
    try:
        if kind == "session":
            con.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    record["id"],
                    record["notebook"],
                    record["user"],
                    _time(record["time"]),
                    record["title"],
                    _time(record["time"]),
                ],
            )
        elif kind == "pointer":
            con.execute(
                "INSERT OR REPLACE INTO notebook_sessions VALUES (?, ?, ?)",
                [record["notebook"], record["session_id"], _time(record["time"])],
            )
        elif kind == "message":
            con.execute(
                "INSERT INTO messages SELECT ?, coalesce(max(seq) + 1, 0), ?, ?, ?, ? "
                "FROM messages WHERE session_id = ?",
                [
                    record["session_id"],
                    record["run_id"],
                    record["role"],
                    record["message"],
                    _time(record["time"]),
                    record["session_id"],
                ],
            )
        elif kind == "active":
            con.execute(
                "UPDATE sessions SET last_active = ? WHERE id = ?",
                [_time(record["time"]), record["session_id"]],
            )
        else:
            raise BadRecordError(f"record {record.get('n')} has an unknown type {kind!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRecordError(f"{kind} record {record.get('n')}: {exc!r}") from None


def _time(value: Any) -> dt.datetime:
    stamp = dt.datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)
