"""The loop against each server dialect: the real openai client over HTTP, the scripted server
speaking as llama.cpp, Ollama, vLLM, LM Studio and LiteLLM do (agent_kernel/testing/dialects.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agent_kernel.config import Endpoint
from agent_kernel.events import Event, EventBus
from agent_kernel.models import clients
from agent_kernel.models.openai_chat import OpenAIChatModel
from agent_kernel.runtime.conversation import InMemoryConversation
from agent_kernel.runtime.loop import AgentLoop, RunResult
from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from agent_kernel.testing.dialects import DIALECTS as SERVER_DIALECTS
from agent_kernel.tools.base import ToolContext, tool
from agent_kernel.tools.registry import ToolRegistry

RAN: list[tuple[int, int]] = []


@tool(effects="read", register=False)
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First number.
        b: Second number.
    """
    RAN.append((a, b))
    return a + b


def run(
    server: ScriptedServer | str,
    *,
    dialect: str = "auto",
    timeout: float = 5.0,
    conversation: InMemoryConversation | None = None,
) -> tuple[RunResult, list[Event], OpenAIChatModel]:
    events: list[Event] = []
    RAN.clear()

    async def go() -> tuple[RunResult, OpenAIChatModel]:
        model = OpenAIChatModel(
            Endpoint(server if isinstance(server, str) else server.base_url, None, None, "sk"),
            timeout=timeout,
            max_retries=2,
            backoff_base=0.01,
            server=dialect,
            context_tokens=4000,
        )
        loop = AgentLoop(
            model,
            ToolRegistry([add]),
            conversation or InMemoryConversation(),
            EventBus([events.append]),
            ToolContext(user_ns={}),
            max_steps=4,
        )
        try:
            return await loop.run("what is 2 + 3?"), model
        finally:
            await clients.close_loop_clients()

    result, model = asyncio.run(go())
    return result, events, model


# llama-cpp-python with a chat format that streams tool calls (functionary), or a forced choice.
STREAMING_LLAMACPP = replace(SERVER_DIALECTS["llamacpp"], cut_streamed_auto_tools=False)


def notes(events: list[Event]) -> list[dict[str, Any]]:
    return [e.data for e in events if e.kind == "model_note"]


def sum_script(chunk_chars: int = 3) -> list[Reply]:
    return [
        Reply(tool_calls=[ToolCall("add", {"a": 2, "b": 3})], chunk_chars=chunk_chars),
        Reply(text="2 + 3 is 5."),
    ]


@pytest.mark.parametrize("name", ["llamacpp", "ollama", "vllm", "lmstudio", "litellm", "openai"])
def test_each_dialect_is_detected_and_completes_a_tool_call(name: str) -> None:
    with ScriptedServer(sum_script(), dialect=name) as server:
        result, events, model = run(server)
    assert result.status == "answered", result.message
    assert result.answer == "2 + 3 is 5."
    assert RAN == [(2, 3)]
    assert model.dialect is not None and model.dialect.name == name
    assert not notes(events)  # the right shape the first time: nothing refused
    assert len(server.requests) == 2


def test_llamacpp_tool_requests_are_not_streamed_and_content_is_text() -> None:
    """llama-cpp-python's chatml-function-calling cannot stream an automatic tool choice (the
    stream ends empty), needs tool_choice to use the tools at all, and refuses content null."""
    with ScriptedServer(sum_script(), dialect="llamacpp") as server:
        result, _, _ = run(server)
    assert result.status == "answered" and RAN == [(2, 3)]
    assert [r.body["stream"] for r in server.requests] == [False, False]
    assert [r.body["tool_choice"] for r in server.requests] == ["auto", "auto"]
    second = server.requests[1].body
    assistant = next(m for m in second["messages"] if m["role"] == "assistant")
    assert assistant["content"] == "" and assistant["tool_calls"]
    assert "stream_options" not in second


