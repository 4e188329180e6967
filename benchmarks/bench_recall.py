"""Recall latency at 1k, 10k and 100k project memories, p50 and p95.

Memories are generated facts ("The churn window for the EMEA segment is 45 days", ...), added
to a real Chroma index in batches (the index is what recall reads; the DuckDB rows that keep
their history are not on the recall path). Each query goes through `MemoryBank.recall`: embed
the query, semantic search, exact-term search, fusion. Baseline in the same run: embedding
the query alone, the floor any semantic recall pays.
Run: .venv/bin/python benchmarks/bench_recall.py [--sizes 1000 10000 100000] [--queries 200]
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
    args = parser.parse_args()

    from agent_kernel.memory.embedding import default_embedding_function
    from agent_kernel.memory.memories import COLLECTION, MemoryBank
    from agent_kernel.memory.store import Store
    from agent_kernel.memory.vectors import VectorIndex

    embed = default_embedding_function()
    rng = random.Random(0)
    print(f"{args.queries} queries per size; recall = embed + semantic + exact terms + fusion")
    print(f"{'memories':>9}  {'recall p50':>10}  {'recall p95':>10}  {'embed only p50':>14}  ratio")
    with tempfile.TemporaryDirectory() as folder:
        index = VectorIndex(Path(folder) / "chroma")
        bank = MemoryBank(Store(Path(folder) / "agent.duckdb"), index, "project")
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
                index.upsert(COLLECTION, ids, batch, metas)
                added += len(batch)
            load = time.perf_counter() - started
            queries = [rng.choice(QUERIES) for _ in range(args.queries)]
            bank.recall(queries[0])  # warm caches, as a kernel after its first recall
            recall_times, embed_times = [], []
            for query in queries:
                t0 = time.perf_counter()
                bank.recall(query, 5)
                recall_times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                embed([query])
                embed_times.append(time.perf_counter() - t0)
            p50, p95 = statistics.median(recall_times) * 1000, percentile(recall_times, 0.95) * 1000
            e50 = statistics.median(embed_times) * 1000
            print(
                f"{size:>9,}  {p50:>8.1f}ms  {p95:>8.1f}ms  {e50:>12.1f}ms  {p50 / e50:5.2f}x"
                f"   (indexed in {load:.0f} s)"
            )
    print("goal: recall p50 under 20 ms at 100k memories")


if __name__ == "__main__":
    main()
