"""The offline demo model: `%config Agent.model = "demo"` (or AGENT_KERNEL_MODEL=demo).

A small deterministic planner served through the same interface as real models, so demos,
Binder and tutorials run with no key and no network, on the live kernel's real data. Every
answer says it came from the demo model. It is not a stand-in for testing the runtime: tests
use the scripted server, which speaks the real wire protocol.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from agent_kernel.events import new_id
from agent_kernel.models.base import ModelReply, StreamItem, TextDelta, ToolCallRequest
from agent_kernel.models.demo_planner import LABEL, plan

DEMO_MODEL = "demo"
CHUNK_WORDS = 3


class DemoModel:
    name = DEMO_MODEL

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[StreamItem]:
        started = time.perf_counter()
        available = {t["function"]["name"] for t in tools}
        step = plan(messages, available)
        if step.tool and step.tool in available:
            call = ToolCallRequest(new_id("call_"), step.tool, _json(step.arguments))
            yield ModelReply(tool_calls=[call], finish_reason="tool_calls", model=DEMO_MODEL)
            return
        text = (step.answer or "I could not plan a step for that.") + LABEL
        words = text.split(" ")
        for i in range(0, len(words), CHUNK_WORDS):
            piece = " ".join(words[i : i + CHUNK_WORDS]) + (
                " " if i + CHUNK_WORDS < len(words) else ""
            )
            yield TextDelta(piece)
        first = (time.perf_counter() - started) * 1000
        yield ModelReply(text=text, finish_reason="stop", model=DEMO_MODEL, first_token_ms=first)

    async def aclose(self) -> None:
        pass


def _json(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, ensure_ascii=False)
