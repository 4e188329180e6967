"""`%%agent` and `%agent` through a real InteractiveShell and the real openai client."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.errors import AgentConfigError, ModelError
from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from tests.conftest import TEST_KEY, agent_of


def test_load_ext_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "before = set(sys.modules)\n"
        "ip.run_line_magic('load_ext', 'agent_kernel')\n"
        "heavy = ['openai', 'duckdb', 'pandas', 'chromadb', 'pydantic', 'numpy']\n"
        "print([m for m in heavy if m in sys.modules and m not in before])\n"
        "print('agent' in ip.magics_manager.magics['cell'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "True"


def test_agent_cell_streams_answer_through_awaited_cell(
    shell: InteractiveShell, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.add(Reply(text="Revenue peaked in **March**."))
    result = shell.run_cell("%%agent\nWhen did revenue peak?")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert "Revenue peaked in **March**." in out
    body = server.requests[0].body
    assert body["stream"] is True
    assert body["model"] == "scripted-model"
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][-1] == {"role": "user", "content": "When did revenue peak?"}
    assert {t["function"]["name"] for t in body["tools"]} >= {
        "list_variables",
        "describe_dataframe",
        "sql",
        "run_python",
        "propose_cell",
    }


def test_cell_is_transformed_into_an_awaited_coroutine(shell: InteractiveShell) -> None:
    transformed = shell.transform_cell("%%agent --new\nhello\n")
    assert transformed.startswith("await ")
    assert "run_agent_cell('--new', 'hello\\n')" in transformed
    assert shell.should_run_async("%%agent\nhello\n", transformed_cell=transformed)


def test_run_cell_magic_directly_also_works(
    shell: InteractiveShell, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.add(Reply(text="Direct call works."))
    shell.run_cell_magic("agent", "", "hello")
    assert "Direct call works." in capsys.readouterr().out


def test_tool_calls_are_shown_and_run_on_the_user_namespace(
    effects_allowed: InteractiveShell, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    shell = effects_allowed
    shell.run_cell("answer_base = 40")
    server.add(
        Reply(tool_calls=[ToolCall("run_python", {"code": "answer = answer_base + 2\nanswer"})]),
        Reply(text="The answer is 42."),
    )
    shell.run_cell("%%agent\nCompute the answer.")
    out = capsys.readouterr().out
    assert "→ run_python(" in out
    assert "✓" in out
    assert "The answer is 42." in out
    assert shell.user_ns["answer"] == 42
    tool_message = server.requests[1].body["messages"][-1]
    assert tool_message["role"] == "tool"
    assert "42" in tool_message["content"]


def test_follow_up_cells_continue_the_conversation_and_reset_starts_over(
    shell: InteractiveShell, server: ScriptedServer
) -> None:
    server.add(Reply(text="First answer."), Reply(text="Second answer."), Reply(text="Fresh."))
    shell.run_cell("%%agent\nfirst question")
    shell.run_cell("%%agent\nsecond question")
    second = [m for m in server.requests[1].body["messages"] if m["role"] != "system"]
    assert [m["content"] for m in second] == ["first question", "First answer.", "second question"]
    shell.run_line_magic("agent", "reset")
    shell.run_cell("%%agent\nthird question")
    third = [m for m in server.requests[2].body["messages"] if m["role"] != "system"]
    assert [m["content"] for m in third] == ["third question"]


def test_new_flag_starts_a_new_conversation(
    shell: InteractiveShell, server: ScriptedServer
) -> None:
    server.add(Reply(text="One."), Reply(text="Two."))
    shell.run_cell("%%agent\nfirst")
    shell.run_cell("%%agent --new\nsecond")
    users = [m for m in server.requests[1].body["messages"] if m["role"] == "user"]
    assert [m["content"] for m in users] == ["second"]


def test_model_option_and_config_setting(shell: InteractiveShell, server: ScriptedServer) -> None:
    server.add(Reply(text="a"), Reply(text="b"))
    shell.run_cell("%%agent --model other-model\nq")
    shell.run_cell('%config Agent.model = "configured-model"')
    shell.run_cell("%%agent\nq")
    assert server.requests[0].body["model"] == "other-model"
    assert server.requests[1].body["model"] == "configured-model"


def test_temperature_is_sent_only_when_set(shell: InteractiveShell, server: ScriptedServer) -> None:
    server.add(Reply(text="a"), Reply(text="b"))
    shell.run_cell("%%agent\nq")
    shell.run_cell("%config Agent.temperature = 0.2")
    shell.run_cell("%%agent\nq")
    assert "temperature" not in server.requests[0].body
    assert server.requests[1].body["temperature"] == 0.2


def test_max_steps_stops_with_a_note(
    shell: InteractiveShell, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.add(*[Reply(tool_calls=[ToolCall("list_variables", {})]) for _ in range(3)])
    result = shell.run_cell("%%agent --max-steps 2\nloop forever")
    assert result.success
    out = capsys.readouterr().out
    assert "Stopped after 2 steps without a final answer" in out
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "cell, message",
    [
        ("%%agent --max-steps zero\nq", "argument --max-steps: expected a whole number"),
        ("%%agent --bogus\nq", "unrecognized arguments: --bogus"),
        ("%%agent\n   \n", "write your request"),
        ("%agent frobnicate", "unknown subcommand 'frobnicate'"),
        ("%agent reset now", "takes no arguments"),
    ],
)
def test_bad_arguments_give_a_one_line_usage_error(
    shell: InteractiveShell, cell: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = shell.run_cell(cell)
    assert isinstance(result.error_in_exec, UsageError)
    assert message in str(result.error_in_exec)
    err_lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err_lines) == 1 and "Traceback" not in err_lines[0]


def test_missing_endpoint_names_both_fixes_in_one_line(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    result = shell.run_cell("%%agent\nhello")
    assert isinstance(result.error_in_exec, AgentConfigError)
    captured = capsys.readouterr()
    shown = (captured.out + captured.err).strip().splitlines()
    assert len(shown) == 1
    assert "OPENAI_API_KEY" in shown[0] and "http://localhost:11434/v1" in shown[0]
    assert "Traceback" not in captured.err


def test_api_key_env_names_another_variable(
    shell: InteractiveShell, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("MY_LLM_KEY", "sk-other-key-abcdefghijklmnop")
    shell.run_cell('%config Agent.api_key_env = "MY_LLM_KEY"')
    shell.run_cell(f'%config Agent.base_url = "{server.base_url}"')
    server.add(Reply(text="ok"))
    assert shell.run_cell("%%agent\nq").success
    assert server.requests[0].headers["authorization"] == "Bearer sk-other-key-abcdefghijklmnop"


def test_key_never_appears_in_output_even_when_the_server_echoes_it(
    shell: InteractiveShell, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.add(Reply.error(401, f"Incorrect API key provided: {TEST_KEY}"))
    result = shell.run_cell("%%agent\nhello")
    assert isinstance(result.error_in_exec, AgentConfigError)
    captured = capsys.readouterr()
    shell.run_line_magic("agent", "config")
    config_out = capsys.readouterr().out
    for text in (captured.out, captured.err, str(result.error_in_exec), config_out):
        assert TEST_KEY not in text
    assert (captured.out + captured.err).count("rejected the API key (401)") == 1


def test_server_that_keeps_failing_gives_one_clear_line(
    shell: InteractiveShell, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    agent_of(shell).settings.max_retries = 1
    server.add(Reply.error(500, "boom"), Reply.error(500, "boom again"))
    result = shell.run_cell("%%agent\nhello")
    assert isinstance(result.error_in_exec, ModelError)
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert shown.count("kept failing (2 attempts; last: HTTP 500: boom again)") == 1
    assert "retrying in" in shown


def test_tools_subcommand_lists_builtins_and_user_tools(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_cell(
        "import agent_kernel\n"
        "@agent_kernel.tool(effects='read')\n"
        "def exchange_rate(currency: str) -> float:\n"
        "    '''Today's rate from USD to the given currency.'''\n"
        "    return 0.92\n"
    )
    try:
        shell.run_cell("%agent tools")
        out = capsys.readouterr().out
        for name in ("list_variables", "describe_dataframe", "sql", "run_python", "propose_cell"):
            assert name in out
        assert "exchange_rate" in out and "Today's rate from USD" in out
        # One sentence per tool: the paragraph after propose_cell's first line stays out.
        assert "for the user to review and run." in out and "Use it when" not in out
        schemas = agent_of(shell).tools.openai_schemas()
        rate = next(s for s in schemas if s["function"]["name"] == "exchange_rate")
        assert rate["function"]["parameters"]["required"] == ["currency"]
    finally:
        agent_of(shell).tools.remove("exchange_rate")


def test_config_subcommand_shows_sources_but_not_the_key(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_cell("%config Agent.max_steps = 5")
    shell.run_cell("%agent config")
    out = capsys.readouterr().out
    assert "env OPENAI_BASE_URL" in out
    assert "env AGENT_KERNEL_MODEL" in out
    assert "max_steps" in out and "%config" in out
    assert "set in $OPENAI_API_KEY" in out
    assert TEST_KEY not in out


def test_help_lists_subcommands_as_markdown_and_as_narrow_text(shell: InteractiveShell) -> None:
    """A table in a notebook; in a terminal, lines of at most 79 columns wrapped at words."""
    from agent_kernel.commands import COMMANDS

    bundle = shell.run_line_magic("agent", "")._repr_mimebundle_()
    markdown, text = bundle["text/markdown"], bundle["text/plain"]
    for word in ("%agent config", "%agent tools", "%agent reset", "--max-steps"):
        assert word in text and word in markdown
    assert "| `%agent trace [RUN]` | show a past run's trace" in markdown
    assert "`%agent policy [mode ask\\|auto\\|read-only" in markdown  # | escaped in a table
    assert max(len(line) for line in text.splitlines()) <= 79
    flowing = " ".join(text.split())  # every summary reads whole: no word was cut
    for command in COMMANDS.values():
        assert command.summary in flowing and command.usage in flowing


def test_requests_never_carry_the_key_in_the_body(
    shell: InteractiveShell, server: ScriptedServer
) -> None:
    server.add(Reply(tool_calls=[ToolCall("list_variables", {})]), Reply(text="done"))
    shell.run_cell("%%agent\nlook around")
    for request in server.requests:
        assert TEST_KEY not in json.dumps(request.body)


def test_a_key_split_across_streamed_chunks_is_not_shown(
    shell: InteractiveShell, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.add(Reply(text=f"Here it is: {TEST_KEY} (do not share).", chunk_chars=5))
    shell.run_cell("%%agent\nWhat is my key?")
    out = capsys.readouterr().out
    assert TEST_KEY not in out and TEST_KEY[:12] not in out
    assert "Here it is: [REDACTED] (do not share)." in out
