"""A real kernel: notebooks run with nbclient; jupyter_client for interrupts and payloads."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from tests.conftest import TEST_KEY, ingested_store

SALES = """\
import pandas as pd
sales = pd.DataFrame({
    "month": ["Feb", "Mar", "Mar", "Mar", "Apr", "Mar"],
    "region": ["East", "East", "West", "North", "West", "West"],
    "revenue": [900.0, 1200.0, 800.0, 300.0, 1500.0, 650.0],
})"""
# Notebooks in these tests run unattended (nbclient) and allow effects, as a CI job over
# trusted notebooks would; the permission tests elsewhere do not.
ALLOW_UNATTENDED = '%config Policy.unattended = "allow"'
TRACE_MIME = "application/vnd.agent-kernel.trace+json"
QUERY = (
    "SELECT region, SUM(revenue) AS revenue FROM sales WHERE month = 'Mar' "
    "GROUP BY region ORDER BY revenue DESC"
)


def notebook(*cells: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def execute(nb: nbformat.NotebookNode, timeout: int = 60) -> nbformat.NotebookNode:
    NotebookClient(nb, timeout=timeout, kernel_name="python3").execute()
    return nb


def texts(cell: Any) -> str:
    """Everything a person reads in a cell's outputs, as plain text."""
    parts: list[str] = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("display_data", "execute_result"):
            parts.append(out.data.get("text/markdown") or out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "\n".join(parts)


@pytest.fixture
def kernel_env(model_env: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> ScriptedServer:
    monkeypatch.setenv("AGENT_KERNEL_UNATTENDED", "1")
    return model_env


@pytest.fixture
def named_notebook(monkeypatch: pytest.MonkeyPatch) -> str:
    """Kernels started after this run a notebook with a name, as Jupyter tells them one
    (request it before `kernel`); a notebook with no name gets a session per kernel."""
    monkeypatch.setenv("JPY_SESSION_NAME", "analysis.ipynb")
    return "analysis.ipynb"


def test_notebook_question_is_answered_with_real_tools(kernel_env: ScriptedServer) -> None:
    server = kernel_env
    server.add(
        Reply(tool_calls=[ToolCall("list_variables", {})]),
        Reply(tool_calls=[ToolCall("describe_dataframe", {"name": "sales"})]),
        Reply(tool_calls=[ToolCall("sql", {"query": QUERY})]),
        Reply(text=f"**West** had the highest March revenue.\n\n```sql\n{QUERY}\n```"),
        Reply(tool_calls=[ToolCall("run_python", {"code": "best = sales.revenue.max()\nbest"})]),
        Reply(text="The largest single sale was 1500."),
    )
    nb = execute(
        notebook(
            "%load_ext agent_kernel",
            ALLOW_UNATTENDED,
            SALES,
            "%%agent\nWhich region had the highest revenue in March? Show me the code you used.",
            "%%agent\nAnd the largest single sale?",
            "float(best)",
        )
    )
    answer = texts(nb.cells[3])
    assert "**West** had the highest March revenue." in answer and QUERY in answer
    # The live widget was replaced in place by the trace document: the saved cell holds a
    # trace that renders without a kernel, and no widget view that would not.
    kinds = [mime for o in nb.cells[3].outputs for mime in o.get("data", {})]
    assert "application/vnd.jupyter.widget-view+json" not in kinds
    assert " 2. ✓ list_variables · 1 variable (1 dataframe listed first)" in answer
    (trace,) = [o.data[TRACE_MIME] for o in nb.cells[3].outputs if TRACE_MIME in o.get("data", {})]
    assert [(s["kind"], s["name"], s["status"]) for s in trace["steps"]] == [
        ("model", "scripted-model", "done"),
        ("tool", "list_variables", "done"),
        ("model", "scripted-model", "done"),
        ("tool", "describe_dataframe", "done"),
        ("model", "scripted-model", "done"),
        ("tool", "sql", "done"),
        ("model", "scripted-model", "done"),
        ("verification", "check", "done"),  # the answer's numbers are backed by the sql result
    ]
    assert trace["steps"][5]["code"] == {"language": "sql", "source": QUERY}
    assert "West" in trace["steps"][5]["result"] and trace["status"] == "answered"
    assert "**West** had the highest March revenue." in answer
    # The model was given real data from the kernel, not made-up numbers.
    variables = server.requests[1].body["messages"][-1]["content"]
    assert "sales" in variables and "DataFrame" in variables
    aggregate = server.requests[3].body["messages"][-1]["content"]
    assert "West" in aggregate and "1450" in aggregate
    # The follow-up cell continued the same conversation and changed the user's namespace.
    follow_up = server.requests[4].body["messages"]
    assert any(m.get("content", "").startswith("Which region") for m in follow_up)
    assert "The largest single sale was 1500." in texts(nb.cells[4])
    assert nb.cells[5].outputs[0].data["text/plain"] == "1500.0"
    # The key appears nowhere in the saved notebook.
    assert TEST_KEY not in nbformat.writes(nb)


def test_a_figure_drawn_by_the_agent_appears_in_the_cell(kernel_env: ScriptedServer) -> None:
    kernel_env.add(
        Reply(
            tool_calls=[
                ToolCall(
                    "run_python",
                    {"code": "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])"},
                )
            ]
        ),
        Reply(text="Here is the plot."),
    )
    nb = execute(
        notebook(
            "%load_ext agent_kernel", ALLOW_UNATTENDED, "%matplotlib inline", "%%agent\nplot it"
        )
    )
    outputs = nb.cells[3].outputs
    assert any("image/png" in o.get("data", {}) for o in outputs)
    tool_result = kernel_env.requests[1].body["messages"][-1]["content"]
    assert "displayed in the notebook: a figure" in tool_result


def test_config_error_in_a_notebook_is_one_line(
    kernel_env: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    nb = notebook("%load_ext agent_kernel", "%%agent\nhello")
    with pytest.raises(Exception) as info:
        execute(nb)
    error = next(o for o in nb.cells[1].outputs if o.output_type == "error")
    assert error.ename == "AgentConfigError"
    assert len(error.traceback) == 1
    assert "OPENAI_API_KEY" in error.traceback[0] and "11434" in error.traceback[0]
    assert "AgentConfigError" in str(info.value)


@pytest.fixture
def kernel(kernel_env: ScriptedServer) -> Iterator[tuple[KernelManager, Any]]:
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    client = km.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    try:
        yield km, client
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


def run_code(client: Any, code: str, timeout: float = 60) -> tuple[dict[str, Any], str]:
    collected: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "stream":
            collected.append(content["text"])
        elif msg["msg_type"] in ("display_data", "update_display_data", "execute_result"):
            collected.append(content["data"].get("text/plain", ""))
        elif msg["msg_type"] == "error":
            collected.append(f"{content['ename']}: {content['evalue']}")

    reply = client.execute_interactive(code, output_hook=hook, timeout=timeout)
    return reply, "\n".join(collected)


def interrupt_when_requested(km: KernelManager, server: ScriptedServer, requests: int) -> None:
    """Interrupt the kernel once the server has received `requests` model calls (plus 1 s)."""

    def watch() -> None:
        deadline = time.monotonic() + 30
        while len(server.requests) < requests and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        km.interrupt_kernel()

    threading.Thread(target=watch, daemon=True).start()


def test_interrupt_stops_the_run_cleanly(
    kernel: tuple[KernelManager, Any], kernel_env: ScriptedServer
) -> None:
    km, client = kernel
    kernel_env.add(Reply.slow(30, "too late"), Reply(text="Still here."))
    run_code(client, "%load_ext agent_kernel")
    interrupt_when_requested(km, kernel_env, requests=1)
    started = time.monotonic()
    reply, output = run_code(client, "%%agent\nTake your time.")
    assert time.monotonic() - started < 15
    assert reply["content"]["status"] == "ok"
    assert "Run interrupted" in output
    assert "Traceback" not in output
    reply, output = run_code(client, "%%agent\nAre you still there?")
    assert reply["content"]["status"] == "ok"
    assert "Still here." in output


def test_interrupt_stops_long_code_run_by_the_agent(
    kernel: tuple[KernelManager, Any], kernel_env: ScriptedServer
) -> None:
    km, client = kernel
    kernel_env.add(Reply(tool_calls=[ToolCall("run_python", {"code": "while True:\n    pass"})]))
    run_code(client, "%load_ext agent_kernel")
    run_code(client, ALLOW_UNATTENDED)
    interrupt_when_requested(km, kernel_env, requests=1)
    reply, output = run_code(client, "%%agent\nSpin.")
    assert reply["content"]["status"] == "ok"
    assert "Run interrupted" in output


def test_proposed_cell_reaches_the_front_end_as_a_payload(
    kernel: tuple[KernelManager, Any], kernel_env: ScriptedServer
) -> None:
    _, client = kernel
    code = "sales.groupby('region').revenue.sum()"
    kernel_env.add(
        Reply(tool_calls=[ToolCall("propose_cell", {"code": code})]),
        Reply(text="I put the code in a new cell below."),
    )
    run_code(client, "%load_ext agent_kernel")
    reply, output = run_code(client, "%%agent\nGive me code to total revenue by region.")
    payloads = reply["content"]["payload"]
    assert [p["source"] for p in payloads] == ["set_next_input"]
    assert payloads[0]["text"] == code
    assert payloads[0]["replace"] is False
    assert "I put the code in a new cell below." in output
    assert json.dumps(reply, default=str).count(TEST_KEY) == 0


def test_a_new_kernel_continues_the_notebooks_session(
    named_notebook: str, kernel_env: ScriptedServer, project_dir: Path
) -> None:
    kernel_env.add(
        Reply(text="Decision recorded: outliers above 3 sigma are dropped."),
        Reply(text="Last time we decided to drop outliers above 3 sigma."),
    )
    execute(notebook("%load_ext agent_kernel", "%%agent\nDrop revenue outliers above 3 sigma."))
    nb = execute(
        notebook("%load_ext agent_kernel", "%%agent\nWhat did we decide about outliers last time?")
    )
    sent = kernel_env.requests[1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == [
        "Drop revenue outliers above 3 sigma.",
        "What did we decide about outliers last time?",
    ]
    assert "Last time we decided to drop outliers" in texts(nb.cells[1])
    assert (project_dir / ".agent" / "agent.duckdb").exists()


def test_a_killed_kernel_leaves_every_finished_step_readable(
    named_notebook: str,
    kernel: tuple[KernelManager, Any],
    kernel_env: ScriptedServer,
    project_dir: Path,
) -> None:
    km, client = kernel
    kernel_env.add(
        Reply(tool_calls=[ToolCall("list_variables", {})]),
        Reply(tool_calls=[ToolCall("run_python", {"code": "step_two = 2"})]),
        Reply.slow(60, "never sent"),
    )
    run_code(client, "%load_ext agent_kernel")
    run_code(client, ALLOW_UNATTENDED)
    client.execute("%%agent\nWork slowly.")
    deadline = time.monotonic() + 30
    while len(kernel_env.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(kernel_env.requests) == 3  # steps 1 and 2 finished; step 3 is waiting
    process = km.provisioner.process  # type: ignore[union-attr]
    os.kill(process.pid, signal.SIGKILL)  # no cleanup code of any kind runs
    process.wait(timeout=10)

    store = ingested_store(project_dir)  # what the next kernel finds: the journal, ingested
    finished = store.query(
        "SELECT data ->> 'tool' FROM events WHERE kind = 'tool_finished' ORDER BY id"
    )
    assert finished == [("list_variables",), ("run_python",)]
    assert store.query("SELECT status FROM runs") == [("unfinished",)]
    roles = [r[0] for r in store.query("SELECT role FROM messages ORDER BY seq")]
    assert roles == ["user", "assistant", "tool", "assistant", "tool"]

    # A new kernel continues the session; the killed run's record is part of it.
    kernel_env.add(Reply(text="Back."))
    nb = execute(notebook("%load_ext agent_kernel", "%%agent\nAre you back?"))
    assert "Back." in texts(nb.cells[1])
    roles_sent = [m["role"] for m in kernel_env.requests[3].body["messages"]]
    assert roles_sent == ["system", "user", "assistant", "tool", "assistant", "tool", "user"]


def test_the_key_appears_nowhere_in_notebook_requests_or_store(
    kernel_env: ScriptedServer, project_dir: Path
) -> None:
    kernel_env.add(
        Reply(tool_calls=[ToolCall("run_python", {"code": "print(token)"})]),
        Reply(tool_calls=[ToolCall("sql", {"query": "SELECT note FROM notes"})]),
        # A model that somehow learned the key and repeats it: the cell must not show it.
        Reply(text=f"The key is {TEST_KEY}."),
    )
    nb = execute(
        notebook(
            "%load_ext agent_kernel",
            ALLOW_UNATTENDED,
            "import os\nimport pandas as pd\ntoken = os.environ['OPENAI_API_KEY']\n"
            "notes = pd.DataFrame({'note': ['the key is ' + token]})",
            "%%agent\nPrint my token and show me the notes.",
        )
    )
    assert "[REDACTED]" in texts(nb.cells[3])
    assert TEST_KEY not in nbformat.writes(nb)
    for request in kernel_env.requests:
        assert TEST_KEY not in json.dumps(request.body)
    assert "[REDACTED]" in json.dumps(kernel_env.requests[1].body)  # the print was sent, cleaned
    files = [p for p in (project_dir / ".agent").rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert TEST_KEY.encode() not in path.read_bytes(), path
