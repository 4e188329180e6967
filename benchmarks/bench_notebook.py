"""The notebook in the context and through the front end.

1. Tokens the context's notebook section adds to every model call, for notebooks of 10, 100
   and 500 cells (code with printed output, results, errors, figures, markdown), with the
   default budget; baseline: the whole notebook rendered as notebook_cells renders it.
2. Time to serve notebook_cells' read of a 500-cell notebook through the front end (the
   kernel asks over the `agent_kernel.notebook` comm, a client answers as the JupyterLab
   extension does, the kernel parses the reply) against reading the same notebook from the
   saved file, both measured inside a real kernel, p50 over repeated reads.
Run: .venv/bin/python benchmarks/bench_notebook.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import queue
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


def png(width: int, height: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 200)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def cells(count: int) -> list[dict[str, Any]]:
    """A realistic notebook: a mix of outputs, one figure and one markdown every ten cells."""
    figure = png(640, 480)
    made = []
    for i in range(count):
        source = f"# step {i}\nsales_{i} = sales[sales.month == {i % 12 + 1}]\nsales_{i}.head()"
        outputs: list[dict[str, Any]] = [
            {"output_type": "stream", "name": "stdout", "text": f"{i * 37} rows kept\n" * 3},
            {
                "output_type": "execute_result",
                "execution_count": i + 1,
                "metadata": {},
                "data": {"text/plain": "   region  revenue\n0  West  1450.0\n1  East  1200.0"},
            },
        ]
        if i % 10 == 3:
            outputs.append(
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {"image/png": figure, "text/plain": "<Figure>"},
                }
            )
        if i % 10 == 7:
            outputs = [
                {
                    "output_type": "error",
                    "ename": "KeyError",
                    "evalue": "'reveneu'",
                    "traceback": ["KeyError: 'reveneu'"] * 8,
                }
            ]
        kind = "markdown" if i % 10 == 9 else "code"
        made.append(
            {
                "cell_type": kind,
                "id": f"c{i}",
                "metadata": {},
                "source": source,
                **({"outputs": outputs, "execution_count": i + 1} if kind == "code" else {}),
            }
        )
    return made


def section_tokens(count: int) -> tuple[int, int]:
    from agent_kernel.notebook.cells import Cell, render_cell
    from agent_kernel.notebook.sources import LIVE, NotebookView
    from agent_kernel.notebook.summary import notebook_section
    from agent_kernel.runtime.context import ContextBuilder

    view = NotebookView([Cell.from_nbformat(i, c) for i, c in enumerate(cells(count))], LIVE)
    view.running = count - 1
    builder = ContextBuilder(notebook=lambda fits: notebook_section(view, None, fits))
    built = builder.build([{"role": "user", "content": "What does the cell above show?"}])
    section = next(s for s in built.sections if s.name == "notebook")
    whole = builder.counter.text("\n\n".join(render_cell(c) for c in view.cells))
    return section.tokens, whole


READ = """
import time, statistics
from agent_kernel.notebook.sources import live_view, file_view
shell = get_ipython()
live, saved = [], []
for _ in range({repeat}):
    started = time.perf_counter(); view = await live_view(shell)
    live.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter(); file_view(shell, __import__("pathlib").Path({path!r}), "")
    saved.append((time.perf_counter() - started) * 1000)
print("RESULT", len(view.cells), statistics.median(live), statistics.median(saved))
"""


def serve_times(repeat: int) -> tuple[int, float, float]:
    from jupyter_client.manager import KernelManager

    notebook = cells(500)
    folder = Path(tempfile.mkdtemp())
    path = folder / "big.ipynb"
    path.write_text(
        json.dumps({"cells": notebook, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env={**os.environ}, cwd=str(folder))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        client.execute_interactive("%load_ext agent_kernel", timeout=60)
        comm_id = uuid.uuid4().hex
        client.shell_channel.send(
            client.session.msg(
                "comm_open",
                {"comm_id": comm_id, "target_name": "agent_kernel.notebook", "data": {}},
            )
        )
        client.execute_interactive("pass", timeout=60)
        msg_id = client.execute(READ.format(repeat=repeat, path=str(path)))
        return _answer_until_done(client, comm_id, msg_id, notebook)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _answer_until_done(client: Any, comm_id: str, msg_id: str, notebook: list) -> tuple:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            msg = client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        content = msg["content"]
        if msg["msg_type"] == "comm_msg" and content.get("comm_id") == comm_id:
            request = content["data"]
            if "request" in request:  # as the extension: the cells as nbformat JSON
                reply = {"reply_to": request["request"], "ok": True, "cells": notebook}
                client.shell_channel.send(
                    client.session.msg("comm_msg", {"comm_id": comm_id, "data": reply})
                )
        elif msg["parent_header"].get("msg_id") == msg_id:
            if msg["msg_type"] == "stream" and "RESULT" in content["text"]:
                _, n, live, saved = content["text"].split()
                return int(n), float(live), float(saved)
            if msg["msg_type"] == "error":
                raise RuntimeError(f"{content['ename']}: {content['evalue']}")
    raise RuntimeError("the kernel did not finish")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    print("Notebook section per model call (default budget 12,000; section cap 1,500):")
    for count in (10, 100, 500):
        tokens, whole = section_tokens(count)
        print(
            f"  {count:>3} cells: {tokens:>5,} tokens (whole notebook rendered: {whole:>7,} "
            f"tokens; {whole / max(tokens, 1):,.0f}x more)"
        )
    n, live, saved = serve_times(args.repeat)
    print(f"Reading {n} cells inside a kernel, p50 of {args.repeat}:")
    print(f"  through the front end (comm round trip): {live:.1f} ms")
    print(
        f"  from the saved file:                     {saved:.1f} ms "
        f"(front end / file = {live / saved:.2f}x)"
    )


if __name__ == "__main__":
    main()
