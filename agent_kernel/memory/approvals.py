"""Approvals as the store knows them: requested and not yet decided, from this kernel or one
that stopped, and their decisions (recorded as events in the audit chain like any other)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from agent_kernel.memory import queries
from agent_kernel.memory.audit import EventRow
from agent_kernel.memory.store import Store
from agent_kernel.memory.writer import StepWriter
from agent_kernel.runtime.approval import ApprovalDecision


@dataclass(frozen=True)
class RecordedApproval:
    id: str
    session_id: str
    run_id: str
    tool: str
    call_id: str
    arguments: dict[str, Any]
    reason: str
    taint: tuple[str, ...]
    requested: dt.datetime
    timeout: float

    def expired(self, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(dt.timezone.utc)
        return (now - self.requested).total_seconds() > self.timeout


class ApprovalLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def pending(self, session_id: str | None = None) -> list[RecordedApproval]:
        rows = self.store.query(queries.PENDING_APPROVALS, [session_id, session_id])
        return [
            RecordedApproval(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                json.loads(r[5] or "{}"),
                r[6] or "",
                tuple(json.loads(r[7] or "[]")),
                r[8],
                float(r[9] or 0),
            )
            for r in rows
        ]

    def find(self, approval_id: str) -> RecordedApproval | None:
        return next((a for a in self.pending() if a.id == approval_id), None)

    def record(
        self, approval: RecordedApproval, decision: ApprovalDecision, writer: StepWriter
    ) -> None:
        """An approval_decided event for an approval whose run is not in this kernel."""
        data = {
            "approval_id": approval.id,
            "tool": approval.tool,
            "call_id": approval.call_id,
            "approved": decision.approved,
            "by": decision.by,
            "how": decision.how,
            "reason": decision.reason,
            "always": decision.always,
            "edit": "",
        }
        writer.add_event(
            EventRow(
                approval.session_id,
                approval.run_id,
                0,
                "approval_decided",
                writer.as_json(data),
                dt.datetime.now(dt.timezone.utc),
            )
        )
        writer.flush()

    def table(self) -> Any:
        """Every approval with its outcome, newest first."""
        return self.store.query_df(queries.APPROVALS_TABLE)
