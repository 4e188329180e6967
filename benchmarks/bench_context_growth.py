"""Per-step context work over a 1000-step run, against the raw loop's per-step cost.

Issue 19 item 3: `ContextBuilder.build` re-read every message on every step and the loop
redacted (and copied) every message on every step, so a step's own work grew 4.4x over 1000
steps against 2.4x for the raw loop. Each step here is what the loop does before a model call:
build the context (one builder per run, as the kernel does) and redact what is sent. The
baseline in the same run is the raw loop's step: the bare `openai` client sending the same
history to the scripted server and reading the streamed reply.
Run: PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_context_growth.py [--steps 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from agent_kernel.policy import spotlight
from agent_kernel.runtime.context import ContextBuilder
from agent_kernel.testing import Reply, ScriptedServer, ToolCall

WINDOWS = (1, 100, 500, 1000)  # steps whose neighbourhood is reported


def history(steps: int) -> list[dict[str, Any]]:
    """A one-turn run: a request, then per step a tool call and its result (every tenth from
    a file, so untrusted and wrapped)."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Work through the data."}]
    for i in range(steps):
        call = {"id": f"c{i}", "type": "function"}
        call["function"] = {"name": "sql", "arguments": f'{{"query": "SELECT {i}"}}'}
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        result = f"| region | revenue |\n| west | {i * 17} |\n" * 8
        if i % 10 == 0:
            result = spotlight.wrap(result, f"file data_{i}.csv")
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": result})
    return messages


def redactor(secrets: list[str]) -> Any:
    try:
        from agent_kernel.redact import MessageRedactor
    except ImportError:  # before issue 19: every message redacted on every step
        from agent_kernel.runtime.loop import redact_messages

        return lambda messages: redact_messages(messages, secrets)
    return MessageRedactor(secrets).messages


def context_steps(full: list[dict[str, Any]], steps: int) -> list[float]:
    builder = ContextBuilder(budget=10**9)  # the run's whole history is sent, as raw is
    redact = redactor(["sk-bench-secret-value"])
    times = []
    for step in range(1, steps + 1):
        seen = full[: 1 + 2 * step]
        started = time.perf_counter()
        redact(builder.build(seen).messages)
        times.append(time.perf_counter() - started)
    return times


def raw_step(server: ScriptedServer, messages: list[dict[str, Any]], repeat: int) -> float:
    from openai import OpenAI

    client = OpenAI(api_key="sk-bench", base_url=server.base_url, max_retries=0)
    times = []
    for _ in range(repeat):
        server.add(Reply(tool_calls=[ToolCall("sql", {"query": "SELECT 1"})]))
        started = time.perf_counter()
        stream = client.chat.completions.create(model="m", messages=messages, stream=True)  # type: ignore[arg-type]
        for _ in stream:
            pass
        times.append(time.perf_counter() - started)
    client.close()
    return statistics.median(times)


def around(times: list[float], step: int) -> float:
    """The least of the ten steps up to `step`: the step's own work, with the least of what
    other programs on a busy machine add (the median is printed beside it)."""
    window = times[max(0, step - 10) : step] or times[:1]
    return min(window)


def median_around(times: list[float], step: int) -> float:
    return statistics.median(times[max(0, step - 10) : step] or times[:1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    full = history(args.steps)
    ours = context_steps(full, args.steps)
    windows = [s for s in WINDOWS if s <= args.steps]
    with ScriptedServer() as server:
        raw = {s: raw_step(server, full[: 1 + 2 * s], args.repeat) for s in windows}
    print(f"{'step':>6} {'context+redact ms (median)':>27} {'raw loop step ms':>17} {'share':>7}")
    for s in windows:
        mine, middle = around(ours, s), median_around(ours, s)
        print(
            f"{s:>6} {mine * 1000:>11.3f} ({middle * 1000:>9.3f})      "
            f"{raw[s] * 1000:>17.2f} {mine / raw[s]:>6.1%}"
        )
    first, last = windows[0], windows[-1]
    print(
        f"growth from step {first} to {last}: context+redact "
        f"{around(ours, last) / around(ours, first):.1f}x, raw loop {raw[last] / raw[first]:.1f}x"
    )


if __name__ == "__main__":
    main()
