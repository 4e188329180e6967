"""describe_dataframe and sql on 10-million-row frames, against the libraries' own baselines.

The same data as pandas, polars and pyarrow: int id, float revenue, string region (8 values),
datetime date, int quantity, float discount with 10% nulls. Each figure is the median of
--runs calls through `Tool.call`, as the agent loop makes them. Baselines from the same run:
`len(frame)` and the library's own `describe()` (pandas and polars; pyarrow has none).
Run: .venv/bin/python benchmarks/bench_tools.py [--rows 10000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from agent_kernel.tools.base import ToolContext
from agent_kernel.tools.dataframes import describe_dataframe
from agent_kernel.tools.sql import sql

REGIONS = ["north", "south", "east", "west", "central", "north-east", "south-west", "islands"]
BUDGET_SECONDS = 1.0
GROUP_BY = (
    "SELECT region, sum(revenue) AS revenue, avg(quantity) AS quantity, count(*) AS orders "
    "FROM {name} GROUP BY region ORDER BY revenue DESC"
)


def build(rows: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    discount = rng.uniform(0, 0.5, rows)
    discount[rng.random(rows) < 0.1] = np.nan
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "revenue": rng.gamma(2.0, 50.0, rows),
            "region": pd.Series(np.array(REGIONS)[rng.integers(0, len(REGIONS), rows)]),
            "date": pd.Timestamp("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 1500, rows), unit="D"),
            "quantity": rng.integers(1, 20, rows),
            "discount": discount,
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return {"pandas": frame, "polars": pl.from_arrow(table), "pyarrow": table}


def median_seconds(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    frames = build(args.rows)
    print(
        f"{args.rows:,} rows × 6 columns, built in {time.perf_counter() - started:.1f} s; "
        f"median of {args.runs} runs; {os.cpu_count()} CPUs"
    )
    ctx = ToolContext(user_ns=frames)
    header = (
        f"{'library':8} {'len(frame)':>11} {'describe()':>11} {'describe_dataframe':>19} "
        f"{'ratio':>6} {'sql GROUP BY':>13}  within {BUDGET_SECONDS:g} s"
    )
    print(header)
    print("-" * len(header))
    for name, frame in frames.items():
        length = median_seconds(lambda f=frame: len(f), args.runs)
        baseline = (
            median_seconds(lambda f=frame: f.describe(), args.runs)
            if hasattr(frame, "describe")
            else None
        )
        describe = median_seconds(
            lambda n=name: asyncio.run(describe_dataframe.call({"name": n}, ctx)), args.runs
        )
        query = GROUP_BY.format(name=name)
        grouped = median_seconds(
            lambda q=query: asyncio.run(sql.call({"query": q}, ctx)), args.runs
        )
        base_text = f"{baseline:10.3f}s" if baseline is not None else f"{'n/a':>11}"
        ratio = f"{describe / baseline:5.2f}x" if baseline is not None else f"{'':6}"
        verdict = "yes" if max(describe, grouped) < BUDGET_SECONDS else "NO"
        print(
            f"{name:8} {length * 1e6:9.1f}µs {base_text} {describe:18.3f}s {ratio} "
            f"{grouped:12.3f}s  {verdict}"
        )
    print("ratio = describe_dataframe / the library's describe(); len(frame) is the floor.")
    print("\nwhat the model reads (pandas):")
    print(asyncio.run(describe_dataframe.call({"name": "pandas"}, ctx)))
    print(asyncio.run(sql.call({"query": GROUP_BY.format(name="pandas")}, ctx)))


if __name__ == "__main__":
    main()
