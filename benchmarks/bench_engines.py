"""describe_dataframe and sql on Spark and Dask frames against the engines run directly.

Spark (local[2]): describe_dataframe vs `df.summary().collect()`, and a GROUP BY through the
sql tool vs `spark.sql(q).collect()`. Dask (LocalCluster, 2 workers): describe_dataframe vs
`ddf.describe().compute()`. Each pair runs alternately, the median of the repeats is kept, and
the process's RSS growth over the tool calls is reported (the frames live in the JVM and the
workers; targets: overhead <= 1.1x, RSS growth < 100 MB).

    python benchmarks/bench_engines.py --rows 50000000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from agent_kernel.tools.base import ToolContext
from agent_kernel.tools.dataframes import describe_dataframe
from agent_kernel.tools.sql import sql

QUERY = "SELECT region, sum(amount) AS total, count(*) AS n FROM events GROUP BY region"


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def paired(ours: Callable[[], Any], theirs: Callable[[], Any], repeats: int) -> tuple[float, float]:
    mine, baseline = [], []
    for i in range(repeats):
        for run, times in (
            ((ours, mine), (theirs, baseline))
            if i % 2
            else (
                (theirs, baseline),
                (ours, mine),
            )
        ):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
    return statistics.median(mine), statistics.median(baseline)


def report(label: str, mine: float, baseline: float) -> None:
    print(
        f"{label:<44} ours {mine:7.2f} s   engine {baseline:7.2f} s   ratio {mine / baseline:.2f}x"
    )


def spark_figures(rows: int, repeats: int) -> None:
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    events = spark.range(0, rows, numPartitions=8).selectExpr(
        "id", "id % 7 AS region", "rand(1) * 100 AS amount"
    )
    ctx = ToolContext(user_ns={"events": events, "spark": spark})
    before = rss_mb()
    mine, baseline = paired(
        lambda: describe_dataframe("events", ctx=ctx),
        lambda: events.summary().collect(),
        repeats,
    )
    report(f"spark describe, {rows:,} rows", mine, baseline)
    events.createOrReplaceTempView("events_direct")  # the baseline's own view
    mine, baseline = paired(
        lambda: sql(QUERY, ctx=ctx),
        lambda: spark.sql(QUERY.replace("events", "events_direct")).collect(),
        repeats,
    )
    report(f"spark GROUP BY sql, {rows:,} rows", mine, baseline)
    print(f"kernel-process RSS growth over the Spark tool calls: {rss_mb() - before:.0f} MB")
    spark.stop()


def dask_figures(rows: int, repeats: int) -> None:
    import dask
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd
    from distributed import Client, LocalCluster

    client = Client(LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None))
    partitions = 16
    size = rows // partitions

    def part(i: int) -> pd.DataFrame:
        rng = np.random.default_rng(i)
        ids = np.arange(i * size, (i + 1) * size)
        return pd.DataFrame({"id": ids, "region": ids % 7, "amount": rng.random(size) * 100})

    ddf = dd.from_map(part, range(partitions))
    ctx = ToolContext(user_ns={"readings": ddf})
    before = rss_mb()
    mine, baseline = paired(
        lambda: describe_dataframe("readings", ctx=ctx),
        lambda: dask.compute(ddf.describe()),
        repeats,
    )
    report(f"dask describe, {rows:,} rows", mine, baseline)
    print(f"kernel-process RSS growth over the Dask tool calls: {rss_mb() - before:.0f} MB")
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engine", choices=["spark", "dask", "both"], default="both")
    options = parser.parse_args()
    if options.engine in ("spark", "both"):
        spark_figures(options.rows, options.repeats)
    if options.engine in ("dask", "both"):
        dask_figures(options.rows, options.repeats)


if __name__ == "__main__":
    main()
