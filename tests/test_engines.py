"""Spark and Dask frames as data (issue 15): the data tools push the work down to the engine,
in a real kernel with a real local[2] Spark session and a real Dask LocalCluster. The engine's
own accounting (Spark's status tracker, Dask's task stream) shows that it did the work, and
the kernel's memory does not grow by the frame's size.

One kernel per module (Spark's JVM takes ~10 s to start). Without Java or pyspark the Spark
tests skip with the reason; CI sets ENGINES_REQUIRED=1, which turns a skip into a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from tests.conftest import TEST_KEY
from tests.test_kernel import run_code

pytestmark = [pytest.mark.kernel, pytest.mark.slow]
REQUIRED = os.environ.get("ENGINES_REQUIRED") == "1"


def _missing(*needs: tuple[bool, str]) -> str:
    return "; ".join(why for ok, why in needs if not ok)


SPARK_MISSING = _missing(
    (shutil.which("java") is not None, "no Java runtime (apt-get install default-jre-headless)"),
    (
        importlib.util.find_spec("pyspark") is not None,
        "pyspark not installed (pip install .[bigdata])",
    ),
)
DASK_MISSING = _missing(
    (importlib.util.find_spec("distributed") is not None, "dask[distributed] not installed"),
)
if REQUIRED and (SPARK_MISSING or DASK_MISSING):
    raise RuntimeError(f"ENGINES_REQUIRED=1 but {SPARK_MISSING or DASK_MISSING}")
spark_test = pytest.mark.skipif(bool(SPARK_MISSING), reason=SPARK_MISSING)
dask_test = pytest.mark.skipif(bool(DASK_MISSING), reason=DASK_MISSING)

JOIN = "SELECT e.region, l.label FROM events e JOIN lookup l USING (region)"
RSS = "int(open('/proc/self/statm').read().split()[1]) * 4096 // 2**20"


class EngineKernel:
    def __init__(self, km: KernelManager, client: Any, server: ScriptedServer) -> None:
        self.km, self.client, self.server = km, client, server

    def run(self, code: str, timeout: float = 600) -> str:
        reply, output = run_code(self.client, code, timeout=timeout)
        assert reply["content"]["status"] == "ok", output
        return output

    def value(self, expression: str) -> Any:
        return json.loads(self.run(f"import json; print(json.dumps({expression}))").strip())

    def agent(self, *replies: Reply) -> list[str]:
        """Run one %%agent cell over these replies; the tool results the model read."""
        first = len(self.server.requests)
        self.server.add(*replies)
        self.run("%%agent\nLook at the data.")
        requests = self.server.requests[first + 1 :]
        return [r.body["messages"][-1]["content"] for r in requests]


@pytest.fixture(scope="module")
def engine_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineKernel]:
    folder: Path = tmp_path_factory.mktemp("engines")
    with ScriptedServer() as server:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": TEST_KEY,
            "AGENT_KERNEL_MODEL": "scripted-model",
            "AGENT_KERNEL_UNATTENDED": "1",
            "JUPYTER_DATA_DIR": str(folder / "jupyter-data"),
        }
        km = KernelManager(kernel_name="python3")
        km.start_kernel(env=env, cwd=str(folder))
        client = km.client()
        client.start_channels()
        client.wait_for_ready(timeout=120)
        kernel = EngineKernel(km, client, server)
        try:
            kernel.run("%load_ext agent_kernel")
            kernel.run('%config Policy.unattended = "allow"')
            # The first run opens the store and imports the client: a cost paid once, not
            # part of what the memory figures below measure.
            kernel.agent(Reply(tool_calls=[ToolCall("list_variables", {})]), Reply(text="Ready."))
            yield kernel
        finally:
            client.stop_channels()
            km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def spark_kernel(engine_kernel: EngineKernel) -> EngineKernel:
    if SPARK_MISSING:
        pytest.skip(SPARK_MISSING)
    engine_kernel.run(
        "from pyspark.sql import SparkSession\n"
        "spark = (SparkSession.builder.master('local[2]').appName('agent-kernel-test')\n"
        "         .config('spark.ui.enabled', 'false')\n"
        "         .config('spark.sql.shuffle.partitions', '4').getOrCreate())\n"
        # 2 million generated rows: 48 MB as a pandas frame, never built in the kernel.
        "events = spark.range(0, 2_000_000, numPartitions=4).selectExpr(\n"
        "    'id', 'id % 7 AS region', 'rand(1) * 100 AS amount')\n"
        "import pandas as pd\n"
        "lookup = pd.DataFrame({'region': range(7), 'label': list('abcdefg')})\n"
        "from pyspark.sql import functions\n"
        "events.limit(1).collect()"  # the Python side's first-job imports
    )
    return engine_kernel


def _group(result: str) -> str:
    match = re.search(r"job group '([\w-]+)'", result)
    assert match, result
    return match.group(1)


@spark_test
@pytest.mark.spark
def test_spark_describe_and_sql_run_in_spark_without_growing_the_kernel(
    spark_kernel: EngineKernel,
) -> None:
    kernel = spark_kernel
    before = kernel.value(RSS)
    query = (
        "SELECT region, round(sum(amount), 1) AS total FROM events GROUP BY region ORDER BY region"
    )
    listing, described, answered = kernel.agent(
        Reply(tool_calls=[ToolCall("list_variables", {})]),
        Reply(tool_calls=[ToolCall("describe_dataframe", {"name": "events"})]),
        Reply(tool_calls=[ToolCall("sql", {"query": query})]),
        Reply(text="Done."),
    )
    grown = kernel.value(RSS) - before
    assert re.search(
        r"\| events +\| pyspark\.DataFrame +\| 3 columns, 4 partitions +"
        r"\| spark: count needs a job",
        listing,
    ), listing
    assert "events: pyspark.sql.DataFrame, 2,000,000 rows × 3 columns" in described
    assert "engine: spark ran it" in described
    assert re.search(
        r"- amount: double, no nulls; min [\d.e-]+, p25 2\d\.\d+, median [45]\d", described
    )
    assert "7 rows × 2 columns: region bigint, total double" in answered
    assert "engine: spark ran it" in answered
    assert not described.startswith("<<untrusted")  # plain names and numbers: our own words
    # Spark's own accounting: the jobs of each call ran in Spark, in the group the result names.
    for result in (described, answered):
        jobs = kernel.value(
            f"sorted(spark.sparkContext.statusTracker().getJobIdsForGroup({_group(result)!r}))"
        )
        assert jobs, result
    assert grown < 25, f"kernel RSS grew {grown} MB (the frame is 48 MB as pandas)"


@spark_test
@pytest.mark.spark
def test_spark_refuses_writes_and_mixed_engines_in_one_line(spark_kernel: EngineKernel) -> None:
    mixed, write = spark_kernel.agent(
        Reply(
            tool_calls=[
                ToolCall(
                    "sql",
                    {"query": JOIN},
                )
            ]
        ),
        Reply(tool_calls=[ToolCall("sql", {"query": "DROP VIEW events"})]),
        Reply(text="Refused."),
    )
    assert (
        "one query cannot join frames of different engines: events (spark), lookup (pandas)"
        in mixed
    )
    assert "spark.createDataFrame" in mixed and "Traceback" not in mixed
    assert "only one read-only query" in write
    assert spark_kernel.value("spark.catalog.tableExists('events')") is False  # nothing left


@pytest.fixture(scope="module")
def dask_kernel(engine_kernel: EngineKernel) -> EngineKernel:
    if DASK_MISSING:
        pytest.skip(DASK_MISSING)
    engine_kernel.run(
        "from distributed import Client, LocalCluster, get_task_stream\n"
        "cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,\n"
        "                       dashboard_address=None)\n"
        "client = Client(cluster)\n"
        "import dask\n"
        # 1.7 million generated rows, made in the workers; 41 MB as a pandas frame.
        "readings = dask.datasets.timeseries(start='2024-01-01', end='2024-01-21', freq='1s',\n"
        "                                    partition_freq='1d', seed=1)[['id', 'x', 'y']]"
    )
    return engine_kernel


@dask_test
@pytest.mark.dask
def test_dask_describe_runs_on_the_cluster_and_sql_names_the_alternative(
    dask_kernel: EngineKernel,
) -> None:
    kernel = dask_kernel
    kernel.value("int(readings.x.sum().compute() > 0)")  # the first computation's imports
    before = kernel.value(RSS)
    kernel.run("stream = get_task_stream(); stream.__enter__()")
    listing, described, refused = kernel.agent(
        Reply(tool_calls=[ToolCall("list_variables", {})]),
        Reply(tool_calls=[ToolCall("describe_dataframe", {"name": "readings"})]),
        Reply(tool_calls=[ToolCall("sql", {"query": "SELECT avg(x) FROM readings"})]),
        Reply(text="Done."),
    )
    kernel.run("stream.__exit__(None, None, None)")
    tasks = kernel.value("len(stream.data)")
    grown = kernel.value(RSS) - before
    assert re.search(r"3 columns, 20 partitions +\| dask: count needs a job", listing), listing
    assert "readings: dask.dataframe.DataFrame, 1,728,000 rows × 3 columns, 20 partitions" in (
        described
    )
    assert "engine: dask ran it (distributed scheduler at tcp://" in described
    assert re.search(r"- x: float64, no nulls; min -1, p25 -0\.\d+", described), described
    assert "sql does not run on Dask frames (readings)" in refused and ".compute()" in refused
    assert tasks >= 20, tasks  # the workers ran the reductions, a task per partition at least
    assert grown < 30, f"kernel RSS grew {grown} MB (the frame is 41 MB as pandas)"
