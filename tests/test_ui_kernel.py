"""What a notebook user sees in a real kernel: `%agent help` as a table, an approval card that
collapses to one line once decided, and a run whose only action was denied not shown as a
success. Comm messages are read and sent as JupyterLab does (see test_approval_kernel)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from tests.test_approval_kernel import CODE, Kernel, once

pytestmark = pytest.mark.kernel


class FrontEnd(Kernel):
    """A kernel client that also applies state updates and closes, as a front end does."""

    def __init__(self) -> None:
        super().__init__()
        self.closed: set[str] = set()

    def _keep(self, msg: dict[str, Any]) -> None:
        super()._keep(msg)
        content = msg["content"]
        if msg["msg_type"] == "comm_msg" and content["comm_id"] in self.widgets:
            if content["data"].get("method") == "update":
                self.widgets[content["comm_id"]].update(content["data"]["state"])
        elif msg["msg_type"] == "comm_close":
            self.closed.add(content["comm_id"])


@pytest.fixture
def kernel(model_env: ScriptedServer) -> Iterator[FrontEnd]:
    k = FrontEnd()
    k.run("%load_ext agent_kernel")
    yield k
    k.close()


def card(kernel: FrontEnd) -> dict[str, object]:
    (state,) = [
        s
        for s in kernel.widgets.values()
        if "agent-kernel-approval" in (s.get("_dom_classes") or ())
    ]
    return state


def test_help_is_a_markdown_table_with_a_narrow_text_fallback(kernel: FrontEnd) -> None:
    cell = kernel.start("%agent help")
    (markdown,) = [t for t in kernel.outputs_until_idle(cell) if t.startswith("**agent-kernel")]
    assert "| `%agent trace [RUN]` | show a past run's trace" in markdown
    assert "|---|---|" in markdown


def test_a_decided_card_collapses_to_one_line(kernel: FrontEnd, model_env: ScriptedServer) -> None:
    model_env.add(Reply(tool_calls=[ToolCall("run_python", {"code": CODE})]), Reply(text="42."))
    cell = kernel.start("%%agent\nCompute it.")
    kernel.outputs_until_idle(cell, act=once(lambda: kernel.click("Approve")))
    state = card(kernel)
    (only,) = state["children"]  # type: ignore[misc]
    status = kernel.widgets[str(only).removeprefix("IPY_MODEL_")]
    assert "Approved by" in str(status["value"]) and "run_python" in str(status["value"])
    assert "needs your approval" not in str(status["value"])
    buttons = [
        comm
        for comm, s in kernel.widgets.items()
        if s.get("_model_name") == "ButtonModel" and s.get("description") == "Approve"
    ]
    assert buttons and set(buttons) <= kernel.closed  # the folded parts are closed


def test_a_run_whose_only_action_was_denied_is_not_shown_as_answered(
    kernel: FrontEnd, model_env: ScriptedServer
) -> None:
    model_env.add(
        Reply(tool_calls=[ToolCall("run_python", {"code": CODE})]),
        Reply(text="I could not run it."),
    )
    cell = kernel.start("%%agent\nCompute it.")
    shown = "\n".join(kernel.outputs_until_idle(cell, act=once(lambda: kernel.click("Deny"))))
    (trace,) = [t for t in shown.split("\n") if t.startswith("Agent trace:")]
    assert "answered, but its action was denied" in trace
    state = card(kernel)
    (only,) = state["children"]  # type: ignore[misc]
    assert "Denied by" in str(kernel.widgets[str(only).removeprefix("IPY_MODEL_")]["value"])
