"""Bounded input (issue 17.6): a prompt over the context budget is refused in one line with its
size and the budget; numeric settings are validated by traitlets, refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbclient import NotebookClient

from agent_kernel.memory.store import Store
from agent_kernel.testing import Reply, ScriptedServer
from tests.test_kernel import execute, kernel_env, notebook, texts

__all__ = ["kernel_env"]  # the fixture, imported for its use here


def test_a_prompt_over_the_budget_is_refused_in_one_line_and_the_session_goes_on(
    kernel_env: ScriptedServer, project_dir: Path
) -> None:
    kernel_env.add(Reply(text="Short answer."))
    huge = "word " * 200_000  # 1 MB, about 250k tokens against the default 12k budget
    nb = notebook(
        "%load_ext agent_kernel", f"%%agent\nSummarise this: {huge}", "%%agent\nA short question."
    )
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    refused = nb.cells[1].outputs
    errors = [o for o in refused if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "AgentError"
    assert "250,004 tokens" in errors[0].evalue and "budget is 12,000 tokens" in errors[0].evalue
    assert "Agent.context_tokens" in errors[0].evalue
    assert "Traceback" not in texts(nb.cells[1]) and "\n" not in errors[0].evalue
    assert "Short answer." in texts(nb.cells[2])
    # Nothing was sent for the refused request, and it is not in the later one's history.
    assert len(kernel_env.requests) == 1
    sent = kernel_env.requests[0].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["A short question."]
    store = Store(project_dir / ".agent" / "agent.duckdb")
    statuses = store.query("SELECT status, length(request) < 3000 FROM runs ORDER BY started")
    assert statuses == [("error", True), ("answered", True)]


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("Agent.max_steps", "-1", "should not be less than 1"),
        ("Agent.context_tokens", "10", "should not be less than 1000"),
        ("Agent.repr_timeout", "60", "should not be greater than 10.0"),
        ("Agent.request_timeout", "0", "should not be less than 0.1"),
        ("Agent.temperature", "9", "should not be greater than 2.0"),
        ("Policy.approval_timeout", "-5", "should not be less than 1.0"),
    ],
)
def test_a_bad_numeric_setting_is_refused_and_the_old_value_kept(
    shell: InteractiveShell,
    caplog: pytest.LogCaptureFixture,
    setting: str,
    value: str,
    words: str,
) -> None:
    before = shell.run_cell(f"%config {setting}").result
    shell.run_cell(f"%config {setting} = {value}")
    (refusal,) = [r.getMessage() for r in caplog.records]  # IPython's %config logs one line
    assert words in refusal and "\n" not in refusal
    assert shell.run_cell(f"%config {setting}").result == before


def test_a_bad_setting_made_before_loading_is_refused_in_one_line(
    model_env: ScriptedServer, tmp_path: Path
) -> None:
    nb = execute(
        notebook(
            "%config Agent.max_steps = -1",
            "%load_ext agent_kernel",
            "%config Agent.max_steps",
        )
    )
    loaded = texts(nb.cells[1])
    assert loaded.strip().splitlines() == [
        "Agent.max_steps refused: The value of the 'max_steps' trait of an Agent instance "
        "should not be less than 1, but a value of -1 was specified; using the default"
    ]
    assert nb.cells[2].outputs[0].data["text/plain"] == "12"
