"""A long streamed answer shown in a cell: time in a real kernel vs reading the stream.

Issue 10 item 7: a 2 MB streamed answer took 27.5 s to show in the cell against 0.03 s to
read it over HTTP, because every chunk re-redacted (and the widget re-sent) the whole reply
so far. The target is at most 2x the time to read the stream. Baselines in the same run:
reading the same stream with raw HTTP (httpx) and with the `openai` client; and the same
kernel answering a short question (the fixed cost of a run, which is not per-chunk work).
Run: PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_stream_render.py [--mb 2] [--chunk 512]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from kernel_harness import BenchKernel

from agent_kernel.testing import Reply, ScriptedServer


def answer(megabytes: float) -> str:
    line = "Revenue by region rose in every quarter; the west led again. "
    return (line * int(megabytes * 1_000_000 / len(line) + 1))[: int(megabytes * 1_000_000)]


def read_raw(server: ScriptedServer, text: str, chunk: int) -> float:
    import httpx

    server.add(Reply(text=text, chunk_chars=chunk))
    body = {"model": "m", "messages": [{"role": "user", "content": "go"}], "stream": True}
    started = time.perf_counter()
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body) as response:
        for _ in response.iter_bytes():
            pass
    return time.perf_counter() - started


def read_openai(server: ScriptedServer, text: str, chunk: int) -> float:
    from openai import OpenAI

    server.add(Reply(text=text, chunk_chars=chunk))
    client = OpenAI(api_key="sk-bench", base_url=server.base_url, max_retries=0)
    started = time.perf_counter()
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "go"}], stream=True
    )
    for _ in stream:
        pass
    client.close()
    return time.perf_counter() - started


def in_kernel(server: ScriptedServer, text: str, chunk: int, renderer: str) -> dict[str, float]:
    kernel = BenchKernel(server.base_url, renderer=renderer)
    try:
        server.add(Reply(text="Warm."))
        kernel.run("%%agent\nwarm up")
        kernel.settle()
        server.add(Reply(text="Short."))
        short = kernel.run("%%agent\nshort answer")["seconds"]
        kernel.settle()
        server.add(Reply(text=text, chunk_chars=chunk))
        long = kernel.run("%%agent\nlong answer")
        shown = sum(len(str(o.get("data", {}).get("text/markdown", ""))) for o in long["outputs"])
        shown += sum(len(o.get("text", "")) for o in long["outputs"])
        if shown < len(text):
            raise AssertionError(f"the cell showed {shown:,} of {len(text):,} characters")
        return {"long": long["seconds"], "short": short, "bytes": long["bytes"]}
    finally:
        kernel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=2.0)
    parser.add_argument("--chunk", type=int, default=512, help="characters per streamed chunk")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    text = answer(args.mb)
    with ScriptedServer() as server:
        raw = statistics.median(read_raw(server, text, args.chunk) for _ in range(args.repeat))
        sdk = statistics.median(read_openai(server, text, args.chunk) for _ in range(args.repeat))
        print(f"{len(text):,} characters in chunks of {args.chunk} ({len(text) // args.chunk:,})")
        print(f"read over HTTP (httpx):      {raw:7.2f} s")
        print(f"read with the openai client: {sdk:7.2f} s")
        for renderer in ("widget", "text"):
            got = in_kernel(server, text, args.chunk, renderer)
            net = got["long"] - got["short"]
            print(
                f"in a kernel, {renderer:6} renderer: {got['long']:7.2f} s in the cell "
                f"({got['short']:.2f} s for a short answer; net {net:.2f} s = "
                f"{net / sdk:.2f}x the openai read, {got['long'] / sdk:.2f}x gross); "
                f"IOPub {got['bytes'] / 1e6:.1f} MB"
            )


if __name__ == "__main__":
    main()
