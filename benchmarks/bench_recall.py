"""Recall latency at 1k, 10k and 100k project memories, p50 and p95, and the first recall.

Memories are generated facts ("The churn window for the EMEA segment is 45 days", ...), written
to the text index and embedded by the real memory worker process into a real Chroma index
(local folder, or a `chroma run` server with --server URL). Each query goes through
`MemoryBank.recall` as the context does: the worker embeds the query and searches Chroma, the
kernel side searches exact terms through the FTS index, then fusion. Baseline in the same run:
embedding the query alone in this process, the floor any semantic recall pays.
Run: .venv/bin/python benchmarks/bench_recall.py [--sizes 1000 10000 100000] [--queries 200]
     [--server http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SUBJECTS = [
    "churn window",
    "discount cap",
    "refund limit",
    "revenue target",
    "forecast horizon",
    "outlier threshold",
    "sample size",
    "retention goal",
    "price floor",
    "lead time",
]
SEGMENTS = [
    "EMEA",
    "APAC",
    "LATAM",
    "North America",
    "enterprise",
    "SMB",
    "retail",
    "wholesale",
    "online",
    "partner",
]
UNITS = ["days", "percent", "EUR", "weeks", "orders"]
QUERIES = [
    "what is the churn window for enterprise customers?",
    "how large may discounts be in APAC?",
    "which outlier threshold do we use?",
    "what revenue target did we set for retail?",
    "refund limit for online orders",
    "customer_id",
    "forecast horizon for wholesale",
]


def facts() -> Iterator[str]:
    """Distinct, realistic-looking facts, as many as asked for."""
    for n in itertools.count():
        for subject, segment, unit in itertools.product(SUBJECTS, SEGMENTS, UNITS):
            yield f"The {subject} for the {segment} segment is {n * 7 % 997 + 3} {unit} (rule {n})."


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--server", default="", help="a Chroma server URL (default: embedded)")
    args = parser.parse_args()

    from agent_kernel.memory.embedding import MiniLMEncoder
    from agent_kernel.memory.index import MemoryIndex
    from agent_kernel.memory.indexer import MemoryWorker
    from agent_kernel.memory.memories import COLLECTION, MemoryBank
    from agent_kernel.memory.store import Store
    from agent_kernel.memory.terms import TermIndex
    from agent_kernel.memory.vectors import Location

    encoder = MiniLMEncoder()
    rng = random.Random(0)
    where = f"server {args.server}" if args.server else "embedded Chroma"
    print(f"{args.queries} queries per size, {where}; recall = embed + semantic + exact + fusion")
    print(f"{'memories':>9}  {'recall p50':>10}  {'recall p95':>10}  {'embed only p50':>14}  ratio")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        location = (
            Location(url=args.server, prefix=f"bench-{rng.randrange(10**9)}")
            if args.server
            else Location(path=str(root / "chroma"))
        )
        worker = MemoryWorker(root / "worker.log")
        index = MemoryIndex(location, TermIndex(root / "recall.sqlite"), worker)
        bank = MemoryBank(Store(root / "agent.duckdb"), index, "project")
        source = facts()
        added = 0
        for size in sorted(args.sizes):
            started = time.perf_counter()
            while added < size:
                batch = [next(source) for _ in range(min(2000, size - added))]
                ids = [f"mem_{added + i}" for i in range(len(batch))]
                metas = [
                    {"kind": "fact", "scope": "project", "trust": "trusted", "source": "user"}
                ] * len(batch)
                index.put(COLLECTION, ids, batch, metas)
                added += len(batch)
            if not index.wait_indexed(COLLECTION, 24 * 3600):
                raise SystemExit(f"indexing failed: {index.problem()}")
            load = time.perf_counter() - started
            first = _first_recall(worker, index, bank)
            queries = [rng.choice(QUERIES) for _ in range(args.queries)]
            recall_times, embed_times = [], []
            for query in queries:
                t0 = time.perf_counter()
                bank.recall(query, 5, wait=0)
                recall_times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                encoder.encode([query])
                embed_times.append(time.perf_counter() - t0)
            p50, p95 = statistics.median(recall_times) * 1000, percentile(recall_times, 0.95) * 1000
            e50 = statistics.median(embed_times) * 1000
            print(
                f"{size:>9,}  {p50:>8.1f}ms  {p95:>8.1f}ms  {e50:>12.1f}ms  {p50 / e50:5.2f}x"
                f"   (indexed in {load:.0f} s; first recall after a restart {first:.2f} s)"
            )
        worker.close()
    print("goal: p50 < 20 ms and p95 < 60 ms at 100k; p50 < 50 ms at 1M; first recall < 2 s")


def _first_recall(worker: Any, index: Any, bank: Any) -> float:
    """A new worker (a restarted kernel): from the request to open to the first answer."""
    worker.close()
    started = time.perf_counter()
    index.worker.wait_ready(index.location, index.terms.path, 600)
    bank.recall(QUERIES[0], 5, wait=0)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
