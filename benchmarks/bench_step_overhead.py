"""Runtime overhead per agent step: total time minus the time the server spent answering.

A zero-latency scripted server answers 200 steps; each step is one model call (streamed,
with a tool call) plus one tool call, through the real openai client over HTTP. The
overhead is what the runtime adds: client, loop, events, tool dispatch and rendering.
The baseline in the same run is a bare `openai` streaming call to the same server.
Run: .venv/bin/python benchmarks/bench_step_overhead.py [--steps 200]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import time
from contextlib import redirect_stdout

from agent_kernel.config import Endpoint
from agent_kernel.events import Event, EventBus
from agent_kernel.models.openai_chat import OpenAIChatModel
from agent_kernel.runtime.conversation import InMemoryConversation
from agent_kernel.runtime.loop import AgentLoop
from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from agent_kernel.tools.base import ToolContext, tool
from agent_kernel.tools.registry import ToolRegistry
from agent_kernel.ui.text import TextRenderer


@tool(effects="read", register=False)
def noop(n: int) -> str:
    """Returns its argument."""
    return str(n)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bare_calls(server: ScriptedServer, n: int) -> list[float]:
    """Baseline: the openai client alone, one streamed call per step, no runtime."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="sk-bench", base_url=server.base_url, max_retries=0)
    times: list[float] = []
    for i in range(n):
        server.add(Reply(tool_calls=[ToolCall("noop", {"n": i})]))
        before_server = server.server_seconds
        t0 = time.perf_counter()
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "go"}], stream=True
        )
        async for _ in stream:
            pass
        times.append(time.perf_counter() - t0 - (server.server_seconds - before_server))
    await client.close()
    return times


async def agent_steps(server: ScriptedServer, n: int) -> list[float]:
    """Each loop step = model call + tool call + events + plain-text rendering."""
    step_times: list[float] = []
    marks: dict[str, float] = {}

    def timer(event: Event) -> None:
        if event.kind == "model_started":
            marks["start"] = time.perf_counter()
            marks["server"] = server.server_seconds
        elif event.kind == "tool_finished":
            elapsed = time.perf_counter() - marks["start"]
            step_times.append(elapsed - (server.server_seconds - marks["server"]))

    for i in range(n):
        server.add(Reply(tool_calls=[ToolCall("noop", {"n": i})]))
    server.add(Reply(text="done"))
    model = OpenAIChatModel(Endpoint(server.base_url, "m", None, "sk-bench"), max_retries=0)
    loop = AgentLoop(
        model,
        ToolRegistry([noop]),
        InMemoryConversation(),
        EventBus([TextRenderer(), timer]),
        ToolContext(user_ns={}),
        max_steps=n + 1,
    )
    with redirect_stdout(io.StringIO()):
        result = await loop.run("go")
    await model.aclose()
    assert result.status == "answered", result
    return step_times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    with ScriptedServer() as server:
        asyncio.run(bare_calls(server, 20))  # warm up
        bare = asyncio.run(bare_calls(server, args.steps))
        steps = asyncio.run(agent_steps(server, args.steps))
    bare_p50, step_p50 = statistics.median(bare) * 1000, statistics.median(steps) * 1000
    bare_p95, step_p95 = percentile(bare, 0.95) * 1000, percentile(steps, 0.95) * 1000
    print(f"steps: {args.steps}, zero-latency scripted server, server time subtracted")
    print(f"bare openai streamed call (baseline)  p50 {bare_p50:6.2f} ms  p95 {bare_p95:6.2f} ms")
    print(f"agent step (model call + tool)        p50 {step_p50:6.2f} ms  p95 {step_p95:6.2f} ms")
    print(f"step / bare call ratio                {step_p50 / bare_p50:6.2f}x")
    print(f"runtime overhead beyond the client    p50 {step_p50 - bare_p50:6.2f} ms")
    verdict = "met" if step_p50 < 5 else "NOT met"
    print(f"goal: a step's total overhead (client included) under 5 ms -> {verdict}")


if __name__ == "__main__":
    main()
