"""The Dask adapter: statistics by Dask's own `describe()` and reductions, computed by the
scheduler the user set up (a `distributed` cluster or the local threads); only the small
results come back. SQL is refused: dask-sql's last release lags Dask's and pins old versions
of it, too heavy a dependency for a query layer, so the message names Dask's own API instead.

describe computes, in one `dask.compute` call (one pass over the partitions): `describe()` of
the numeric columns, the row count and null counts, and the first rows of the first partition.
"""

from __future__ import annotations

import time
from typing import Any

from agent_kernel.tools.base import ToolError, bound_text
from agent_kernel.tools.engines import EngineAnswer, Listing, own_words, select_columns
from agent_kernel.tools.interruptible import interruptible
from agent_kernel.tools.tables import format_table, format_value, plural

MAX_COLUMNS = 40
SAMPLE_ROWS = 5
_STATISTICS = (
    ("min", "min"),
    ("p25", "25%"),
    ("median", "50%"),
    ("p75", "75%"),
    ("max", "max"),
    ("mean", "mean"),
    ("std", "std"),
)


class DaskEngine:
    name = "dask"

    def listing(self, frame: Any) -> Listing:
        # Divisions are known without computing, row counts are not.
        return Listing("dask", len(frame.columns), None, frame.npartitions)

    def describe(
        self, name: str, frame: Any, columns: list[str] | None, limit: int
    ) -> EngineAnswer:
        import dask

        names = [str(c) for c in frame.columns]
        selected = select_columns(names, columns, MAX_COLUMNS)
        part = frame[selected]
        numeric = part.select_dtypes(include="number")
        started = time.perf_counter()
        lazy = [
            part.map_partitions(len).sum(),
            part.isna().sum(),
            part.head(SAMPLE_ROWS, compute=False),
        ]
        if len(numeric.columns):
            lazy.append(numeric.describe())
        with interruptible():  # Stop raises KeyboardInterrupt; the client releases the work
            computed = dask.compute(*lazy)
        seconds = time.perf_counter() - started
        rows, nulls, head = int(computed[0]), computed[1], computed[2]
        stats = computed[3] if len(computed) > 3 else None
        lines = [
            f"{name}: dask.dataframe.DataFrame, {plural(rows, 'row')} × "
            f"{plural(len(names), 'column')}, {plural(frame.npartitions, 'partition')}",
            f"engine: dask ran it ({_scheduler()}, {seconds:.1f} s); statistics from Dask's "
            "describe(): quartiles are Dask's approximate percentiles",
            "columns:",
        ]
        for column in selected:
            dtype = str(frame[column].dtype)
            missing = int(nulls[column])
            line = f"{column}: {dtype}, " + (plural(missing, "null") if missing else "no nulls")
            if stats is not None and column in stats.columns:
                values = stats[column]
                shown = [(label, values.get(key)) for label, key in _STATISTICS]
                line += "; " + ", ".join(
                    f"{label} {format_value(v)}" for label, v in shown if v is not None
                )
            lines.append("- " + line)
        if len(names) > len(selected):
            rest = len(names) - len(selected)
            lines.append(f"[{plural(rest, 'more column')} not described; pass columns=[...]]")
        lines.append(f"first {plural(len(head), 'row')}:")
        shown_columns = selected[:12]
        sample = list(head[shown_columns].itertuples(index=False, name=None))
        lines.append(format_table(shown_columns, sample).text)
        text = bound_text("\n".join(lines), limit, "pass columns=[...] to describe fewer")[0]
        schema = [(str(c), str(t)) for c, t in frame.dtypes.items()]
        return EngineAnswer(text, own_words(schema))

    def sql(self, query: str, frames: dict[str, Any], max_rows: int, limit: int) -> EngineAnswer:
        names = ", ".join(sorted(frames))
        raise ToolError(
            f"sql does not run on Dask frames ({names}); use run_python with Dask's own API, "
            "e.g. df.groupby('key').value.sum().compute(), or bring a small part to pandas "
            "with df.head(1000) and query that"
        )


def _scheduler() -> str:
    """Which scheduler ran the work: a distributed client's address, or local threads."""
    try:
        from distributed import default_client

        client = default_client()
        return f"distributed scheduler at {client.scheduler.address}"
    except (ImportError, ValueError):
        return "local threads"
