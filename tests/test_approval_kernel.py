"""Approval cards in a real kernel: the comm messages a browser sends, while the cell awaits.

A click on Approve is sent exactly as JupyterLab sends it (`comm_msg` with
`{"method": "custom", "content": {"event": "click"}}` to the button's comm); typing in a text
box is a state update (`{"method": "update", "state": {"value": ...}}`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from agent_kernel.memory.store import Store
from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from tests.conftest import ingested_store

CODE = "approved_value = 6 * 7\nprint(approved_value)"


class Kernel:
    """A real kernel and a client that sees what a front end sees (iopub, comms)."""

    def __init__(self) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel()
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.widgets: dict[str, dict[str, Any]] = {}  # comm id -> widget state

    def run(self, code: str, timeout: float = 60) -> dict[str, Any]:
        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=self._keep)
        return dict(reply["content"])

    def start(self, code: str) -> str:
        return str(self.client.execute(code))

    def outputs_until_idle(self, msg_id: str, timeout: float = 60, act: Any = None) -> list[str]:
        """Texts the cell shows, until it is idle; `act()` is called while it waits."""
        texts: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.client.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                if act is not None:
                    act()
                continue
            self._keep(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            content = msg["content"]
            if msg["msg_type"] == "stream":
                texts.append(content["text"])
            elif msg["msg_type"] in ("display_data", "update_display_data", "execute_result"):
                data = content["data"]
                texts.append(data.get("text/markdown") or data.get("text/plain", ""))
            elif msg["msg_type"] == "error":
                texts.append(f"{content['ename']}: {content['evalue']}")
            elif msg["msg_type"] == "status" and content["execution_state"] == "idle":
                return texts
        raise AssertionError(f"the cell did not finish in {timeout} s; it showed {texts}")

    def _keep(self, msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "comm_open" and content.get("target_name") == "jupyter.widget":
            self.widgets[content["comm_id"]] = dict(content["data"]["state"])

    def find(self, model: str, **state: Any) -> str | None:
        for comm_id, widget in self.widgets.items():
            if widget.get("_model_name") == model and all(
                widget.get(k) == v for k, v in state.items()
            ):
                return comm_id
        return None

    def send(self, comm_id: str, data: dict[str, Any]) -> None:
        self.client.shell_channel.send(
            self.client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        )

    def click(self, description: str) -> bool:
        """Click the newest button with this label, as the browser does; False if none yet."""
        comm_id = self.find("ButtonModel", description=description)
        if comm_id is None:
            return False
        self.send(comm_id, {"method": "custom", "content": {"event": "click"}})
        return True

    def type_into(self, model: str, value: str) -> None:
        comm_id = self.find(model)
        assert comm_id is not None, f"no {model} on the page"
        self.send(comm_id, {"method": "update", "state": {"value": value}, "buffer_paths": []})

    def kill(self) -> None:
        process = self.manager.provisioner.process  # type: ignore[union-attr]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def close(self) -> None:
        self.client.stop_channels()
        if self.manager.is_alive():
            self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel(model_env: ScriptedServer) -> Iterator[Kernel]:
    k = Kernel()
    k.run("%load_ext agent_kernel")
    yield k
    k.close()


def in_order(*actions: Any) -> Any:
    """An `act` callback: tries the first action until it succeeds, then the next, and so on."""
    waiting = list(actions)

    def act() -> None:
        if waiting and waiting[0]():
            waiting.pop(0)

    return act


def once(action: Any) -> Any:
    return in_order(action)


def store(project: Path) -> Store:
    return Store(project / ".agent" / "agent.duckdb")


def test_a_click_on_approve_resumes_the_awaiting_cell(
    kernel: Kernel, model_env: ScriptedServer, project_dir: Path
) -> None:
    model_env.add(
        Reply(tool_calls=[ToolCall("run_python", {"code": CODE})]), Reply(text="It printed 42.")
    )
    cell = kernel.start("%%agent\nCompute it.")
    shown = "\n".join(kernel.outputs_until_idle(cell, act=once(lambda: kernel.click("Approve"))))
    assert "needs your approval" in shown  # the card was in this cell
    assert "✓ run_python · ran; changed approved_value" in shown and "It printed 42." in shown
    assert "✓ run_python · approved by" in shown
    assert kernel.run("assert approved_value == 42")["status"] == "ok"
    (decided,) = store(project_dir).query(
        "SELECT data ->> 'approved', data ->> 'how', data ->> 'by' FROM events "
        "WHERE kind = 'approval_decided'"
    )
    assert decided[:2] == ("true", "button") and decided[2]


def test_deny_with_a_reason_goes_back_to_the_model(
    kernel: Kernel, model_env: ScriptedServer
) -> None:
    model_env.add(
        Reply(tool_calls=[ToolCall("run_python", {"code": CODE})]), Reply(text="Understood.")
    )
    cell = kernel.start("%%agent\nCompute it.")

    def deny() -> bool:
        if kernel.find("ButtonModel", description="Deny") is None:
            return False
        kernel.type_into("TextModel", "use sql instead")
        return kernel.click("Deny")

    shown = "\n".join(kernel.outputs_until_idle(cell, act=once(deny)))
    assert "Understood." in shown
    told = model_env.requests[1].body["messages"][-1]["content"]
    assert told == "Error: the user did not approve this call: use sql instead"
    assert kernel.run("approved_value")["status"] == "error"  # nothing ran


def test_edited_code_runs_instead_and_the_change_is_audited(
    kernel: Kernel, model_env: ScriptedServer, project_dir: Path
) -> None:
    model_env.add(Reply(tool_calls=[ToolCall("run_python", {"code": CODE})]), Reply(text="Done."))
    cell = kernel.start("%%agent\nCompute it.")
    act = in_order(
        lambda: kernel.click("Edit"),
        lambda: kernel.type_into("TextareaModel", "approved_value = 100") or True,
        lambda: kernel.click("Approve"),
    )
    kernel.outputs_until_idle(cell, act=act)
    assert kernel.run("assert approved_value == 100")["status"] == "ok"
    (edit,) = store(project_dir).query(
        "SELECT data ->> 'edit' FROM events WHERE kind = 'approval_decided'"
    )
    assert "-approved_value = 6 * 7" in edit[0] and "+approved_value = 100" in edit[0]


def test_the_asyncio_task_fallback_also_sees_the_click(
    kernel: Kernel, model_env: ScriptedServer
) -> None:
    model_env.add(
        Reply(tool_calls=[ToolCall("run_python", {"code": CODE})]), Reply(text="It printed 42.")
    )
    # Not transformed into an awaited cell: the run goes on as a task after the cell returns.
    cell = kernel.start("get_ipython().run_cell_magic('agent', '', 'Compute it.')")
    first = "\n".join(kernel.outputs_until_idle(cell))
    assert "continues in the background" in first
    later: list[str] = []
    deadline = time.monotonic() + 30
    clicked = False
    while time.monotonic() < deadline and not any("It printed 42." in t for t in later):
        try:
            msg = kernel.client.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            clicked = clicked or kernel.click("Approve")
            continue
        kernel._keep(msg)
        if msg["parent_header"].get("msg_id") == cell and "data" in msg["content"]:
            later.append(msg["content"]["data"].get("text/markdown", ""))
    assert clicked and any("It printed 42." in t for t in later)  # in the same cell
    assert kernel.run("assert approved_value == 42")["status"] == "ok"


def test_a_wait_with_no_answer_times_out_into_a_recorded_denial(
    kernel: Kernel, model_env: ScriptedServer, project_dir: Path
) -> None:
    model_env.add(Reply(tool_calls=[ToolCall("run_python", {"code": CODE})]), Reply(text="OK."))
    kernel.run("%config Policy.approval_timeout = 1.5")
    started = time.monotonic()
    shown = "\n".join(kernel.outputs_until_idle(kernel.start("%%agent\nCompute it.")))
    assert time.monotonic() - started < 20
    assert "run_python · denied by timeout: no one answered within 2 s" in shown
    assert "Raise %config Policy.approval_timeout" in shown
    (how,) = store(project_dir).query(
        "SELECT data ->> 'how' FROM events WHERE kind = 'approval_decided'"
    )
    assert how == ("timeout",)


def test_a_pending_approval_survives_a_restart_and_runs_once_when_approved(
    model_env: ScriptedServer, project_dir: Path
) -> None:
    # Sandboxed code writes only where Agent.sandbox_writable allows (never the project's
    # store), so the marker goes to a folder of its own.
    out = project_dir.parent / "out"
    out.mkdir()
    writable = f"%config Agent.sandbox_writable = [{str(out)!r}]"
    marker = out / "ran.txt"
    code = f"with open({str(marker)!r}, 'a') as f:\n    f.write('ran\\n')"
    model_env.add(
        Reply(tool_calls=[ToolCall("run_python", {"code": code})]), Reply(text="Appended a line.")
    )
    first = Kernel()
    try:
        first.run("%load_ext agent_kernel")
        first.run(writable)
        cell = first.start("%%agent\nAppend a line.")
        deadline = time.monotonic() + 30
        while first.find("ButtonModel", description="Approve") is None:
            assert time.monotonic() < deadline, "no approval card"
            with contextlib.suppress(queue.Empty):
                first._keep(first.client.get_iopub_msg(timeout=0.2))
        assert cell
        first.kill()  # the approval is on record; the run is gone with the kernel
    finally:
        first.close()
    # Durable once asked: the killed kernel's journal holds it until the next kernel ingests.
    (pending,) = ingested_store(project_dir).query(
        "SELECT data ->> 'approval_id' FROM events WHERE kind = 'approval_requested'"
    )
    second = Kernel()
    try:
        second.run("%load_ext agent_kernel")
        second.run(writable)
        table = "\n".join(second.outputs_until_idle(second.start("%agent approvals")))
        assert pending[0] in table and "pending" in table
        shown = "\n".join(second.outputs_until_idle(second.start(f"%agent approve {pending[0]}")))
        assert "from before the restart; continuing its run" in shown
        assert "Appended a line." in shown
    finally:
        second.close()
    assert marker.read_text() == "ran\n"  # run exactly once
    assert len(model_env.requests) == 2  # the model was asked again only after the call ran
