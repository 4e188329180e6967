"""Two kernels, one project store: steps lost and lock errors a user would see.

Each writer process records `--steps` steps through the same path a kernel uses (an
EventRecorder journaling each step through a StepWriter, whose background thread ingests
batches into the shared `.agent/agent.duckdb`). Baseline in the same command: one writer alone.
Run: .venv/bin/python benchmarks/bench_concurrent_writers.py [--steps 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRITER = """
import json, sys, time
from agent_kernel.events import Event
from agent_kernel.memory.recording import EventRecorder
from agent_kernel.memory.store import Store
from agent_kernel.memory.writer import StepWriter

path, name, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = Store(path)
writer = StepWriter(store)
recorder = EventRecorder(writer, session_id=name)
times = []
for step in range(steps):
    t0 = time.perf_counter()
    recorder(Event("tool_started", name, step, {"tool": "sql", "call_id": str(step)}))
    recorder(Event("tool_finished", name, step, {"tool": "sql", "call_id": str(step), "ok": True}))
    times.append(time.perf_counter() - t0)
unwritten = len(writer.pending)
writer.sync(120)
warnings = [writer.problem()] if writer.problem() else []
print(json.dumps({"times": times, "warnings": warnings, "unwritten_at_end": unwritten,
                  "lock_waits": store.lock_waits}))
"""


def run_writers(path: Path, names: list[str], steps: int) -> tuple[list[dict], float]:
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, str(steps)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    results = []
    for process in processes:
        out, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"writer failed: {err.strip().splitlines()[-1]}")
        results.append(json.loads(out))
    return results, time.perf_counter() - started


def count_steps(path: Path, name: str) -> int:
    from agent_kernel.memory.store import Store

    rows = Store(path).query(
        "SELECT count(*) FROM events WHERE run_id = ? AND kind = 'tool_finished'", [name]
    )
    return int(rows[0][0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "agent.duckdb"
        alone, alone_wall = run_writers(path, ["alone"], args.steps)
        pair, pair_wall = run_writers(path, ["kernel-a", "kernel-b"], args.steps)
        lost = {n: args.steps - count_steps(path, n) for n in ("alone", "kernel-a", "kernel-b")}
    alone_p50 = statistics.median(alone[0]["times"]) * 1000
    pair_times = [t for r in pair for t in r["times"]]
    pair_p50 = statistics.median(pair_times) * 1000
    pair_p95 = sorted(pair_times)[int(0.95 * len(pair_times))] * 1000
    errors = sum(len(r["warnings"]) for r in pair)
    print(f"{args.steps} steps per writer, one transaction per step, open-use-close")
    print(f"one writer alone (baseline)   p50 {alone_p50:6.1f} ms/step, wall {alone_wall:5.1f} s")
    print(
        f"two writers at once           p50 {pair_p50:6.1f} ms/step, p95 {pair_p95:6.1f} ms, "
        f"wall {pair_wall:5.1f} s ({pair_p50 / alone_p50:.2f}x the baseline per step)"
    )
    print(f"lock waits absorbed           {sum(r['lock_waits'] for r in pair):,}")
    print(f"steps lost                    {sum(lost.values())} (goal 0): {lost}")
    print(f"lock errors seen by the user  {errors} (goal 0)")


if __name__ == "__main__":
    main()