def test_streamed_deltas_that_repeat_name_and_id_are_not_concatenated() -> None:
    """As llama-cpp-python streams a chosen function (issue 11: `list_variableslist_...`)."""
    with ScriptedServer(sum_script(chunk_chars=2), dialect=STREAMING_LLAMACPP) as server:
        result, events, _ = run(server, dialect="openai")
    finished = next(e.data for e in events if e.kind == "model_finished")
    assert [c["name"] for c in finished["tool_calls"]] == ["add"]
    assert json.loads(finished["tool_calls"][0]["arguments"]) == {"a": 2, "b": 3}
    assert finished["tool_calls"][0]["id"].count("call_") == 1
    assert result.status == "answered" and RAN == [(2, 3)]
    assert result.usage.prompt_tokens == 0  # no usage chunk, and the run still completes


def test_a_streamed_tool_choice_that_ends_empty_is_retried_then_said() -> None:
    """Set as OpenAI, llama-cpp-python's empty stream is a cut stream: retried, then one line."""
    script = [Reply(tool_calls=[ToolCall("add", {"a": 1, "b": 1})])] * 3
    with ScriptedServer(script, dialect="llamacpp") as server:
        result, _, _ = run(server, dialect="openai")
    assert result.status == "error" and "\n" not in result.message
    assert "stream ended before the reply was complete" in result.message
    assert "Agent.server" not in result.message or "llamacpp" in result.message


def test_a_refused_shape_falls_back_once_is_said_and_is_remembered() -> None:
    """A llama.cpp server set up as OpenAI: content null is refused with HTTP 500 and a
    pydantic dump; the conservative shape goes once, the trace says so, and the next run
    in this kernel starts with it."""
    with ScriptedServer(sum_script() + sum_script(), dialect=STREAMING_LLAMACPP) as server:
        first, events, model = run(server, dialect="openai")
        assert first.status == "answered", first.message
        assert model.dialect is not None and model.dialect.label == "openai (conservative)"
        said = notes(events)
        assert len(said) == 1 and said[0]["about"] == "fallback"
        assert "conservative shape" in said[0]["text"] and "HTTP 500" in said[0]["text"]
        assert len(server.requests) == 3  # one refused, not retried as if transient
        again, events, _ = run(server, dialect="openai")
    assert again.status == "answered"
    assert not notes(events)
    assert len(server.requests) == 5  # no refusal the second time


@pytest.mark.parametrize(
    ("name", "tool_choice"), [("openai", "auto"), ("llamacpp", "auto"), ("vllm", None)]
)
def test_tool_choice_is_sent_where_the_server_takes_it(name: str, tool_choice: str | None) -> None:
    """llama-cpp-python's chatml-function-calling ignores tools without tool_choice; vLLM
    refuses "auto" unless started with --enable-auto-tool-choice."""
    with ScriptedServer(sum_script(), dialect=name) as server:
        result, _, _ = run(server)
    assert result.status == "answered"
    assert [r.body.get("tool_choice") for r in server.requests] == [tool_choice] * 2


def test_vllm_refusing_tool_choice_falls_back_to_the_conservative_shape() -> None:
    with ScriptedServer(sum_script(), dialect="vllm") as server:
        result, events, model = run(server, dialect="openai")
    assert result.status == "answered" and RAN == [(2, 3)]
    assert [n["about"] for n in notes(events)] == ["fallback"]
    assert "--enable-auto-tool-choice" in notes(events)[0]["text"]
    assert [r.body.get("tool_choice") for r in server.requests] == ["auto", None, None]
    assert model.dialect is not None and model.dialect.fallback


def test_a_validation_error_after_the_fallback_is_one_line_not_retried() -> None:
    dump = (
        "2 validation errors for CreateChatCompletionRequest\nmessages.1.content\n"
        "  Input should be a valid string [type=string_type, input_value=None]"
    )
    script = [Reply.error(500, dump), Reply.error(500, dump), Reply(text="never sent")]
    with ScriptedServer(script, dialect="llamacpp") as server:
        result, events, _ = run(server)
    assert result.status == "error"
    message = str(result.error)
    assert "\n" not in message
    assert "HTTP 500: 2 validation error(s); first: messages.1.content" in message
    assert "Dialect in use: llamacpp (conservative)" in message
    assert '%config Agent.server = "llamacpp"' in message
    assert "not retried" in message
    assert len(server.requests) == 2  # the first try, then the conservative shape once
    assert [e.kind for e in events].count("model_retry") == 0


