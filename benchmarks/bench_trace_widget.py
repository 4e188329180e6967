"""The live trace widget against the text renderer, in a real kernel (nbclient), same run.

Issue 19 item 1: the widget rebuilt the whole trace on every event (107 ms per event near
step 1000, 434x the text renderer), opened ~26 widgets per step and never closed them; a
200-step run sent 7,407 IOPub messages (12.4 MB) against 406 (223 KB) and saved a 5.78 MB
notebook against 52 KB. Each run here is one `%%agent` cell of N steps (a tool call per step,
list_variables, then an answer) against the zero-latency scripted server, with store, policy
and audit on. Reported per renderer: the renderer's own time per event (its event handler
and its throttled draws) around steps 1..N, IOPub messages and bytes of the cell, and the
saved notebook's size: as nbformat writes it, and with the widget state nbclient keeps
(closed widgets dropped, as JupyterLab's widget manager does).
Run: PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_trace_widget.py [--steps 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from agent_kernel.testing import Reply, ScriptedServer, ToolCall

sys.path.insert(0, str(Path(__file__).parent))
from kernel_harness import TEXT_RENDERER

TIMING = """\
import time as _time
import agent_kernel.ui.trace as _trace, agent_kernel.ui.text as _text
_costs, _last = [], [0]
def _timed(original, is_event):
    def timed(self, *args):
        if is_event:
            _last[0] = args[0].step
        started = _time.perf_counter()
        try:
            return original(self, *args)
        finally:
            _costs.append((_last[0], is_event, _time.perf_counter() - started))
    return timed
for _cls in (_trace.TraceWidget, _text.TextRenderer):
    _cls.__call__ = _timed(_cls.__call__, True)
if hasattr(_trace.TraceWidget, "flush"):
    _trace.TraceWidget.flush = _timed(_trace.TraceWidget.flush, False)
"""
REPORT = "import json\nprint('COSTS ' + json.dumps(_costs))"


class CountingClient(NotebookClient):
    """Counts the IOPub messages and bytes of each cell; drops closed widgets' state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counts: dict[int, list[int]] = {}
        self.kinds: dict[str, list[int]] = {}  # message type -> [messages, bytes]

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        count = self.counts.setdefault(cell_index, [0, 0])
        count[0] += 1
        size = len(json.dumps(msg, default=str).encode())
        count[1] += size
        kind = msg["msg_type"]
        if kind == "comm_msg":
            kind += ":" + str(msg["content"].get("data", {}).get("method", ""))
        self.kinds.setdefault(kind, [0, 0])
        self.kinds[kind][0] += 1
        self.kinds[kind][1] += size
        if msg["msg_type"] == "comm_close":
            self.widget_state.pop(msg["content"]["comm_id"], None)
        return super().process_message(msg, cell, cell_index)


def run(server: ScriptedServer, steps: int, renderer: str) -> dict[str, Any]:
    server.add(*[Reply(tool_calls=[ToolCall("list_variables", {})]) for _ in range(steps)])
    server.add(Reply(text="Done: nothing more to look at."))
    cells = ["%load_ext agent_kernel", TIMING]
    if renderer == "text":
        cells.append(TEXT_RENDERER)
    cells += [f"%%agent --max-steps {steps + 1}\nLook {steps} times.", REPORT]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    folder = Path(tempfile.mkdtemp(prefix="agent-bench-"))
    env = {
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sk-bench-not-a-real-key",
        "AGENT_KERNEL_MODEL": "scripted-model",
        "AGENT_KERNEL_UNATTENDED": "1",
        "JUPYTER_DATA_DIR": str(folder / "jupyter-data"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client = CountingClient(nb, timeout=3600, resources={"metadata": {"path": str(folder)}})
        client.execute()
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    agent_cell = len(cells) - 2
    report = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    costs = json.loads(report.split("COSTS ", 1)[1])
    events = sum(1 for _, is_event, _ in costs if is_event)
    with_state = len(nbformat.writes(nb).encode())
    nb.metadata.pop("widgets", None)
    return {
        "costs": costs,
        "events": events,
        "kinds": client.kinds,
        "messages": client.counts[agent_cell][0],
        "bytes": client.counts[agent_cell][1],
        "notebook": len(nbformat.writes(nb).encode()),
        "notebook_with_state": with_state,
    }


def per_event_ms(costs: list[list[Any]], first: int, last: int) -> float:
    """The renderer's time in steps first..last, per event of those steps."""
    window = [(is_event, cost) for step, is_event, cost in costs if first <= step <= last]
    events = sum(1 for is_event, _ in window if is_event) or 1
    return sum(cost for _, cost in window) * 1000 / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    n = args.steps
    windows = sorted({(1, 10), (max(1, n // 2 - 9), n // 2), (n - 9, n)})
    with ScriptedServer() as server:
        got = {r: run(server, n, r) for r in ("widget", "text")}
    print(f"{n}-step run in a real kernel (nbclient), widget vs text renderer, same run")
    for first, last in windows:
        w, t = (per_event_ms(got[r]["costs"], first, last) for r in ("widget", "text"))
        print(f"  per event, steps {first:>4}-{last:<4}: widget {w:7.3f} ms  text {t:7.3f} ms")
    w, t = got["widget"], got["text"]
    growth = per_event_ms(w["costs"], n - 9, n) / per_event_ms(w["costs"], 1, 10)
    print(f"  widget per-event cost, last 10 steps / first 10: {growth:.2f}x")
    print(
        f"  IOPub: widget {w['messages']:,} messages / {w['bytes'] / 1e3:,.0f} KB; text "
        f"{t['messages']:,} / {t['bytes'] / 1e3:,.0f} KB; bytes {w['bytes'] / t['bytes']:.2f}x"
    )
    print(
        f"  saved notebook: widget {w['notebook'] / 1e3:,.0f} KB, text "
        f"{t['notebook'] / 1e3:,.0f} KB ({w['notebook'] / t['notebook']:.2f}x; "
        f"{(w['notebook'] - t['notebook']) / n / 1e3:.2f} KB per step more); with widget "
        f"state: {w['notebook_with_state'] / 1e3:,.0f} KB vs "
        f"{t['notebook_with_state'] / 1e3:,.0f} KB"
    )
    for name in ("widget", "text"):
        kinds = sorted(got[name]["kinds"].items(), key=lambda kv: -kv[1][1])
        shown = ", ".join(f"{k} {n:,}/{b / 1e3:,.0f} KB" for k, (n, b) in kinds[:6])
        print(f"  {name} IOPub by type (all cells): {shown}")
    print(f"  events: widget {w['events']:,}, text {t['events']:,}")


if __name__ == "__main__":
    main()
