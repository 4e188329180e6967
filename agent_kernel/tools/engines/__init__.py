"""Engines behind the data tools: who does the work for a variable, chosen by its type.

Every engine answers the same contract for `list_variables`, `describe_dataframe` and `sql`:
- schema: column names and dtypes, from metadata only;
- row count: when it is known without running a job (`None` otherwise);
- bounded sample: the first few rows, never more;
- summary statistics: computed by the engine where the data lives;
- SQL: run by the engine, or refused in one line that names the alternative.

The local engines (pandas, polars, pyarrow, DuckDB relations) keep the data in the kernel;
they are profiled by `dataframes.py` and queried through DuckDB by `sql.py`. The distributed
engines (PySpark, Dask) keep it in the JVM or the workers: their adapters push every statistic
and query down to the engine and bring back only small results, so a frame is never
materialised in the kernel. Engines are recognised by class name along the MRO, so nothing
here imports pyspark or dask until a variable of theirs is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

# (top-level package, class name) -> engine name, matched along the MRO.
DISTRIBUTED_CLASSES = {
    ("pyspark", "DataFrame"): "spark",  # classic and Spark Connect DataFrames
    ("dask", "DataFrame"): "dask",
    ("dask_expr", "DataFrame"): "dask",
}


@dataclass
class Listing:
    """What list_variables shows for a frame: size, engine, partitions, row count if cheap."""

    engine: str
    columns: int
    rows: int | None  # None: counting needs a job
    partitions: int | None = None

    def size_text(self) -> str:
        """`3 columns, 4 partitions`, with the row count first when it is known."""
        from agent_kernel.tools.tables import plural

        text = plural(self.columns, "column")
        if self.rows is not None:
            text = f"{plural(self.rows, 'row')} × {text}"
        if self.partitions is not None:
            text += f", {plural(self.partitions, 'partition')}"
        return text

    def engine_text(self) -> str:
        """`spark: count needs a job`: which engine holds it, and what a row count costs."""
        return self.engine + ("" if self.rows is not None else ": count needs a job")


@dataclass
class EngineAnswer:
    """A describe or sql result: the text, and whether every part is our own words (plain
    column names, non-text types; see tools/trust.py)."""

    text: str
    trusted: bool


class DistributedEngine(Protocol):
    """The adapter contract for an engine whose data lives outside the kernel."""

    name: str

    def listing(self, frame: Any) -> Listing: ...

    def describe(
        self, name: str, frame: Any, columns: list[str] | None, limit: int
    ) -> EngineAnswer: ...

    def sql(
        self, query: str, frames: dict[str, Any], max_rows: int, limit: int
    ) -> EngineAnswer: ...


_TEXT_TYPES = ("string", "str", "object", "category", "binary", "map", "struct", "array")


def own_words(schema: list[tuple[str, str]]) -> bool:
    """True when column names are plain names and no column holds text (so values shown
    are numbers, booleans or dates)."""
    from agent_kernel.tools.trust import is_dtype, is_name

    return all(
        is_name(name) and is_dtype(dtype) and not dtype.lower().startswith(_TEXT_TYPES)
        for name, dtype in schema
    )


def distributed_kind(obj: Any) -> str | None:
    """`spark` or `dask` when `obj` is such a DataFrame, else None (no import needed)."""
    for cls in type(obj).__mro__:
        kind = DISTRIBUTED_CLASSES.get((cls.__module__.partition(".")[0], cls.__name__))
        if kind is not None:
            return kind
    return None


def engine_for(obj: Any) -> DistributedEngine | None:
    """The adapter for a distributed frame, or None for local data."""
    kind = distributed_kind(obj)
    if kind == "spark":
        from agent_kernel.tools.engines.spark import SparkEngine

        return SparkEngine()
    if kind == "dask":
        from agent_kernel.tools.engines.dask import DaskEngine

        return DaskEngine()
    return None


def select_columns(names: list[str], wanted: list[str] | None, limit: int) -> list[str]:
    """The columns to describe: those asked for (each must exist), else the first `limit`."""
    from agent_kernel.tools.base import ToolError

    if not wanted:
        return names[:limit]
    missing = [w for w in wanted if w not in names]
    if missing:
        raise ToolError(f"no column named {missing[0]!r}; omit columns to describe them all")
    return wanted[:limit]
