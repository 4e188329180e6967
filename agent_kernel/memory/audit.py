"""The audit log: events hash-chained in the order they were recorded, and checked on demand.

Each event's hash covers the previous event's hash and its own content, so editing, deleting
or reordering a recorded event breaks the chain from that point. The chain has no secret key:
it detects changes made without recomputing every later hash, and a head hash written down
elsewhere (`%agent audit --verify` prints it) anchors it against those too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from agent_kernel.memory import queries
from agent_kernel.memory.store import Store

GENESIS = "0" * 64
_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class EventRow:
    session_id: str | None
    run_id: str
    step: int
    kind: str
    data: str  # JSON text, exactly as stored
    time: dt.datetime

    def digest(self, prev_hash: str) -> str:
        stamp = self.time.astimezone(dt.timezone.utc).isoformat()
        parts = [
            prev_hash,
            self.session_id or "",
            self.run_id,
            str(self.step),
            self.kind,
            self.data,
            stamp,
        ]
        return hashlib.sha256(_SEPARATOR.join(parts).encode("utf-8")).hexdigest()


def extend_chain(con: Any, rows: list[EventRow]) -> str:
    """Insert events after the chain's current head (call inside the write transaction);
    returns the new head. The one place the chain grows: every event reaches the store
    through here when the background writer ingests a journal (the writer anchors the head
    returned once the transaction commits, see anchor.py)."""
    head = con.execute(
        "SELECT hash FROM events WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1"
    ).fetchone()
    prev = head[0] if head else GENESIS
    for row in rows:
        current = row.digest(prev)
        con.execute(
            "INSERT INTO events (session_id, run_id, step, kind, data, time, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [row.session_id, row.run_id, row.step, row.kind, row.data, row.time, prev, current],
        )
        prev = current
    return prev


insert_chained = extend_chain  # the name earlier callers used


@dataclass
class ChainReport:
    intact: bool
    checked: int
    unchained: int = 0  # events from before the chain existed
    broken_at: int | None = None
    problem: str = ""
    head: str = GENESIS

    def summary(self) -> str:
        older = f" ({self.unchained:,} older events predate the chain)" if self.unchained else ""
        if self.intact:
            return f"Audit chain intact: {self.checked:,} events{older}. Head: {self.head}"
        return f"Audit chain BROKEN at event {self.broken_at}: {self.problem}{older}."


def verify(store: Store, batch: int = 5000) -> ChainReport:
    """Walk the events in order and recompute every link."""
    from agent_kernel.memory.anchor import latest_head

    report = ChainReport(intact=True, checked=0)
    anchored = latest_head(store.path)
    seen_anchor = anchored is None
    prev = GENESIS
    last_id = -1
    chained = False
    with store.connect(read_only=True) as con:
        while True:
            rows = con.execute(
                "SELECT id, session_id, run_id, step, kind, CAST(data AS VARCHAR), time, "
                "prev_hash, hash FROM events WHERE id > ? ORDER BY id LIMIT ?",
                [last_id, batch],
            ).fetchall()
            if not rows:
                break
            for event_id, session, run, step, kind, data, time, prev_hash, stored in rows:
                last_id = event_id
                if stored is None:
                    if chained:
                        return _broken(report, event_id, "an event without a hash inside the chain")
                    report.unchained += 1
                    continue
                chained = True
                if prev_hash != prev:
                    return _broken(
                        report, event_id, "the event before it was removed, added or reordered"
                    )
                if EventRow(session, run, step, kind, data, time).digest(prev) != stored:
                    return _broken(
                        report, event_id, "its content was changed after it was recorded"
                    )
                prev = stored
                report.checked += 1
                seen_anchor = seen_anchor or stored == anchored[0]  # type: ignore[index]
    report.head = prev
    if not seen_anchor and anchored is not None:
        when = dt.datetime.fromtimestamp(anchored[1]).isoformat(timespec="seconds")
        report.intact, report.broken_at = False, last_id
        report.problem = (
            f"the head anchored at {when} ({anchored[0][:12]}…) is not in the chain: the "
            "newest events were removed, or the chain was rewritten"
        )
    return report


def _broken(report: ChainReport, event_id: int, problem: str) -> ChainReport:
    report.intact, report.broken_at, report.problem = False, event_id, problem
    return report


def audit_table(store: Store, notebook: str, *, everything: bool = False, limit: int = 1000) -> Any:
    """The decisions of `notebook`'s sessions (or every event of every notebook) as a
    DataFrame, newest first; a field an event does not have is an empty string, not NaN."""
    table = store.query_df(queries.AUDIT_TABLE, [everything, notebook, int(limit)])
    from pandas.api.types import is_object_dtype, is_string_dtype

    for column in table.columns:
        if is_string_dtype(table[column]) or is_object_dtype(table[column]):
            table[column] = table[column].fillna("")
    return table
