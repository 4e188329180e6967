"""The scripted server speaks the real wire protocol: checked with the real `openai` client."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from agent_kernel.config import Endpoint
from agent_kernel.errors import AgentConfigError
from agent_kernel.models.openai_chat import OpenAIChatModel
from agent_kernel.testing import RecordedRequest, Reply, ScriptedServer, ToolCall


def client(server: ScriptedServer) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)


def test_non_streamed_completion_with_tool_calls_and_usage(server: ScriptedServer) -> None:
    server.add(
        Reply(text="Looking.", tool_calls=[ToolCall("sql", {"query": "SELECT 1"})], usage=(7, 3))
    )
    reply = client(server).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    message = reply.choices[0].message
    assert message.content == "Looking."
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.name == "sql"
    assert json.loads(message.tool_calls[0].function.arguments) == {"query": "SELECT 1"}
    assert reply.choices[0].finish_reason == "tool_calls"
    assert reply.usage is not None and reply.usage.total_tokens == 10


def test_streamed_tool_call_arguments_arrive_in_pieces(server: ScriptedServer) -> None:
    arguments = {"query": "SELECT region, sum(revenue) FROM sales GROUP BY region"}
    server.add(Reply(tool_calls=[ToolCall("sql", arguments, id="call_1")], chunk_chars=8))
    stream = client(server).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    fragments = [
        call.function.arguments
        for chunk in stream
        if chunk.choices
        for call in chunk.choices[0].delta.tool_calls or []
        if call.function and call.function.arguments
    ]
    assert len(fragments) > 3
    assert json.loads("".join(fragments)) == arguments


def test_models_route_and_the_servers_only_model_is_chosen() -> None:
    async def resolve(server: ScriptedServer) -> str:
        model = OpenAIChatModel(Endpoint(server.base_url, None, None))
        try:
            return await model.resolve_model()
        finally:
            await model.aclose()

    with ScriptedServer(models=["llama3.2"]) as server:
        assert asyncio.run(resolve(server)) == "llama3.2"
    with (
        ScriptedServer(models=["llama3.2", "qwen2.5"]) as server,
        pytest.raises(AgentConfigError, match=r"serves 2 \(llama3.2, qwen2.5\)"),
    ):
        asyncio.run(resolve(server))


def test_an_exhausted_script_answers_with_a_clear_client_error(server: ScriptedServer) -> None:
    server.add(Reply(text="only one"))
    c = client(server)
    c.chat.completions.create(model="m", messages=[{"role": "user", "content": "1"}])
    with pytest.raises(openai.BadRequestError, match="no reply left for request #2"):
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "2"}])
    assert server.remaining == 0 and len(server.requests) == 2


def test_a_responder_builds_the_reply_from_the_request(server: ScriptedServer) -> None:
    def echo(request: RecordedRequest) -> Reply:
        return Reply(text=f"you said {request.body['messages'][-1]['content']}")

    server.add(echo)
    reply = client(server).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hello"}]
    )
    assert reply.choices[0].message.content == "you said hello"


def test_stop_does_not_wait_for_a_slow_reply() -> None:
    server = ScriptedServer([Reply.slow(30, "late")]).start()
    c = openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2


def test_command_line_server_runs_a_json_script(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "From a file.", "usage": [5, 2]}]))
    process = subprocess.Popen(
        [sys.executable, "-m", "agent_kernel.testing", "--script", str(script), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "(1 replies)" in first
        base_url = process.stdout.readline().split("=", 1)[1].strip()
        c = openai.OpenAI(api_key="k", base_url=base_url, max_retries=0)
        reply = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert reply.choices[0].message.content == "From a file."
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_command_line_rejects_a_bad_script_in_one_line(tmp_path: Path) -> None:
    script = tmp_path / "bad.json"
    script.write_text(json.dumps([{"txt": "typo"}]))
    result = subprocess.run(
        [sys.executable, "-m", "agent_kernel.testing", "--script", str(script)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == (
        f"error: bad reply in {str(script)!r}: unknown reply field(s) txt; use chunk_chars, "
        "cut_after, delay, error, finish_reason, text, tool_calls, usage"
    )