@pytest.mark.parametrize(
    ("dialect", "message", "expected"),
    [
        (
            "llamacpp",
            "This model's maximum context length is 2048 tokens. However, you requested 3100 "
            "tokens (3100 in the messages, None in the completion). Please reduce the length.",
            "3100 tokens sent of the model's 2048",
        ),
        (
            "vllm",
            "This model's maximum context length is 4096 tokens. However, you requested 5000 "
            "tokens (4000 in the messages, 1000 in the completion).",
            "5000 tokens sent of the model's 4096",
        ),
        ("openai", "the request exceeds the available context size, try increasing it", "about"),
    ],
)
def test_context_length_errors_say_tokens_and_the_setting(
    dialect: str, message: str, expected: str
) -> None:
    with ScriptedServer([Reply.error(400, message)], dialect=dialect) as server:
        result, _, _ = run(server)
    text = str(result.error)
    assert result.status == "error" and "\n" not in text
    assert "too long for the model's context" in text and expected in text
    assert "%config Agent.context_tokens (now 4000)" in text
    assert len(server.requests) == 1  # neither retried nor "fixed" by a fallback


@pytest.mark.parametrize("dialect", ["vllm", "lmstudio", "litellm", "ollama"])
def test_each_error_body_shape_reaches_the_user(dialect: str) -> None:
    script = [Reply.error(400, "tools are not supported by model tiny")]
    with ScriptedServer(script, dialect=dialect) as server:
        result, _, _ = run(server)
    assert "tools are not supported by model tiny" in str(result.error)
    assert len(server.requests) == 1


def test_a_server_error_that_is_not_validation_is_still_retried() -> None:
    script = [Reply.error(503, "model is loading, try again"), *sum_script()]
    with ScriptedServer(script, dialect="llamacpp") as server:
        result, events, _ = run(server)
    assert result.status == "answered"
    assert [e.kind for e in events].count("model_retry") == 1


# -- tool calls written as text ------------------------------------------------------------
TEXT_CALLS = {
    "hermes": '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>',
    "smollm list": '<tool_call>[{"name": "add", "arguments": {"a": 2, "b": 3}}]</tool_call>',
    "unclosed tag": 'Let me add.\n<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}',
    "bare json": '{"name": "add", "arguments": {"a": 2, "b": 3}}',
    "fenced json": '```json\n{"name": "add", "parameters": {"a": 2, "b": 3}}\n```',
    "arguments as a string": '{"name": "add", "arguments": "{\\"a\\": 2, \\"b\\": 3}"}',
    "llama3 json": '<|python_tag|>{"name": "add", "parameters": {"a": 2, "b": 3}}<|eom_id|>',
    "llama3 call": "<|python_tag|>add.call(a=2, b=3)",
}


@pytest.mark.parametrize("form", list(TEXT_CALLS))
def test_tool_calls_written_as_text_become_calls_marked_in_the_trace(form: str) -> None:
    script = [Reply(text=TEXT_CALLS[form]), Reply(text="It is 5.")]
    with ScriptedServer(script, dialect="vllm") as server:
        result, events, _ = run(server)
    assert result.status == "answered" and result.answer == "It is 5."
    assert RAN == [(2, 3)]
    finished = next(e.data for e in events if e.kind == "model_finished")
    assert finished["tool_calls"][0]["from_text"] is True
    assert [n["about"] for n in notes(events)] == ["text_tool_calls"]
    sent = server.requests[1].body["messages"]
    assert any(m["role"] == "tool" and m["content"] == "5" for m in sent)


TEXT_NOT_CALLS = {
    "unknown tool": '<tool_call>{"name": "delete_all", "arguments": {}}</tool_call>',
    "missing argument": '<tool_call>{"name": "add", "arguments": {"a": 2}}</tool_call>',
    "extra argument": '{"name": "add", "arguments": {"a": 2, "b": 3, "shell": "rm -rf /"}}',
    "arguments not an object": '{"name": "add", "arguments": [2, 3]}',
    "json inside prose": 'I would call {"name": "add", "arguments": {"a": 2, "b": 3}} here.',
    "not json": "<tool_call>add(2, 3)</tool_call>",
    "python call with code": "<|python_tag|>add.call(a=__import__('os').system('id'), b=3)",
    "deeply nested json": "<tool_call>" + "[" * 100_000 + "]" * 100_000 + "</tool_call>",
    "argument of the wrong type": '{"name": "add", "arguments": {"a": "2; rm -rf /", "b": 3}}',
    "boolean for an integer": '<tool_call>{"name": "add", "arguments": {"a": true, "b": 3}}',
}


