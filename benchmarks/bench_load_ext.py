"""`%load_ext agent_kernel` cost, against `import IPython` measured the same way.

Each figure is the median of fresh interpreter processes, so nothing is cached in between.
Run: .venv/bin/python benchmarks/bench_load_ext.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

PROBE = """
import time
t0 = time.perf_counter()
import IPython
from IPython.core.interactiveshell import InteractiveShell
t1 = time.perf_counter()
ip = InteractiveShell.instance()
t2 = time.perf_counter()
ip.run_line_magic("load_ext", "agent_kernel")
t3 = time.perf_counter()
print(t1 - t0, t3 - t2)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    ipython_times, load_times = [], []
    for _ in range(args.runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
        ).stdout.split()
        ipython_times.append(float(out[0]))
        load_times.append(float(out[1]))
    ipython_ms = statistics.median(ipython_times) * 1000
    load_ms = statistics.median(load_times) * 1000
    print(f"runs: {args.runs} fresh processes (median)")
    print(f"import IPython (baseline)     {ipython_ms:8.1f} ms")
    print(f"%load_ext agent_kernel        {load_ms:8.1f} ms")
    print(f"ratio load_ext / import       {load_ms / ipython_ms:8.2f}x")
    print(f"goal: extra time under 150 ms -> {'met' if load_ms < 150 else 'NOT met'}")


if __name__ == "__main__":
    main()
