"""The live trace widget, fed by events; and its Stop button in a real kernel."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from agent_kernel.events import Event
from agent_kernel.testing import Reply, ScriptedServer
from agent_kernel.ui.trace import TraceWidget
from tests.test_approval_kernel import Kernel

QUERY = "SELECT region, sum(revenue) FROM sales GROUP BY 1"


def feed(widget: TraceWidget, *items: tuple[str, dict[str, Any]]) -> None:
    for kind, data in items:
        widget(Event(kind, "run_1", 1, data))  # type: ignore[arg-type]


def live_widgets() -> int:
    from ipywidgets.widgets.widget import _instances

    return len(_instances)


@pytest.mark.unit
def test_rows_follow_the_run_and_open_onto_their_details() -> None:
    widget = TraceWidget(prices={}, secrets=["sk-secret-value-123"])
    feed(widget, ("run_started", {"model": "gpt-4o-mini", "request": "Which region?"}))
    feed(widget, ("model_started", {}))
    assert "thinking" in widget.header.value
    feed(widget, ("text_delta", {"text": "Let me look " * 20}))
    widget.flush()
    assert "Let me look" in widget.reply.value
    calls = [{"id": "c1", "name": "sql", "arguments": "{}"}]
    usage = {"prompt_tokens": 1000, "completion_tokens": 20}
    feed(widget, ("model_finished", {"tool_calls": calls, "usage": usage, "duration_ms": 900}))
    feed(widget, ("tool_started", {"tool": "sql", "call_id": "c1", "arguments": {"query": QUERY}}))
    widget.flush()
    assert "running sql" in widget.header.value
    assert "1,000 tokens in / 20 out" in widget.header.value  # live totals
    row = widget._slots[2]
    assert "…" in row.value and "<b>sql</b>" in row.value
    result = "| West | 120 | sk-secret-value-123"
    feed(
        widget,
        (
            "tool_finished",
            {"tool": "sql", "call_id": "c1", "ok": True, "summary": "2 rows", "content": result},
        ),
    )
    widget.flush()
    assert "✓" in row.value and "2 rows" in row.value
    assert "1,000 in / 20 out" in widget._slots[1].value and "$0.0002" in widget._slots[1].value
    # The row opens (HTML details, no round trip to the kernel) onto the query, whole
    # tokens on each line (no mid-token wrapping), and the result with the secret removed.
    assert (
        "<details><summary>" in row.value
        and "class='akt-code'" in row.value
        and "white-space:pre}" in widget.stylesheet.value
    )
    assert "GROUP BY 1" in row.value
    assert "| West | 120 | [REDACTED]" in row.value and "sk-secret-value-123" not in row.value


@pytest.mark.unit
def test_a_secret_split_across_chunks_never_shows_in_the_live_reply() -> None:
    secret = "sk-proj-" + "A1b2C3d4" * 5
    widget = TraceWidget(secrets=[secret])
    feed(widget, ("run_started", {"model": "m"}), ("model_started", {}))
    text = "The key is " + secret + " and that is all. " + "More words. " * 30
    shown = []
    for i in range(0, len(text), 5):
        feed(widget, ("text_delta", {"text": text[i : i + 5]}))
        widget.flush()
        shown.append(widget.reply.value)
    feed(widget, ("model_finished", {"text": text}))
    widget.flush()
    shown.append(widget.reply.value)
    assert not any(secret[:20] in value for value in shown)
    assert "The key is [REDACTED] and that is all." in shown[-1]


@pytest.mark.unit
def test_a_long_run_reuses_a_fixed_set_of_widgets_and_closes_them_all() -> None:
    """A 1000-step run opens as many widgets as a short one, and none outlive the run."""
    before = live_widgets()
    widget = TraceWidget()
    feed(widget, ("run_started", {"model": "m"}))
    counts = {}
    for i in range(1, 1001):
        calls = [{"id": f"c{i}", "name": "sql", "arguments": "{}"}]
        feed(
            widget,
            ("model_started", {}),
            ("model_finished", {"tool_calls": calls, "usage": {"prompt_tokens": 10}}),
            ("tool_started", {"tool": "sql", "call_id": f"c{i}", "arguments": {"query": "1"}}),
            ("tool_finished", {"tool": "sql", "call_id": f"c{i}", "ok": True, "content": "1"}),
        )
        if i in (20, 1000):
            widget.flush()
            counts[i] = live_widgets() - before
    assert counts[20] == counts[1000]
    assert "… 1,988 earlier steps above" in widget.header.value
    assert len(widget.steps.children) == 12
    feed(widget, ("run_finished", {"status": "answered", "answer": "done"}))
    assert live_widgets() == before
    assert widget.document is not None and len(widget.document["steps"]) == 2000


@pytest.mark.unit
def test_an_approval_shows_as_a_waiting_row_then_its_outcome() -> None:
    widget = TraceWidget()
    feed(widget, ("run_started", {"model": "m"}))
    request = {"approval_id": "apr_1", "tool": "run_python", "reason": "ask mode"}
    feed(widget, ("approval_requested", request))
    assert "waiting for your approval of run_python" in widget.header.value  # at once
    decided = {
        "approval_id": "apr_1",
        "tool": "run_python",
        "approved": False,
        "by": "ann",
        "how": "button",
        "reason": "too risky",
    }
    feed(widget, ("approval_decided", decided))
    widget.flush()
    assert "⊘" in widget._slots[1].value and "denied by ann: too risky" in widget._slots[1].value


@pytest.mark.unit
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
