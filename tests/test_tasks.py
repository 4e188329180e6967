"""Tasks across sessions: a plan kept in the store, continued after a restart."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.errors import AgentError
from agent_kernel.testing import Reply, ScriptedServer, ToolCall

STEPS = ["Load the penguins data", "Drop rows with missing sex", "Average body mass by species"]


def restart(shell: InteractiveShell) -> None:
    shell.magics_manager.registry["AgentMagics"]._agent = None


def test_a_plan_is_continued_in_another_session_after_a_restart(
    shell: InteractiveShell, server: ScriptedServer
) -> None:
    server.add(
        Reply(tool_calls=[ToolCall("plan", {"title": "Penguin summary", "steps": STEPS})]),
        Reply(
            tool_calls=[ToolCall("update_plan", {"step": 1, "status": "done", "note": "344 rows"})]
        ),
        Reply(text="Step 1 is done; I will stop here for now."),
    )
    shell.run_cell("%%agent\nSummarise the penguins, step by step.")
    planned = server.requests[1].body["messages"][-1]["content"]
    assert planned.startswith("Planned.\nTask task_") and "☐ 3. [todo] Average body mass" in planned

    restart(shell)
    server.add(Reply(text="Unrelated answer."))
    shell.run_cell("%%agent --new\nSomething else entirely.")  # another session in between
    server.add(
        Reply(
            tool_calls=[ToolCall("update_plan", {"step": 2, "status": "done", "note": "333 rows"})]
        ),
        Reply(tool_calls=[ToolCall("update_plan", {"step": 3, "status": "done"})]),
        Reply(text="Done: Gentoo are heaviest."),
    )
    assert shell.run_cell("%%agent continue").success
    first = server.requests[4].body["messages"]
    assert first[-1] == {
        "role": "user",
        "content": "Continue the task 'Penguin summary': carry on with step 2: Drop rows with "
        "missing sex",
    }
    system = first[0]["content"]
    assert "A task is in progress" in system
    assert "☑ 1. [done] Load the penguins data (344 rows)" in system
    assert "☐ 2. [todo] Drop rows with missing sex" in system
    # A later call in the same run sees the step the model just marked.
    assert (
        "☑ 2. [done] Drop rows with missing sex (333 rows)"
        in server.requests[5].body["messages"][0]["content"]
    )
    tasks = shell.run_line_magic("agent", "tasks")
    assert tasks.status.tolist() == ["done", "done", "done"]
    assert tasks.note.tolist() == ["344 rows", "333 rows", ""]
    result = shell.run_cell("%%agent continue")
    assert isinstance(result.error_in_exec, AgentError)
    assert "there is no open task in this project to continue" in str(result.error_in_exec)


def test_a_step_outside_the_plan_is_a_tool_error(
    shell: InteractiveShell, server: ScriptedServer
) -> None:
    server.add(
        Reply(tool_calls=[ToolCall("plan", {"title": "t", "steps": ["a"]})]),
        Reply(tool_calls=[ToolCall("update_plan", {"step": 4, "status": "done"})]),
        Reply(text="ok"),
    )
    shell.run_cell("%%agent\nplan it")
    told = server.requests[2].body["messages"][-1]["content"]
    assert told == "Error: step 4 is not in the plan (it has 1)"


def test_continue_with_no_task_says_what_to_do(shell: InteractiveShell) -> None:
    result = shell.run_cell("%%agent continue")
    assert "there is no open task in this project" in str(result.error_in_exec)
    bad = shell.run_cell("%%agent carry-on\nx")
    assert "argument action: invalid choice: 'carry-on'" in str(bad.error_in_exec)


@pytest.mark.parametrize("tool", ["plan", "update_plan"])
def test_planning_needs_no_approval(tool: str, shell: InteractiveShell) -> None:
    agent = shell.magics_manager.registry["AgentMagics"].kernel_agent
    assert agent.tools.get(tool).effects == ()
    assert agent.policy.decide(agent.tools.get(tool), {}).action == "allow"
