"""Approval as data: a request the run waits on, and the decision that answers it.

The loop only awaits an `Approver`; how a person answers (a widget in the cell, a prompt in
terminal IPython, `%agent approve ID`) or who answers instead of a person (the unattended rule,
the timeout) lives elsewhere. Every request and decision is an event, recorded before the run
waits, so a pending approval outlives the kernel.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent_kernel.events import new_id


@dataclass
class ApprovalRequest:
    tool: str
    call_id: str
    arguments: dict[str, Any]
    reason: str
    run_id: str = ""
    taint: tuple[str, ...] = ()
    # Arguments whose values appeared in untrusted content: {"argument", "fragment", "source"}.
    from_data: list[dict[str, str]] = field(default_factory=list)
    timeout: float = 1800.0
    detail: str = ""  # what the tool says the call would change (a unified diff, say)
    id: str = field(default_factory=lambda: new_id("apr_"))
    requested: float = field(default_factory=time.time)


@dataclass(frozen=True)
class ApprovalDecision:
    approved: bool
    by: str  # a user name, "unattended rule" or "timeout"
    how: str  # button | magic | terminal | unattended | timeout | restart
    reason: str = ""  # why it was denied, for the model
    arguments: dict[str, Any] | None = None  # edited arguments, when the person changed them
    always: bool = False  # "always allow this tool in this session"


class Approver(Protocol):
    async def request(self, request: ApprovalRequest) -> ApprovalDecision:
        """Wait for the decision on `request` (the caller enforces the timeout)."""
        ...


class PendingApprovals:
    """Approvals waiting in this kernel, so `%agent approve ID` can answer a live one."""

    def __init__(self) -> None:
        self._waiting: dict[str, tuple[ApprovalRequest, asyncio.Future[ApprovalDecision]]] = {}

    def wait(self, request: ApprovalRequest) -> asyncio.Future[ApprovalDecision]:
        future: asyncio.Future[ApprovalDecision] = asyncio.get_running_loop().create_future()
        self._waiting[request.id] = (request, future)
        future.add_done_callback(lambda _: self._waiting.pop(request.id, None))
        return future

    def answer(self, approval_id: str, decision: ApprovalDecision) -> bool:
        """Resolve a live approval; False when nothing here waits on that id."""
        entry = self._waiting.get(approval_id)
        if entry is None or entry[1].done():
            return False
        future = entry[1]
        # The click may arrive on another thread's callback; resolve on the future's loop.
        future.get_loop().call_soon_threadsafe(_resolve, future, decision)
        return True

    def live(self) -> list[ApprovalRequest]:
        return [request for request, _ in self._waiting.values()]


def _resolve(future: asyncio.Future[ApprovalDecision], decision: ApprovalDecision) -> None:
    if not future.done():
        future.set_result(decision)


def edit_diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    """A unified diff of what the person changed (code line by line, other values as JSON)."""

    def lines(arguments: dict[str, Any]) -> list[str]:
        if set(arguments) == {"code"} or set(arguments) == {"query"}:
            return str(next(iter(arguments.values()))).splitlines()
        return json.dumps(arguments, indent=1, sort_keys=True, default=str).splitlines()

    diff = difflib.unified_diff(lines(before), lines(after), "proposed", "approved", lineterm="")
    return "\n".join(diff)
