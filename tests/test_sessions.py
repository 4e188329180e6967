"""Sessions through a real shell: recorded in `.agent/agent.duckdb`, continued after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.memory.sessions import SessionNotFoundError, title_from
from agent_kernel.memory.store import Store
from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from tests.conftest import TEST_KEY, agent_of


def restart(shell: InteractiveShell) -> None:
    """What a kernel restart leaves: nothing in memory, the store on disk."""
    shell.magics_manager.registry["AgentMagics"]._agent = None


def users(server: ScriptedServer, index: int) -> list[str]:
    return [m["content"] for m in server.requests[index].body["messages"] if m["role"] == "user"]


def test_a_session_continues_after_a_restart(
    shell: InteractiveShell,
    server: ScriptedServer,
    project_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", "analysis.ipynb")  # a named notebook continues
    server.add(
        Reply(text="We drop outliers above 3 sigma."), Reply(text="Noted."), Reply(text="3σ")
    )
    shell.run_cell("%%agent\nHow should we treat outliers in revenue?")
    shell.run_cell("%%agent\nGood, keep that.")
    restart(shell)
    shell.run_cell("%%agent\nWhat did we decide about outliers last time?")
    assert users(server, 2) == [
        "How should we treat outliers in revenue?",
        "Good, keep that.",
        "What did we decide about outliers last time?",
    ]
    assistants = [
        m["content"] for m in server.requests[2].body["messages"] if m["role"] == "assistant"
    ]
    assert assistants == ["We drop outliers above 3 sigma.", "Noted."]
    assert (project_dir / ".agent" / "agent.duckdb").exists()


def test_sessions_table_new_and_resume(
    shell: InteractiveShell,
    server: ScriptedServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", "analysis.ipynb")
    server.add(Reply(text="a"), Reply(text="b"), Reply(text="c"), Reply(text="d"))
    shell.run_cell("%%agent\nExplore the sales data for the March report")
    shell.run_cell("%%agent --new\nA separate question about churn")
    table = shell.run_line_magic("agent", "sessions")
    assert list(table.columns[:4]) == ["id", "title", "notebook", "turns"]
    assert table["title"].tolist() == [
        "A separate question about churn",
        "Explore the sales data for the March report",
    ]
    assert table["turns"].tolist() == [1, 1]
    first = table["id"].iloc[1]
    restart(shell)
    shell.run_line_magic("agent", f"resume {first[:8]}")
    assert f"Resumed {first}" in capsys.readouterr().out
    shell.run_cell("%%agent\nand April?")
    assert users(server, 2) == ["Explore the sales data for the March report", "and April?"]
    # The resumed session stays this notebook's current one after another restart.
    restart(shell)
    shell.run_cell("%%agent\nand May?")
    assert users(server, 3)[-2:] == ["and April?", "and May?"]


def test_resume_of_an_unknown_session_is_one_line(
    shell: InteractiveShell, server: ScriptedServer
) -> None:
    server.add(Reply(text="a"))
    shell.run_cell("%%agent\nhello")
    result = shell.run_cell("%agent resume ses_nope")
    assert isinstance(result.error_in_exec, SessionNotFoundError)
    assert "%agent sessions lists them" in str(result.error_in_exec)


def test_every_step_is_an_event_and_every_message_is_kept(
    shell: InteractiveShell, server: ScriptedServer, project_dir: Path
) -> None:
    server.add(
        Reply(tool_calls=[ToolCall("list_variables", {})], usage=(50, 5)),
        Reply(text="Nothing here yet.", usage=(80, 6)),
    )
    shell.run_cell("%%agent\nWhat data do I have?")
    store = Store(project_dir / ".agent" / "agent.duckdb")
    kinds = [r[0] for r in store.query("SELECT kind FROM events ORDER BY id")]
    assert kinds == [
        "run_started",
        "model_started",
        "model_finished",
        "policy_decision",
        "tool_started",
        "tool_finished",
        "model_started",
        "model_finished",
        "verification",
        "run_finished",
    ]
    roles = [r[0] for r in store.query("SELECT role FROM messages ORDER BY seq")]
    assert roles == ["user", "assistant", "tool", "assistant"]
    (run,) = store.query("SELECT status, steps, prompt_tokens, answer FROM runs")
    assert run == ("answered", 2, 130, "Nothing here yet.")


def test_the_key_never_reaches_the_store(
    effects_allowed: InteractiveShell, server: ScriptedServer, project_dir: Path
) -> None:
    shell = effects_allowed
    shell.run_cell("import os\ntoken = os.environ['OPENAI_API_KEY']")
    server.add(
        Reply(tool_calls=[ToolCall("run_python", {"code": "print(token)"})]),
        Reply(text=f"The token is {TEST_KEY}."),
    )
    shell.run_cell("%%agent\nPrint my token.")
    restart(shell)  # nothing holds the file: read it as it is on disk
    store_files = list((project_dir / ".agent").glob("agent.duckdb*"))
    assert store_files
    for path in store_files:
        assert TEST_KEY.encode() not in path.read_bytes()
    contents = Store(project_dir / ".agent" / "agent.duckdb").query(
        "SELECT message FROM messages WHERE role = 'tool'"
    )
    assert "[REDACTED]" in contents[0][0]


def test_an_unusable_store_leaves_the_agent_working(
    shell: InteractiveShell,
    server: ScriptedServer,
    project_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (project_dir / "not-a-folder").write_text("a file where the store folder should be")
    agent_of(shell).settings.store_dir = str(project_dir / "not-a-folder")
    server.add(Reply(text="Still answering."), Reply(text="Twice."))
    assert shell.run_cell("%%agent\nhello").success
    assert shell.run_cell("%%agent\nagain").success
    out = capsys.readouterr().out
    # Once per run: what could not be recorded, what was kept, and the fix.
    problems = [line for line in out.splitlines() if line.startswith("Note: recording:")]
    assert len(problems) == 2
    assert all("kept in this kernel's memory" in p and "Agent.store_dir" in p for p in problems)
    assert "Traceback" not in out
    assert "Still answering." in out and "Twice." in out
    assert users(server, 1) == ["hello", "again"]


@pytest.mark.parametrize(
    "request_text, title",
    [
        ("Which region sold most?", "Which region sold most?"),
        ("  first line\nsecond line", "first line"),
        ("word " * 30, "word word word word word word word word word word word word…"),
    ],
)
def test_titles_come_from_the_first_request(request_text: str, title: str) -> None:
    assert title_from(request_text) == title


def test_unanswered_calls_are_closed_after_their_answered_siblings() -> None:
    from agent_kernel.runtime.conversation import close_unanswered_calls

    calls = [
        {"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in "ab"
    ]
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "a", "content": "done"},
    ]
    repaired = close_unanswered_calls(messages, "stopped")
    assert [(m["role"], m.get("tool_call_id")) for m in repaired] == [
        ("user", None),
        ("assistant", None),
        ("tool", "a"),
        ("tool", "b"),
    ]
    assert repaired[-1]["content"] == "Error: stopped"
    assert close_unanswered_calls(repaired, "x") == repaired
