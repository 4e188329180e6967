"""Fork-and-return overhead of sandboxed run_python, in a real kernel holding a large dataframe.

A real ipykernel (started with jupyter_client) loads agent_kernel, opens the project store (so
its writer thread runs), shows a widget, and holds a dataframe of --gb gigabytes. Then it
times `run_python` on small code, sandboxed (`fork`) and, as the baseline of the same run, in
the kernel itself (`off`); and once more sandboxed with a 1,000,000-row result coming back.
Run: .venv/bin/python benchmarks/bench_sandbox.py [--gb 2] [--reps 30]
"""

from __future__ import annotations

import argparse
import json
import tempfile

MEASURE = r"""
import asyncio, json, statistics, time
import numpy as np, pandas as pd, ipywidgets
from agent_kernel.tools.base import ToolContext
from agent_kernel.tools.python import run_python
ka = get_ipython().magics_manager.registry['AgentMagics'].kernel_agent
ka.memory  # the store and its writer thread
ipywidgets.IntSlider()  # a comm, as a live trace widget would have
big = pd.DataFrame(np.random.default_rng(0).random((ROWS, 16)))
def ctx(mode):
    return ToolContext(user_ns=get_ipython().user_ns, shell=None, sandbox=mode,
                       sandbox_settings=ka.sandbox_settings())
async def timed(mode, code, reps):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        result = await run_python.call({"code": code}, ctx(mode))
        times.append((time.perf_counter() - t0) * 1000)
        assert result.ok, result.content
    times.sort()
    return {"p50": statistics.median(times), "p90": times[int(0.9 * (len(times) - 1))]}
small = "x = len(big)\nx"
result = {
    "off": await timed("off", small, REPS),
    "fork": await timed("fork", small, REPS),
    "fork_1M_rows_back": await timed("fork", "back = big.head(1_000_000).copy()", 3),
    "big_gb": big.memory_usage().sum() / 1e9,
}
print("RESULT" + json.dumps(result))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    from jupyter_client.manager import start_new_kernel

    rows = int(args.gb * 1e9 / (16 * 8))
    project = tempfile.mkdtemp(prefix="bench-sandbox-")
    km, kc = start_new_kernel(kernel_name="python3", cwd=project)
    try:
        output: list[str] = []
        for code in (
            "%load_ext agent_kernel",
            MEASURE.replace("ROWS", str(rows)).replace("REPS", str(args.reps)),
        ):
            kc.execute_interactive(
                code,
                timeout=1200,
                output_hook=lambda m: (
                    output.append(m["content"].get("text", ""))
                    if m["msg_type"] == "stream"
                    else (print(m["content"]["traceback"]) if m["msg_type"] == "error" else None)
                ),
            )
        line = next(x for x in "".join(output).splitlines() if x.startswith("RESULT"))
        result = json.loads(line[len("RESULT") :])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    off, fork = result["off"], result["fork"]
    print(f"kernel holds a {result['big_gb']:.2f} GB dataframe; {args.reps} calls each")
    print(f"in the kernel (off, baseline): p50 {off['p50']:.1f} ms  p90 {off['p90']:.1f} ms")
    print(f"sandboxed (fork):              p50 {fork['p50']:.1f} ms  p90 {fork['p90']:.1f} ms")
    print(
        f"fork-and-return overhead p50: {fork['p50'] - off['p50']:.1f} ms (target < 100 ms); "
        f"ratio fork/off p50 {fork['p50'] / max(off['p50'], 1e-6):.0f}x"
    )
    back = result["fork_1M_rows_back"]
    print(f"sandboxed, a 1,000,000x16 frame (128 MB) coming back: p50 {back['p50']:.0f} ms")


if __name__ == "__main__":
    main()
