"""The PySpark adapter: statistics by Spark's own `summary()`, SQL by `spark.sql` over
temporary views, rows brought back only in bounded amounts (`limit(n).collect()`).

Cost, measured against Spark run directly (benchmarks/bench_engines.py): describe is one
`summary()` job over the selected columns plus a constant column whose count is the row count
(so no separate `count()` job), and a `limit(5)` job for the sample rows; sql runs the query
once with `limit(max_rows + 1)`: when more rows exist the total is not counted, since counting
would run the whole query again. Every job runs in a job group named in the result, so the
user can find it in the Spark UI, and so tests can read Spark's own accounting.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from agent_kernel.tools.base import ToolError, bound_text
from agent_kernel.tools.engines import EngineAnswer, Listing, own_words, select_columns
from agent_kernel.tools.tables import format_table, format_value, plural

STATISTICS = ("count", "mean", "stddev", "min", "25%", "50%", "75%", "max")
MAX_COLUMNS = 40
SAMPLE_ROWS = 5
_ROWS = "__agent_rows__"
# Statements that only read: anything else (DDL, INSERT, SET, CACHE, ...) is refused before
# Spark sees it, since spark.sql runs commands eagerly.
_READ_ONLY = re.compile(r"^\s*(\(\s*)*(select|with|from|values|table)\b", re.IGNORECASE)


class SparkEngine:
    name = "spark"

    def listing(self, frame: Any) -> Listing:
        # The schema is resolved once by Spark and cached on the Python side; the partition
        # count comes from the physical plan without running a job.
        partitions = None
        with contextlib.suppress(Exception):
            partitions = frame.rdd.getNumPartitions()
        return Listing("spark", len(frame.columns), None, partitions)

    def describe(
        self, name: str, frame: Any, columns: list[str] | None, limit: int
    ) -> EngineAnswer:
        selected = select_columns(frame.columns, columns, MAX_COLUMNS)
        with _job_group(frame, f"agent-kernel describe {name}") as group:
            started = time.perf_counter()
            from pyspark.sql import functions as F

            rows = (
                frame.select(F.lit(1).alias(_ROWS), *[F.col(f"`{c}`") for c in selected])
                .summary(*STATISTICS)
                .collect()
            )
            sample = frame.select(*[F.col(f"`{c}`") for c in selected]).limit(SAMPLE_ROWS)
            head = [tuple(r) for r in sample.collect()]
            seconds = time.perf_counter() - started
        stats = {r[0]: r.asDict() for r in rows}
        total = int(stats["count"][_ROWS])
        types = dict(frame.dtypes)
        lines = [
            f"{name}: pyspark.sql.DataFrame, {plural(total, 'row')} × "
            f"{plural(len(frame.columns), 'column')}",
            f"engine: spark ran it ({group.describe(seconds)}); statistics from Spark's "
            "summary(): quartiles are Spark's approximate percentiles",
            "columns:",
        ]
        for column in selected:
            lines.append("- " + _column_line(column, types[column], stats, total))
        rest = len(frame.columns) - len(selected)
        if rest > 0:
            lines.append(f"[{plural(rest, 'more column')} not described; pass columns=[...]]")
        lines.append(f"first {plural(len(head), 'row')}:")
        lines.append(format_table(selected[:12], [r[:12] for r in head]).text)
        text = bound_text("\n".join(lines), limit, "pass columns=[...] to describe fewer")[0]
        return EngineAnswer(text, own_words(list(frame.dtypes)))

    def sql(self, query: str, frames: dict[str, Any], max_rows: int, limit: int) -> EngineAnswer:
        if not _READ_ONLY.match(query) or ";" in query.strip().rstrip(";"):
            raise ToolError(
                "only one read-only query (SELECT or WITH ... SELECT) runs on Spark; "
                "use run_python to change data"
            )
        spark = next(iter(frames.values())).sparkSession
        created = _create_views(spark, frames)
        try:
            with _job_group(next(iter(frames.values())), "agent-kernel sql") as group:
                started = time.perf_counter()
                try:
                    result = spark.sql(query.strip().rstrip(";"))
                    rows = [tuple(r) for r in result.limit(max_rows + 1).collect()]
                except Exception as exc:  # AnalysisException, ParseException, ...
                    raise ToolError(_spark_error(exc), trusted=False) from None
                seconds = time.perf_counter() - started
        finally:
            for view in created:
                with contextlib.suppress(Exception):
                    spark.catalog.dropTempView(view)
        more = len(rows) > max_rows
        rows = rows[:max_rows]
        columns = list(result.columns)
        described = ", ".join(f"{c} {t}" for c, t in result.dtypes[:60])
        count = f"more than {max_rows:,} rows" if more else plural(len(rows), "row")
        lines = [
            f"{count} × {plural(len(columns), 'column')}: {described}",
            f"engine: spark ran it ({group.describe(seconds)})",
        ]
        if rows:
            lines.append(format_table(columns[:60], [r[:60] for r in rows], limit - 400).text)
        if more:
            lines.append(
                f"[first {max_rows:,} rows shown; the total was not counted (that would run "
                "the query again): aggregate or filter in SQL]"
            )
        text = bound_text("\n".join(lines), limit, "select fewer columns or rows")[0]
        return EngineAnswer(text, own_words(list(result.dtypes)))


class _Group:
    def __init__(self, context: Any, group: str) -> None:
        self.context, self.group = context, group

    @property
    def job_ids(self) -> list[int]:
        return sorted(self.context.statusTracker().getJobIdsForGroup(self.group))

    def describe(self, seconds: float) -> str:
        jobs = self.job_ids
        return f"{plural(len(jobs), 'job')} in {seconds:.1f} s, job group {self.group!r}"


@contextlib.contextmanager
def _job_group(frame: Any, description: str) -> Iterator[_Group]:
    """Spark jobs started inside run in one job group, read back by the status tracker."""
    import uuid

    from agent_kernel.tools.user_code import interrupt_pending

    if interrupt_pending():  # Stop was pressed just before: start no job
        raise KeyboardInterrupt
    context = frame.sparkSession.sparkContext
    group = f"agent-kernel-{uuid.uuid4().hex[:8]}"
    context.setJobGroup(group, description)
    interrupted: list[bool] = []

    def on_interrupt(signum: int, stack: Any) -> None:
        # Stop cancels the group's jobs in Spark; the failed call then ends the run. From
        # another thread: this one's py4j connection is in the middle of the waiting call.
        interrupted.append(True)
        threading.Thread(target=context.cancelJobGroup, args=(group,), daemon=True).start()

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if main else None
    try:
        yield _Group(context, group)
    except Exception:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        context.setLocalProperty("spark.jobGroup.id", None)
        context.setLocalProperty("spark.job.description", None)


def _column_line(column: str, dtype: str, stats: dict[str, dict[str, Any]], total: int) -> str:
    present = int(stats["count"].get(column) or 0)
    nulls = total - present
    head = f"{column}: {dtype}, " + (f"{plural(nulls, 'null')}" if nulls else "no nulls")
    shown = [
        (label, stats[key].get(column))
        for label, key in (
            ("min", "min"),
            ("p25", "25%"),
            ("median", "50%"),
            ("p75", "75%"),
            ("max", "max"),
            ("mean", "mean"),
            ("std", "stddev"),
        )
        if stats.get(key, {}).get(column) is not None
    ]
    numbers = ", ".join(f"{label} {_number(value)}" for label, value in shown)
    return f"{head}; {numbers}" if numbers else head


def _number(text: Any) -> str:
    try:
        return format_value(float(text))
    except (TypeError, ValueError):
        return format_value(repr(text), 30)  # a string column's min or max is data


def _create_views(spark: Any, frames: dict[str, Any]) -> list[str]:
    """Temporary views under the variables' names; only those that did not exist are made
    (and dropped afterwards), so a view of the user's own is never replaced."""
    created = []
    for name, frame in frames.items():
        if spark.catalog.tableExists(name):
            continue
        frame.createOrReplaceTempView(name)
        created.append(name)
    return created


def _spark_error(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    first = next((line for line in text if line.strip()), type(exc).__name__)
    return f"Spark: {first[:300]}; check names with describe_dataframe"
