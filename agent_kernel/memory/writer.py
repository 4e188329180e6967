"""A step's writes, queued while the step runs and committed in one transaction at its end.

One transaction per step keeps the store's cost near one open of the file per step; a step that
cannot be written (another program holds the file too long) stays queued and goes in with the
next one, so nothing recorded is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from agent_kernel.memory.audit import EventRow, insert_chained
from agent_kernel.memory.store import Statement, Store, StoreBusyError
from agent_kernel.redact import redact, secret_env_values


class StepWriter:
    """Statements waiting for the end of the current step."""

    def __init__(self, store: Store, *, warn: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.pending: list[Statement] = []
        self.flushes = 0
        self._warn = warn
        self._warned = False
        # The values to redact; the kernel's agent sets the run's secrets before it starts
        # (until then: the environment's, so a session title is redacted too).
        self.secrets: list[str] = secret_env_values()

    def as_json(self, value: Any) -> str:
        """JSON for a row, with secrets removed before anything reaches the file."""
        return redact(json.dumps(value, default=str, ensure_ascii=False), self.secrets)

    def add(self, sql: str, params: Sequence[Any]) -> None:
        """A statement; its text parameters pass the redaction boundary first."""
        cleaned = [redact(p, self.secrets) if isinstance(p, str) else p for p in params]
        self.pending.append((sql, cleaned))

    def add_event(self, row: EventRow) -> None:
        """An event, chained to the audit log's head when its step is committed."""
        last = self.pending[-1] if self.pending else None
        if isinstance(last, _ChainedEvents):
            last.rows.append(row)
        else:
            self.pending.append(_ChainedEvents([row]))

    def flush(self) -> bool:
        """Commit what is queued; on a long lock keep it for the next flush and say so once."""
        if not self.pending:
            return True
        batch = list(self.pending)
        try:
            self.store.write(batch)
        except StoreBusyError as exc:
            if self._warn is not None and not self._warned:
                self._warn(f"{exc} ({len(batch)} writes are kept and retried at the next step)")
                self._warned = True
            return False
        del self.pending[: len(batch)]
        self._anchor(batch)
        self.flushes += 1
        self._warned = False
        return True

    def _anchor(self, batch: list[Statement]) -> None:
        """Anchor the committed head outside the database (see memory/anchor.py)."""
        from agent_kernel.memory.anchor import append_head

        heads = [s.head for s in batch if isinstance(s, _ChainedEvents) and s.head]
        if heads:
            try:
                append_head(self.store.path, heads[-1])
            except OSError as exc:
                if self._warn is not None:
                    self._warn(f"the audit anchor could not be written: {exc}")


class _ChainedEvents:
    """A step's events, inserted after the chain head read inside the same transaction."""

    def __init__(self, rows: list[EventRow]) -> None:
        self.rows = rows
        self.head: str | None = None

    def __call__(self, con: Any) -> None:
        self.head = insert_chained(con, self.rows)
