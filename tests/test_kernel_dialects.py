"""Server dialects in a real kernel (nbclient): what a notebook user sees."""

from __future__ import annotations

import time

import nbformat
import pytest
from nbclient import NotebookClient

from agent_kernel.testing import Reply, ScriptedServer, ToolCall


def run_notebook(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, *cells: str) -> list:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("AGENT_KERNEL_MODEL", "scripted-model")
    monkeypatch.setenv("AGENT_KERNEL_UNATTENDED", "1")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(nb, timeout=90, kernel_name="python3", allow_errors=True).execute()
    return list(nb.cells)


def shown(cell: nbformat.NotebookNode) -> str:
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
        elif out.output_type in ("display_data", "execute_result"):
            parts.append(out.data.get("text/plain", ""))
    return "\n".join(parts)


def test_keepalives_only_end_the_cell_at_the_timeout_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 10, item 6: a server that only pings while a CPU model works."""
    with ScriptedServer([Reply.slow(60, "late")], keepalive=0.25) as server:
        started = time.perf_counter()
        cells = run_notebook(
            server,
            monkeypatch,
            "%load_ext agent_kernel\n%config Agent.request_timeout = 2.0",
            "%%agent\nSummarise the data.",
        )
        elapsed = time.perf_counter() - started
    text = shown(cells[1])
    assert "sent nothing useful (no text, tool call or end) for 2 s" in text, text
    assert "Traceback" not in text and text.count("ModelError") <= 1
    assert len(server.requests) == 1
    assert elapsed < 45, elapsed  # kernel start included; not the 60 s the server would take


def test_llamacpp_tool_call_and_its_follow_up_in_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The failure of issue 11 as a user met it: repeated names, then content null refused."""
    script = [
        Reply(tool_calls=[ToolCall("list_variables")], chunk_chars=1),
        Reply(text="There is sales."),
    ]
    with ScriptedServer(script, dialect="llamacpp") as server:
        cells = run_notebook(
            server, monkeypatch, "%load_ext agent_kernel\nsales = [1, 2]", "%%agent\nWhat is here?"
        )
    text = shown(cells[1])
    assert "There is sales." in text, text
    assert "unknown" not in text.lower() and "Error" not in text
    tool_result = [m for m in server.requests[1].body["messages"] if m["role"] == "tool"]
    assert tool_result and "sales" in tool_result[0]["content"]
