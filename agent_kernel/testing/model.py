"""An in-process scripted chat model for unit tests of the loop, policy and context.

It plays the same `Reply` script as `ScriptedServer`, but in the test's own process: no HTTP,
no threads, no subprocess, so a test of what the runtime does with a reply takes
milliseconds. It fails loudly on a call the script did not expect and, when closed (`with`
or `assert_done()`), on replies the run never asked for. The wire itself (the `openai`
client, streaming, retries) is tested against `ScriptedServer`.

    model = ScriptedModel([Reply(tool_calls=[ToolCall("list_variables")]), Reply(text="Hi")])
    agent.model_factory = model.factory
"""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from agent_kernel.errors import ModelError
from agent_kernel.models.base import ModelReply, StreamItem, TextDelta, ToolCallRequest, Usage
from agent_kernel.testing.script import RecordedRequest, Reply, ScriptItem


class ScriptError(AssertionError):
    """The run and the script disagree: a call with no reply left, or replies left unused."""


@dataclass(frozen=True)
class ModelCall:
    """What the loop sent the model: the messages and the tool schemas, as given."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    model: str = "scripted-model"

    @property
    def body(self) -> dict[str, Any]:
        """The Chat Completions body it stands for, as `ScriptedServer.requests[i].body`."""
        return {"model": self.model, "messages": self.messages, "tools": self.tools}


@dataclass
class ScriptedModel:
    """A `ChatModel` that answers each call with the next scripted reply."""

    replies: Iterable[ScriptItem] = ()
    name: str = "scripted-model"
    calls: list[ModelCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._script: deque[ScriptItem] = deque(self.replies)

    def add(self, *replies: ScriptItem) -> None:
        self._script.extend(replies)

    @property
    def requests(self) -> list[ModelCall]:
        """The calls so far (named as on `ScriptedServer`, so tests read alike)."""
        return self.calls

    @property
    def remaining(self) -> int:
        return len(self._script)

    def factory(self, *_: Any) -> ScriptedModel:
        """Use as `KernelAgent.model_factory`: every run of that agent talks to this model."""
        return self

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[StreamItem]:
        call = ModelCall(copy.deepcopy(messages), copy.deepcopy(tools), self.name)
        self.calls.append(call)
        if not self._script:
            last = str(messages[-1].get("content") if messages else "")[:200]
            raise ScriptError(
                f"the model was called {len(self.calls)} times but the script had "
                f"{len(self.calls) - 1} replies; the unexpected call ended with: {last!r}"
            )
        item = self._script.popleft()
        reply = item if isinstance(item, Reply) else item(_as_request(call))
        async for piece in _play(reply, len(self.calls), self.name):
            yield piece

    async def aclose(self) -> None:
        """Called after every run; the script may go on in the next cell, so nothing is
        checked here (see `assert_done`)."""

    def assert_done(self) -> None:
        if self._script:
            raise ScriptError(
                f"{len(self._script)} scripted replies were never asked for "
                f"(the model was called {len(self.calls)} times)"
            )

    def __enter__(self) -> ScriptedModel:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        if kind is None:
            self.assert_done()


async def _play(reply: Reply, number: int, name: str) -> AsyncIterator[StreamItem]:
    """One reply as the stream the loop reads: text in pieces, then the finished reply."""
    if reply.delay:
        await asyncio.sleep(reply.delay)
    if reply.is_error:
        raise ModelError(f"scripted call {number}: HTTP {reply.status}: {reply.error_message}")
    pieces = [
        reply.text[i : i + reply.chunk_chars]
        for i in range(0, len(reply.text), max(1, reply.chunk_chars))
    ]
    for index, piece in enumerate(pieces):
        if reply.cut_after is not None and index >= reply.cut_after:
            raise ModelError(f"scripted call {number}: the stream was cut")
        yield TextDelta(piece)
        await asyncio.sleep(0)
    calls = [
        ToolCallRequest(c.id or f"call_{number}_{i}", c.name, c.arguments_json())
        for i, c in enumerate(reply.tool_calls)
    ]
    yield ModelReply(
        text=reply.text,
        tool_calls=calls,
        usage=Usage(*reply.usage) if reply.usage else None,
        finish_reason=reply.finish_reason or ("tool_calls" if calls else "stop"),
        model=name,
    )


def _as_request(call: ModelCall) -> RecordedRequest:
    """What a responder function receives, shaped as the server would record it."""
    return RecordedRequest("POST", "/v1/chat/completions", {}, call.body)
