"""What a cell pays to reach the model: a new `openai` client per cell, or the kernel's one.

Each "cell" builds the model as `%%agent` does (`openai_model` from the settings) and makes
one streamed call to a zero-latency scripted server, on one long-lived event loop as in a
kernel. Baseline in the same run: the same cells with the kernel's clients dropped before
each, which is what every cell paid before clients were kept (issue 19).
Run: .venv/bin/python benchmarks/bench_model_client.py [--cells 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from agent_kernel.config import Agent
from agent_kernel.models import clients
from agent_kernel.models.base import ModelReply
from agent_kernel.runtime.kernel_agent import openai_model
from agent_kernel.testing import Reply, ScriptedServer


async def one_cell(settings: Agent) -> float:
    started = time.perf_counter()
    model = openai_model(settings, None)
    async for item in model.stream([{"role": "user", "content": "hi"}], []):
        if isinstance(item, ModelReply):
            assert item.text == "ok"
    await model.aclose()
    return time.perf_counter() - started


async def cells(settings: Agent, count: int, *, fresh: bool) -> list[float]:
    times = []
    for _ in range(count):
        if fresh:
            await clients.close_loop_clients()
        times.append(await one_cell(settings))
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=20)
    count = parser.parse_args().cells
    with ScriptedServer([Reply(text="ok")] * (4 * count + 2)) as server:
        os.environ["OPENAI_BASE_URL"] = server.base_url
        os.environ["OPENAI_API_KEY"] = "sk-bench"
        settings = Agent(model="scripted-model")

        async def run() -> tuple[list[float], list[float]]:
            await one_cell(settings)  # imports and the first connection, for both
            fresh, kept = [], []
            for _ in range(2):  # interleaved, so load on the machine hits both alike
                fresh += await cells(settings, count, fresh=True)
                kept += await cells(settings, count, fresh=False)
            return fresh, kept

        fresh, kept = asyncio.run(run())
    base, ours = statistics.median(fresh) * 1000, statistics.median(kept) * 1000
    print(f"cells: {len(kept)} each, median ms per cell (build model + one streamed call)")
    print(f"  new client per cell (before): {base:7.1f} ms")
    print(f"  kernel's client kept (now):   {ours:7.1f} ms   ({base / ours:.1f}x faster)")


if __name__ == "__main__":
    main()
