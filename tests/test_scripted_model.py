"""The in-process scripted model: it plays a script and says when the run and script disagree."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent_kernel.errors import ModelError
from agent_kernel.models.base import ModelReply, TextDelta
from agent_kernel.testing import RecordedRequest, Reply, ScriptedModel, ScriptError, ToolCall

pytestmark = pytest.mark.unit


def play(model: ScriptedModel, messages: list[dict[str, Any]]) -> list[Any]:
    async def go() -> list[Any]:
        return [item async for item in model.stream(messages, [{"type": "function"}])]

    return asyncio.run(go())


def test_replies_stream_as_text_pieces_then_one_reply() -> None:
    model = ScriptedModel([Reply(text="Hello there", chunk_chars=4, usage=(10, 2))])
    items = play(model, [{"role": "user", "content": "hi"}])
    assert [i.text for i in items if isinstance(i, TextDelta)] == ["Hell", "o th", "ere"]
    (reply,) = [i for i in items if isinstance(i, ModelReply)]
    assert (reply.text, reply.finish_reason, reply.usage.prompt_tokens) == (
        "Hello there",
        "stop",
        10,
    )
    assert model.requests[0].body["messages"] == [{"role": "user", "content": "hi"}]


def test_tool_calls_keep_their_ids_and_raw_arguments() -> None:
    model = ScriptedModel(
        [Reply(tool_calls=[ToolCall("sql", {"query": "SELECT 1"}, id="c1"), ToolCall("x", "{bad")])]
    )
    (reply,) = play(model, [])
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("c1", "sql", '{"query": "SELECT 1"}'),
        ("call_1_1", "x", "{bad"),
    ]
    assert reply.finish_reason == "tool_calls"


def test_a_call_beyond_the_script_fails_with_what_was_asked() -> None:
    model = ScriptedModel([Reply(text="one")])
    play(model, [{"role": "user", "content": "first"}])
    with pytest.raises(ScriptError, match=r"called 2 times but the script had 1 replies.*second"):
        play(model, [{"role": "user", "content": "second"}])


def test_replies_left_unused_fail_when_the_model_is_closed() -> None:
    unused = pytest.raises(ScriptError, match="1 scripted replies were never asked for")
    with unused, ScriptedModel([Reply(text="one"), Reply(text="two")]) as model:
        play(model, [])
    with ScriptedModel([Reply(text="one")]) as model:  # all used: no complaint
        play(model, [])


def test_faults_and_responders() -> None:
    model = ScriptedModel([Reply.error(500, "boom"), Reply.cut("abcdefgh", after=1)])
    with pytest.raises(ModelError, match="HTTP 500: boom"):
        play(model, [])
    with pytest.raises(ModelError, match="the stream was cut"):
        play(model, [])

    def echo(request: RecordedRequest) -> Reply:
        return Reply(text=f"you said {request.body['messages'][-1]['content']}")

    model = ScriptedModel([echo])
    assert play(model, [{"role": "user", "content": "hi"}])[-1].text == "you said hi"
