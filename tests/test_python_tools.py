"""run_python and propose_cell on a real InteractiveShell namespace."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.tools.base import ToolContext, ToolResult
from agent_kernel.tools.python import propose_cell, run_python


def call(shell: InteractiveShell, code: str, limit: int = 8000) -> ToolResult:
    ctx = ToolContext(user_ns=shell.user_ns, shell=shell, max_result_chars=limit)
    result = asyncio.run(run_python.call({"code": code}, ctx))
    assert isinstance(result, ToolResult)
    return result


@pytest.mark.unit
def test_stdout_last_expression_and_new_variables(shell: InteractiveShell) -> None:
    shell.user_ns["base"] = 20
    result = call(shell, "print('hello from the agent')\ntotal = base * 2 + 2\ntotal")
    assert result.ok
    assert "stdout:\nhello from the agent" in result.content
    assert "result:\n42" in result.content
    assert "new or changed variables: total" in result.content
    assert shell.user_ns["total"] == 42


@pytest.mark.unit
def test_errors_come_back_as_a_trimmed_traceback(shell: InteractiveShell) -> None:
    code = "def f(x):\n    return x / 0\n\nprint('before')\nf(1)"
    result = call(shell, code)
    assert not result.ok
    assert "ZeroDivisionError: division by zero" in result.content
    assert "return x / 0" in result.content  # the failing line is shown
    assert "stdout:\nbefore" in result.content
    assert "agent_kernel/tools/python.py" not in result.content  # our frames are cut
    assert result.summary.startswith("ZeroDivisionError")


@pytest.mark.unit
def test_syntax_errors_are_reported(shell: InteractiveShell) -> None:
    result = call(shell, "x = (1,")
    assert not result.ok
    assert "SyntaxError" in result.content


def test_ipython_syntax_and_top_level_await(shell: InteractiveShell) -> None:
    result = call(shell, "import asyncio\nawait asyncio.sleep(0)\nvalues = !echo hi\nvalues[0]")
    assert result.ok, result.content
    assert "'hi'" in result.content


@pytest.mark.unit
def test_long_output_is_bounded(shell: InteractiveShell) -> None:
    result = call(shell, "for i in range(20000):\n    print(i)", limit=2000)
    assert len(result.content) < 2000
    assert "more characters not shown" in result.content


@pytest.mark.unit
def test_system_exit_is_an_error_not_an_exit(shell: InteractiveShell) -> None:
    result = call(shell, "raise SystemExit(3)")
    assert not result.ok and "SystemExit" in result.content


@pytest.mark.unit
def test_schema_is_what_the_model_sees() -> None:
    schema: dict[str, Any] = run_python.openai_schema()["function"]
    assert schema["name"] == "run_python"
    assert schema["parameters"]["required"] == ["code"]
    assert "ctx" not in schema["parameters"]["properties"]
    assert run_python.effects == ("execute",)


@pytest.mark.unit
def test_propose_cell_fills_the_next_input(shell: InteractiveShell) -> None:
    ctx = ToolContext(user_ns=shell.user_ns, shell=shell)
    first = asyncio.run(propose_cell.call({"code": "df.head()"}, ctx))
    assert "Proposed a new 1-line cell below" in first
    assert shell.rl_next_input == "df.head()"
    second = asyncio.run(propose_cell.call({"code": "a = 1\nb = 2"}, ctx))
    assert "replaces the earlier proposal" in second
    assert shell.rl_next_input == "a = 1\nb = 2"
    assert propose_cell.effects == ()
