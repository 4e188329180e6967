"""Cold start in a real kernel: kernel start -> first `%%agent` answer -> a second one at once.

A fresh project folder and a zero-latency scripted server; the kernel runs with the store,
policy, audit chain and the recorder on (unattended, as nbclient runs it). Printed: the wall
time of each step measured from the client (execute request to idle), the server's own time,
and the RSS of the kernel process (and of the memory worker, its child, when it runs) after
each step. Baseline in the same run: a bare kernel started and asked `1 + 1` the same way.
The first answer runs in a project with nothing to recall; the second comes right after it,
while the first turn waits to be indexed.
Run: .venv/bin/python benchmarks/bench_cold_start.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from agent_kernel.testing import Reply, ScriptedServer


def rss_mb(pid: int) -> tuple[float, float]:
    """(kernel, children) resident memory in MB."""
    import psutil

    process = psutil.Process(pid)
    children = sum(c.memory_info().rss for c in process.children(recursive=True))
    return process.memory_info().rss / 1e6, children / 1e6


def run(client: Any, code: str) -> float:
    started = time.perf_counter()
    reply = client.execute_interactive(code, timeout=300, output_hook=lambda msg: None)
    if reply["content"]["status"] != "ok":
        raise SystemExit(f"cell failed: {reply['content']}")
    return time.perf_counter() - started


def one_kernel(server: ScriptedServer | None, folder: Path) -> dict[str, float]:
    from jupyter_client.manager import KernelManager

    env = {**os.environ, "AGENT_KERNEL_UNATTENDED": "1"}
    if server is not None:
        env.update(
            OPENAI_BASE_URL=server.base_url,
            OPENAI_API_KEY="sk-bench",
            AGENT_KERNEL_MODEL="scripted-model",
        )
    manager = KernelManager(kernel_name="python3")
    started = time.perf_counter()
    manager.start_kernel(cwd=str(folder), env=env)
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=120)
    figures = {"start": time.perf_counter() - started}
    pid = manager.provisioner.process.pid  # type: ignore[union-attr]
    try:
        if server is None:
            figures["first"] = run(client, "1 + 1")
            figures["rss_first"], _ = rss_mb(pid)
            # The floor of any agent on the openai package: importing it and making a client.
            figures["openai"] = run(
                client, "import openai\nopenai.AsyncOpenAI(api_key='x', base_url='http://x')"
            )
            figures["rss_openai"], _ = rss_mb(pid)
            return figures
        figures["load_ext"] = run(client, "%load_ext agent_kernel")
        server.add(Reply(text="The first answer."), Reply(text="The second answer."))
        before = server.server_seconds
        figures["first"] = run(client, "%%agent\nSummarise the project.")
        figures["rss_first"], figures["worker_first"] = rss_mb(pid)
        figures["second"] = run(client, "%%agent\nAnd what next?")
        figures["server"] = server.server_seconds - before
        figures["rss_second"], figures["worker_second"] = rss_mb(pid)
        time.sleep(float(os.environ.get("BENCH_SETTLE", "20")))  # let the worker index the turns
        figures["rss_settled"], figures["worker_settled"] = rss_mb(pid)
        return figures
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bare: list[dict[str, float]] = []
    agent: list[dict[str, float]] = []
    with ScriptedServer() as server:
        for _ in range(args.repeats):  # interleaved, so load on the machine hits both alike
            with tempfile.TemporaryDirectory() as folder:
                bare.append(one_kernel(None, Path(folder)))
            with tempfile.TemporaryDirectory() as folder:
                agent.append(one_kernel(server, Path(folder)))

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print(f"medians of {args.repeats} interleaved runs (seconds, MB)")
    print(
        f"bare kernel: start {med(bare, 'start'):.2f} s, `1 + 1` {med(bare, 'first'):.3f} s, "
        f"RSS {med(bare, 'rss_first'):.0f} MB; then `import openai` and a client "
        f"{med(bare, 'openai'):.2f} s, RSS {med(bare, 'rss_openai'):.0f} MB"
    )
    print(
        f"agent kernel: start {med(agent, 'start'):.2f} s, %load_ext {med(agent, 'load_ext'):.2f} s"
    )
    print(
        f"  first %%agent answer  {med(agent, 'first'):.2f} s "
        f"(own overhead incl. %load_ext: {med(agent, 'first') + med(agent, 'load_ext'):.2f} s; "
        f"server time for both answers {med(agent, 'server'):.3f} s)"
    )
    print(f"  second answer at once {med(agent, 'second'):.2f} s")
    floor = med(bare, "openai")
    print(
        f"  first answer minus the bare kernel's `import openai`: "
        f"{med(agent, 'first') - floor:.2f} s; second answer {med(agent, 'second'):.2f} s"
    )
    for point in ("first", "second", "settled"):
        kernel, worker = med(agent, f"rss_{point}"), med(agent, f"worker_{point}")
        print(
            f"  RSS after {point:<8} kernel {kernel:4.0f} MB = "
            f"{kernel / med(bare, 'rss_first'):.2f}x bare; memory worker {worker:4.0f} MB"
        )
    print("goal: first answer within 1.5 s of our own overhead; kernel RSS at most 2x bare")


if __name__ == "__main__":
    main()
