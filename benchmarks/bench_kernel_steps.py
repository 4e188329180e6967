"""A step in a real kernel, as a notebook user has it, against the bare `openai` loop.

Both run in the same kernel (nbclient, ipykernel) against the same zero-latency scripted server:
- bare: the `openai` client alone in a loop: a streamed call with the tool schema, its tool
  call run (a no-op), repeated (the request stays one message: no conversation, no runtime);
- agent: a `%%agent` cell doing the same steps with the project store (journal plus background
  writer into `.agent/agent.duckdb`), policy, hash-chained audit and the live trace widget on;
- no widget: the same with the plain-text renderer, to show the widget's part;
- no recording: no widget and the store's observer left out, to show the store's part.
The variants are interleaved in one kernel so the machine's load falls on all of them.
Figures are ms per step, median and best over the repeats, each with its ratio to bare.
Every step of every agent run is checked to be in the store afterwards.

Run: .venv/bin/python benchmarks/bench_kernel_steps.py [--steps 20 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_kernel.testing import Reply, ScriptedServer, ToolCall  # noqa: E402

SETUP = """\
%load_ext agent_kernel
import time, json, asyncio
from agent_kernel import tool

@tool(effects="read")
def noop(n: int) -> str:
    \"\"\"Returns its argument.\"\"\"
    return str(n)
"""

BARE = """\
from openai import AsyncOpenAI
async def bare_loop(steps):
    client = AsyncOpenAI(base_url=BASE_URL, api_key="sk-bench", max_retries=0)
    tools = [{"type": "function", "function": {"name": "noop", "description": "Returns n.",
              "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}}}}]
    messages = [{"role": "user", "content": "go"}]
    t0 = time.perf_counter()
    for _ in range(steps + 1):
        stream = await client.chat.completions.create(
            model="m", messages=messages, tools=tools, stream=True)
        calls, text = {}, []
        async for chunk in stream:
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is None:
                continue
            if delta.content:
                text.append(delta.content)
            for c in delta.tool_calls or []:
                slot = calls.setdefault(c.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] = c.id or slot["id"]
                slot["name"] = (c.function.name or "") or slot["name"]
                slot["arguments"] += c.function.arguments or ""
        if not calls:
            break
        for c in calls.values():
            noop(**json.loads(c["arguments"]))
    await client.close()
    return time.perf_counter() - t0
"""

WAIT_FOR_INDEXING = """\
_agent = get_ipython().magics_manager.registry["AgentMagics"].kernel_agent
if getattr(_agent, "_indexing", None) is not None:  # indexing on a thread (older versions)
    _agent._indexing.result()
"""

VARIANTS = """\
from agent_kernel.ui.text import TextRenderer
_widget_renderer, _record_into = _agent._renderer, _agent._record_into
def variant(name):
    # "agent": as a user has it; "no widget": plain-text renderer; "no recording": the
    # store's observer left out too (to show what recording costs a step).
    _agent._renderer = _widget_renderer if name == "agent" else (
        lambda model, secrets: TextRenderer(secrets=secrets))
    _agent._record_into = (lambda *a: None) if name == "no recording" else _record_into
"""
NAMES = ("bare", "agent", "no widget", "no recording")


def script(server: ScriptedServer, steps: int) -> None:
    server.add(*(Reply(tool_calls=[ToolCall("noop", {"n": i})]) for i in range(steps)))
    server.add(Reply(text="done"))


def notebook(steps: int, repeats: int) -> nbformat.NotebookNode:
    cells = [SETUP, f"BASE_URL = {os.environ['OPENAI_BASE_URL']!r}\n" + BARE]
    # A first run, as a user's first cell: it loads what runs need once (and starts indexing
    # the turn into Chroma, which the memory helper's deferral owns); the timed runs follow.
    cells += ["%%agent --new\nwarm up", WAIT_FOR_INDEXING, VARIANTS]
    cells.append(f"timings = {{name: [] for name in {NAMES!r}}}")
    for _ in range(repeats):  # interleaved, so load on the machine falls on every variant
        cells.append(f"timings['bare'].append(await bare_loop({steps}))")
        for name in NAMES[1:]:
            cells.append(WAIT_FOR_INDEXING + f"variant({name!r})\n_t0 = time.perf_counter()")
            cells.append(f"%%agent --new --max-steps {steps + 1}\ngo")
            cells.append(f"timings[{name!r}].append(time.perf_counter() - _t0)")
    cells.append("print('TIMINGS ' + json.dumps(timings))")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def run(server: ScriptedServer, steps: int, repeats: int) -> dict[str, Any]:
    server.add(Reply(text="warm"))
    for _ in range(repeats * len(NAMES)):
        script(server, steps)
    project = Path(tempfile.mkdtemp(prefix="bench-kernel-"))
    nb = notebook(steps, repeats)
    client = NotebookClient(
        nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": project}}
    )
    client.execute()
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    timings = json.loads(out.split("TIMINGS ", 1)[1])
    return {"timings": timings, "stored": stored_steps(project)}


def stored_steps(project: Path) -> int:
    """Tool steps on record after the kernel ended (its journal ingested)."""
    from agent_kernel.memory.store import Store
    from agent_kernel.memory.writer import StepWriter

    store = Store(project / ".agent" / "agent.duckdb")
    writer = StepWriter(store)
    writer.sync(30)
    writer.close()
    return int(store.query("SELECT count(*) FROM events WHERE kind = 'tool_finished'")[0][0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with ScriptedServer() as server:
        os.environ.update(
            OPENAI_BASE_URL=server.base_url,
            OPENAI_API_KEY="sk-bench",
            AGENT_KERNEL_MODEL="scripted-model",
            AGENT_KERNEL_UNATTENDED="1",
        )
        print(
            "real kernel (nbclient), zero-latency scripted server; ms per step, median of "
            f"{args.repeats}; store, policy, audit chain on"
        )
        for steps in args.steps:
            result = run(server, steps, args.repeats)
            per_step = {
                name: [t / (steps + 1) * 1000 for t in times]
                for name, times in result["timings"].items()
            }
            bare_med, bare_min = statistics.median(per_step["bare"]), min(per_step["bare"])
            for name in NAMES:
                med, low = statistics.median(per_step[name]), min(per_step[name])
                print(
                    f"{steps:4d} steps  {name:13s} median {med:7.2f} ms/step "
                    f"({med / bare_med:5.2f}x bare)  best {low:7.2f} ms/step "
                    f"({low / bare_min:5.2f}x bare)"
                )
            expected = steps * args.repeats * 2  # runs with recording on
            print(
                f"{steps:4d} steps  stored {result['stored']}/{expected} tool steps "
                "of the runs with recording on"
            )


if __name__ == "__main__":
    main()