@pytest.mark.parametrize("form", list(TEXT_NOT_CALLS))
def test_text_that_is_not_a_valid_call_of_a_known_tool_runs_nothing(form: str) -> None:
    with ScriptedServer([Reply(text=TEXT_NOT_CALLS[form])], dialect="llamacpp") as server:
        result, events, _ = run(server)
    assert result.status == "answered"
    assert RAN == []
    assert not [e for e in events if e.kind == "tool_started"]
    assert result.answer == TEXT_NOT_CALLS[form]  # shown as the model wrote it


# -- time to the next useful byte (issue 10, item 6) ----------------------------------------
def test_a_stream_of_only_keepalives_ends_at_the_timeout_with_one_line() -> None:
    script = [Reply.slow(30, "too late")]
    with ScriptedServer(script, dialect=STREAMING_LLAMACPP, keepalive=0.2) as s:
        started = time.perf_counter()
        result, _events, _ = run(s, timeout=1.5, dialect="openai")
        elapsed = time.perf_counter() - started
    message = str(result.error)
    assert result.status == "error" and "\n" not in message
    assert "sent nothing useful (no text, tool call or end) for 1.5 s" in message
    assert "Agent.request_timeout (now 1.5)" in message
    assert elapsed < 6, elapsed  # not 30 s, and not once per retry
    assert len(s.requests) == 1


def test_a_slow_stream_that_keeps_producing_is_not_cut() -> None:
    """The timeout is per useful chunk, not for the whole answer: 8 chunks 0.4 s apart take
    about 3 s with a 1.2 s timeout and still complete."""
    with ScriptedServer([Reply(text="a" * 8, chunk_chars=1)], chunk_delay=0.4) as server:
        started = time.perf_counter()
        result, _, _ = run(server, timeout=1.2)
    assert result.status == "answered", result.message
    assert time.perf_counter() - started > 2.4


@pytest.mark.parametrize(
    ("headers", "owners", "expected"),
    [
        ({"Server": "llama.cpp"}, [], "llamacpp"),  # llama-server names itself
        ({}, ["llamacpp"], "llamacpp"),
        ({"X-LiteLLM-Version": "1.7"}, ["vllm"], "litellm"),  # a proxy's owners are not its own
        ({}, ["someone", "library"], "ollama"),
        ({}, ["openai", "system"], "openai"),
        ({"server": "uvicorn"}, ["a-company"], "openai"),  # unknown: the default
    ],
)
def test_detection_from_what_a_server_says(
    headers: dict[str, str], owners: list[str], expected: str
) -> None:
    from agent_kernel.models.dialects import detect

    assert detect(headers, [{"id": "m", "owned_by": o} for o in owners]).name == expected


def test_a_server_that_was_down_is_asked_again() -> None:
    """Detection that could not reach /models is not remembered as OpenAI's dialect."""
    with ScriptedServer(sum_script(), dialect="llamacpp") as server:
        base_url = server.base_url
    result, _, _ = run(base_url, timeout=2.0)
    assert result.status == "error" and "connection failed" in result.message
    assert clients.remembered_dialect(base_url, "auto") is None


def test_the_command_line_server_speaks_a_dialect(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "hi"}]))
    command = [sys.executable, "-m", "agent_kernel.testing", "--script", str(script)]
    process = subprocess.Popen(
        [*command, "--port", "0", "--dialect", "llamacpp"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        base_url = process.stdout.readline().split("=", 1)[1].strip()
        with urllib.request.urlopen(f"{base_url}/models", timeout=10) as response:
            assert json.load(response)["data"][0]["owned_by"] == "me"
    finally:
        process.terminate()
        process.wait(timeout=10)
