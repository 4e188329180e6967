"""The live trace widget, fed by events; and its Stop button in a real kernel."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from agent_kernel.events import Event
from agent_kernel.testing import Reply, ScriptedServer
from agent_kernel.ui.trace import TraceWidget
from tests.test_approval_kernel import Kernel

QUERY = "SELECT region, sum(revenue) FROM sales GROUP BY 1"


def feed(widget: TraceWidget, *items: tuple[str, dict[str, Any]]) -> None:
    for kind, data in items:
        widget(Event(kind, "run_1", 1, data))  # type: ignore[arg-type]


def test_rows_follow_the_run_and_open_onto_their_details() -> None:
    widget = TraceWidget(prices={}, secrets=["sk-secret-value-123"])
    feed(widget, ("run_started", {"model": "gpt-4o-mini", "request": "Which region?"}))
    feed(widget, ("model_started", {}))
    assert "thinking" in widget.header.value
    feed(widget, ("text_delta", {"text": "Let me look"}))
    widget._show_text()
    assert "Let me look" in widget.reply.value
    calls = [{"id": "c1", "name": "sql", "arguments": "{}"}]
    usage = {"prompt_tokens": 1000, "completion_tokens": 20}
    feed(widget, ("model_finished", {"tool_calls": calls, "usage": usage, "duration_ms": 900}))
    feed(widget, ("tool_started", {"tool": "sql", "call_id": "c1", "arguments": {"query": QUERY}}))
    assert "running sql" in widget.header.value
    row = widget._rows[2]
    assert "…" in row.line.value and "<b>sql</b>" in row.line.value
    result = "| West | 120 | sk-secret-value-123"
    feed(
        widget,
        (
            "tool_finished",
            {"tool": "sql", "call_id": "c1", "ok": True, "summary": "2 rows", "content": result},
        ),
    )
    assert "✓" in row.line.value and "2 rows" in row.line.value
    assert (
        "1,000 in / 20 out" in widget._rows[1].line.value
        and "$0.0002" in widget._rows[1].line.value
    )
    assert row.details.layout.display == "none"
    row.toggle.value = True  # a click on the row's chevron
    assert row.details.layout.display == "block"
    assert "<span" in row.details.value and "GROUP" in row.details.value  # highlighted SQL
    assert "| West | 120 | [REDACTED]" in row.details.value


def test_an_approval_shows_as_a_waiting_row_then_its_outcome() -> None:
    widget = TraceWidget()
    feed(widget, ("run_started", {"model": "m"}))
    request = {"approval_id": "apr_1", "tool": "run_python", "reason": "ask mode"}
    feed(widget, ("approval_requested", request))
    assert "waiting for your approval of run_python" in widget.header.value
    decided = {
        "approval_id": "apr_1",
        "tool": "run_python",
        "approved": False,
        "by": "ann",
        "how": "button",
        "reason": "too risky",
    }
    feed(widget, ("approval_decided", decided))
    assert (
        "⊘" in widget._rows[1].line.value
        and "denied by ann: too risky" in widget._rows[1].line.value
    )


def test_stop_calls_back_once_and_says_it_is_stopping() -> None:
    stopped: list[bool] = []
    widget = TraceWidget(on_stop=lambda: stopped.append(True))
    widget.stop.click()
    assert stopped == [True] and widget.stop.disabled and widget.stop.description == "Stopping…"
    feed(widget, ("run_started", {"model": "m"}), ("run_finished", {"status": "interrupted"}))
    assert widget.document is not None and widget.document["status"] == "interrupted"


def test_the_stop_button_ends_a_run_waiting_on_a_slow_model(
    model_env: ScriptedServer, project_dir: Path
) -> None:
    model_env.add(Reply.slow(60, "too late"), Reply(text="Here again."))
    kernel = Kernel()
    try:
        kernel.run("%load_ext agent_kernel")
        started = time.monotonic()
        cell = kernel.start("%%agent\nTake your time.")

        def stop() -> bool:
            return len(model_env.requests) >= 1 and kernel.click("Stop")

        from tests.test_approval_kernel import once

        shown = "\n".join(kernel.outputs_until_idle(cell, timeout=30, act=once(stop)))
        assert time.monotonic() - started < 20
        assert "Run interrupted; nothing more was run." in shown
        assert "Here again." in "\n".join(
            kernel.outputs_until_idle(kernel.start("%%agent\nStill there?"))
        )
    finally:
        kernel.close()
