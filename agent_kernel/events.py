"""Events: the one record of everything a run does.

The loop never prints, stores or draws; it emits events. Observers (the cell renderer, later
the store and the trace widget) subscribe. That keeps the loop testable with no UI.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

EventKind = Literal[
    "run_started",  # data: request, model, endpoint, max_steps
    "model_started",  # data: messages (count), tools (count)
    "text_delta",  # data: text
    "model_retry",  # data: reason, attempt, max_attempts, wait_seconds
    "model_note",  # data: about ("fallback" | "text_tool_calls"), text
    "model_finished",  # data: text, tool_calls, usage, finish_reason, duration_ms
    "policy_decision",  # data: tool, call_id, decision, reason, source, rule, taint
    "approval_requested",  # data: approval_id, tool, call_id, arguments, reason, taint, timeout
    "approval_decided",  # data: approval_id, tool, call_id, approved, by, how, reason, edit
    "tool_started",  # data: tool, call_id, arguments
    "tool_finished",  # data: tool, call_id, ok, summary, content, duration_ms, truncated
    "verification",  # data: ok, numbers, findings, note, retry
    "run_finished",  # data: status, answer, steps, usage, message
]


def new_id(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Event:
    kind: EventKind
    run_id: str
    step: int
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Observer = Callable[[Event], None]


def observer_name(observer: Observer) -> str:
    """What to call an observer in a message: its class, or its function's name."""
    if hasattr(observer, "__self__"):  # a bound method such as list.append
        return f"{type(observer.__self__).__name__}.{getattr(observer, '__name__', '?')}"
    return getattr(observer, "__qualname__", None) or type(observer).__name__


class EventBus:
    """Delivers each event to every observer; one failing observer does not stop the run, and
    is not silent: `on_failure` hears of it once per observer (the kernel says so in the cell)."""

    def __init__(
        self,
        observers: list[Observer] | None = None,
        on_failure: Callable[[Observer, Event, BaseException], None] | None = None,
    ) -> None:
        self.observers: list[Observer] = list(observers or [])
        self.failures: list[tuple[Observer, BaseException]] = []
        self.on_failure = on_failure
        self._reported: set[int] = set()

    def subscribe(self, observer: Observer) -> None:
        self.observers.append(observer)

    def emit(self, event: Event) -> None:
        from agent_kernel.text import clean_data

        # Observers write to the store and the cell, which both need valid UTF-8.
        data, replaced = clean_data(event.data)
        if replaced:
            event = replace(event, data=data)
        for observer in self.observers:
            try:
                observer(event)
            except Exception as exc:  # an observer bug must not lose the run
                self.failures.append((observer, exc))
                if self.on_failure is not None and id(observer) not in self._reported:
                    self._reported.add(id(observer))
                    self.on_failure(observer, event, exc)
