"""describe_dataframe: a compact profile of one pandas, polars or pyarrow table for the model.

Row and null counts are always exact. Quartiles, distinct counts and top values need a sort or
a hash of every value, so on big frames they come from a random sample of rows (fixed seed:
the same frame gives the same answer), and the output says so. Each library is profiled with
its own kernels: on 10 million rows DuckDB's SUMMARIZE took 3.7 s and one DuckDB aggregate pass
0.25-0.36 s, against 0.08 s for the same statistics in polars (benchmarks/bench_tools.py).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent_kernel.tools.base import ToolContext, ToolError, ToolResult, bound_text, tool
from agent_kernel.tools.tables import format_table, format_value, plural, text_of
from agent_kernel.tools.trust import all_names, is_dtype, is_name, is_value
from agent_kernel.tools.variables import frame_kind, lookup_variable, type_name

Kind = Literal["numeric", "bool", "temporal", "text", "other"]

# Frames longer than the sample size are sampled; the sample shrinks for wide frames so the
# work stays near SAMPLE_CELLS values.
MAX_SAMPLE_ROWS = 1_000_000
MIN_SAMPLE_ROWS = 100_000
SAMPLE_CELLS = 8_000_000
# Above this many values (rows × described columns) min/max/mean/std use the sample too.
EXACT_CELLS = 64_000_000
MAX_COLUMNS = 40
HEAD_ROWS = 5
HEAD_COLUMNS = 12
TOP_VALUES = 5
QUARTILES = (0.25, 0.5, 0.75)
MOMENTS = ("min", "max", "mean", "std")


@dataclass
class ColumnProfile:
    """What the model learns about one column; statistics left None were not computed."""

    name: str
    dtype: str
    kind: Kind
    nulls: int = 0
    nans: int = 0
    min: Any = None
    max: Any = None
    mean: Any = None
    std: Any = None
    quartiles: list[Any] | None = None
    true_count: int | None = None
    distinct: int | None = None
    counted: int = 0  # non-null values the distinct count and top values were taken over
    top: list[tuple[Any, int]] = field(default_factory=list)
    failed: bool = False


@dataclass
class Plan:
    """Which rows the costly statistics read: all of them, or sorted random positions."""

    rows: int
    positions: Any = None  # numpy array of row positions, or None for every row
    exact_moments: bool = True

    @property
    def sampled(self) -> bool:
        return self.positions is not None


@dataclass
class Profile:
    columns: list[ColumnProfile]
    head_columns: list[str]
    head_rows: Sequence[Sequence[Any]]


@tool(effects="read", register=False)
def describe_dataframe(
    name: str, columns: list[str] | None = None, *, ctx: ToolContext
) -> ToolResult:
    """Profile a dataframe in the user's session (pandas, polars or pyarrow): exact row count,
    each column's dtype and null count, min/max/mean/std and quartiles for numeric columns,
    distinct count and most common values for text columns, and the first 5 rows.

    Use it before writing code or SQL against a dataframe, to learn its columns and what the
    values look like. Statistics on very large frames come partly from a sample; the output
    says which.

    Args:
        name: The variable name of the dataframe, as shown by list_variables.
        columns: Only describe these columns (useful for wide frames); default all.
    """
    original = lookup_variable(name, ctx)
    kind = frame_kind(original)
    if kind is None:
        raise ToolError(
            f"{name!r} has type {type_name(original)}, not a dataframe; describe_dataframe "
            "reads pandas, polars, pyarrow, Spark and Dask frames. Use run_python to inspect it"
        )
    if kind in ("spark", "dask"):  # statistics computed where the data lives
        from agent_kernel.tools.engines import engine_for

        engine = engine_for(original)
        assert engine is not None
        answer = engine.describe(name, original, columns, ctx.max_result_chars)
        summary = answer.text.split("\n", 1)[0]
        return ToolResult(answer.text, summary=summary, trusted=answer.trusted and is_name(name))
    if kind == "polars.LazyFrame":  # a schema only: names and types, no values
        return ToolResult(_describe_lazy(name, original, ctx.max_result_chars))
    frame, names, rows = _normalise(original, kind)
    selected = _select_columns(names, columns)
    plan = _plan(rows, len(selected))
    profiler = {"pyarrow": _profile_arrow, "polars": _profile_polars}.get(kind, _profile_pandas)
    with warnings.catch_warnings():  # numpy's RuntimeWarnings would land in the user's cell
        warnings.simplefilter("ignore")
        profile = profiler(frame, selected, plan)
    text = _render(f"{name}: {type_name(original)}", plan, names, selected, profile)
    bounded = bound_text(text, ctx.max_result_chars, "pass columns=[...] to describe fewer")[0]
    return ToolResult(
        bounded, summary=bounded.split("\n", 1)[0], trusted=_own_words(name, names, profile)
    )


def _own_words(name: str, names: list[str], profile: Profile) -> bool:
    """Untrusted unless every part is our own words: text cells (top values, sample rows)
    are data, and so are column names, dtypes and index labels that are not plain names,
    numbers or dates (a CSV header, a polars Enum's categories, a label index)."""
    if any(col.kind in ("text", "other") for col in profile.columns):
        return False
    if not (is_name(name) and all_names(names)):
        return False
    if not all(is_dtype(col.dtype) for col in profile.columns):
        return False
    return all(is_value(format_value(row[0])) for row in profile.head_rows) or (
        profile.head_columns[:1] != ["(index)"]
    )


def _normalise(obj: Any, kind: str) -> tuple[Any, list[str], int]:
    """A Series becomes a one-column frame, a RecordBatch a Table; plus column names, rows."""
    if kind == "pandas.Series":
        obj = obj.to_frame(name="value" if obj.name is None else obj.name)
    if kind == "pyarrow":
        import pyarrow as pa

        if isinstance(obj, pa.RecordBatch):
            obj = pa.Table.from_batches([obj])
        return obj, list(obj.column_names), obj.num_rows
    return obj, [text_of(c) for c in obj.columns], len(obj)


def _select_columns(names: list[str], wanted: list[str] | None) -> list[int]:
    """Positions of the columns to describe: the requested ones, else the first MAX_COLUMNS."""
    if not wanted:
        return list(range(min(len(names), MAX_COLUMNS)))
    positions = {n: i for i, n in reversed(list(enumerate(names)))}
    for w in wanted:
        if w not in positions:
            import difflib

            close = difflib.get_close_matches(w, names, n=1)
            hint = f" did you mean {close[0]!r}?" if close else ""
            raise ToolError(f"no column named {w!r};{hint} omit columns to describe them all")
    return [positions[w] for w in wanted[:MAX_COLUMNS]]


def _plan(rows: int, n_columns: int) -> Plan:
    size = max(MIN_SAMPLE_ROWS, min(MAX_SAMPLE_ROWS, SAMPLE_CELLS // max(1, n_columns)))
    if rows <= size:
        return Plan(rows)
    import numpy as np

    # Sorted positions read memory in order; a fixed seed keeps answers stable between calls.
    positions = np.sort(np.random.default_rng(0).choice(rows, size, replace=False))
    return Plan(rows, positions, exact_moments=rows * n_columns <= EXACT_CELLS)


@contextlib.contextmanager
def _best_effort(col: ColumnProfile) -> Iterator[None]:
    """A dtype a kernel does not support loses its statistics, not the whole description."""
    try:
        yield
    except Exception:
        col.failed = True


# --- pandas ----------------------------------------------------------------------------------


def _profile_pandas(df: Any, selected: list[int], plan: Plan) -> Profile:
    columns = []
    for pos in selected:
        s = df.iloc[:, pos]
        col = ColumnProfile(text_of(df.columns[pos]), str(s.dtype), _pandas_kind(s.dtype))
        col.nulls = int(s.isna().sum())
        with _best_effort(col):
            _pandas_statistics(col, s, plan)
        columns.append(col)
    head = df.iloc[:HEAD_ROWS, selected[:HEAD_COLUMNS]]
    names = [text_of(c) for c in head.columns]
    rows: list[Sequence[Any]] = list(head.itertuples(index=False, name=None))
    if type(df.index).__name__ != "RangeIndex":
        names = ["(index)", *names]
        rows = [(i, *r) for i, r in zip(df.index[:HEAD_ROWS], rows, strict=True)]
    return Profile(columns, names, rows)


def _pandas_statistics(col: ColumnProfile, s: Any, plan: Plan) -> None:
    import numpy as np

    if col.kind == "numeric" and isinstance(s.dtype, np.dtype):
        _numpy_numeric(col, s.to_numpy(), plan)
    elif col.kind == "numeric":  # nullable and Arrow-backed dtypes; pandas skips the NAs
        sample = s.take(plan.positions) if plan.sampled else s
        moments = s if plan.exact_moments else sample
        col.min, col.max, col.mean, col.std = (getattr(moments, m)() for m in MOMENTS)
        col.quartiles = sample.quantile(list(QUARTILES)).tolist()
    elif col.kind == "bool":
        col.true_count = int(s.sum())
    elif col.kind == "temporal":
        col.min, col.max = s.min(), s.max()
    elif col.kind == "text":
        sample = s.take(plan.positions) if plan.sampled else s
        _count_values(col, sample, _pandas_value_counts)


def _pandas_kind(dtype: Any) -> Kind:
    from pandas.api import types as pdt

    if pdt.is_bool_dtype(dtype):
        return "bool"
    if pdt.is_numeric_dtype(dtype) and not pdt.is_complex_dtype(dtype):
        return "numeric"
    if pdt.is_datetime64_any_dtype(dtype) or pdt.is_timedelta64_dtype(dtype):
        return "temporal"
    if dtype.name in {"category", "object"} or pdt.is_string_dtype(dtype):
        return "text"
    return "other"


def _pandas_value_counts(values: Any) -> list[tuple[Any, int]]:
    counts = values.value_counts(dropna=True, sort=True)
    counts = counts[counts > 0]  # a categorical lists its unused categories with count 0
    return list(zip(counts.index.tolist(), counts.tolist(), strict=True))


def _numpy_numeric(col: ColumnProfile, values: Any, plan: Plan) -> None:
    import numpy as np

    def present(a: Any) -> Any:
        return a[~np.isnan(a)] if a.dtype.kind == "f" and col.nulls else a

    sample = present(values[plan.positions] if plan.sampled else values)
    moments = present(values) if plan.exact_moments else sample
    if len(moments):
        col.min, col.max, col.mean = moments.min(), moments.max(), moments.mean(dtype="float64")
    if len(moments) > 1:
        # Two-pass variance with a BLAS dot product: 3x faster than ndarray.std on 10M rows.
        deviations = moments - col.mean
        col.std = math.sqrt(float(np.dot(deviations, deviations)) / (len(moments) - 1))
    if len(sample):
        col.quartiles = np.quantile(sample, QUARTILES).tolist()


# --- polars ----------------------------------------------------------------------------------


def _profile_polars(df: Any, selected: list[int], plan: Plan) -> Profile:
    import polars as pl

    names = [df.columns[i] for i in selected]
    frame = df.select(names)
    nulls = frame.null_count().row(0)
    columns = [
        ColumnProfile(n, str(df.schema[n]), _polars_kind(df.schema[n]), nulls[i])
        for i, n in enumerate(names)
    ]

    def values(i: int) -> Any:  # NaN is not null in polars; the statistics skip both
        expr = pl.col(names[i])
        return expr.fill_nan(None) if df.schema[names[i]].is_float() else expr

    def moments(i: int) -> list[Any]:
        return [getattr(values(i), m)().alias(f"{i}:{m}") for m in MOMENTS]

    exact: list[Any] = []
    for i, col in enumerate(columns):
        if col.kind == "numeric" and plan.exact_moments:
            exact += moments(i)
        if col.kind == "numeric" and df.schema[col.name].is_float():
            exact.append(pl.col(col.name).is_nan().sum().alias(f"{i}:nans"))
        if col.kind == "bool":
            exact.append(pl.col(col.name).sum().alias(f"{i}:true_count"))
        if col.kind == "temporal":
            exact += [getattr(pl.col(col.name), m)().alias(f"{i}:{m}") for m in ("min", "max")]
    _assign(columns, _select_row(frame, exact))

    sample = frame[plan.positions] if plan.sampled else frame
    from_sample: list[Any] = []
    for i, col in enumerate(columns):
        if col.kind == "numeric":
            from_sample += [values(i).quantile(q, "linear").alias(f"{i}:q{q}") for q in QUARTILES]
            if not plan.exact_moments:
                from_sample += moments(i)
        elif col.kind == "text":
            with _best_effort(col):
                _count_values(col, sample[col.name], _polars_value_counts)
    stats = _select_row(sample, from_sample)
    for i, col in enumerate(columns):
        quartiles = [stats.pop(f"{i}:q{q}", None) for q in QUARTILES]
        if any(q is not None for q in quartiles):
            col.quartiles = quartiles
    _assign(columns, stats)
    head = frame.select(names[:HEAD_COLUMNS]).head(HEAD_ROWS)
    return Profile(columns, head.columns, head.rows())


def _select_row(frame: Any, exprs: list[Any]) -> dict[str, Any]:
    """One row of aggregates in one parallel pass, or expression by expression if a dtype
    does not support one of them."""
    if not exprs:
        return {}
    try:
        row: dict[str, Any] = frame.select(exprs).row(0, named=True)
        return row
    except Exception:
        row = {}
        for expr in exprs:
            with contextlib.suppress(Exception):
                row.update(frame.select(expr).row(0, named=True))
        return row


def _assign(columns: list[ColumnProfile], stats: dict[str, Any]) -> None:
    """Set `"{position}:{attribute}"` results on the column profiles."""
    for key, value in stats.items():
        i, attribute = key.split(":", 1)
        setattr(columns[int(i)], attribute, value)


def _polars_kind(dtype: Any) -> Kind:
    import polars as pl

    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_numeric():
        return "numeric"
    if dtype.is_temporal():
        return "temporal"
    if dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "text"
    return "other"


def _polars_value_counts(values: Any) -> list[tuple[Any, int]]:
    counts = values.drop_nulls().rename("value").value_counts(sort=True)
    return [(v, int(n)) for v, n in counts.rows()]


# --- pyarrow ---------------------------------------------------------------------------------


def _profile_arrow(table: Any, selected: list[int], plan: Plan) -> Profile:
    columns = []
    for pos in selected:
        data, arrow_field = table.column(pos), table.schema.field(pos)
        col = ColumnProfile(arrow_field.name, str(arrow_field.type), _arrow_kind(arrow_field.type))
        col.nulls = data.null_count
        with _best_effort(col):
            _arrow_statistics(col, data, plan)
        columns.append(col)
    head = table.select(selected[:HEAD_COLUMNS]).slice(0, HEAD_ROWS)
    values = (c.to_pylist() for c in head.columns)
    rows = list(zip(*values, strict=True)) if head.num_columns else []
    return Profile(columns, head.column_names, rows)


def _arrow_statistics(col: ColumnProfile, data: Any, plan: Plan) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    sample = data.take(plan.positions) if plan.sampled else data
    if col.kind == "numeric":
        if pa.types.is_floating(data.type):
            col.nans = pc.sum(pc.is_nan(data)).as_py() or 0
            if col.nans:  # NaN is not null in Arrow; the statistics skip both
                data, sample = (pc.filter(a, pc.invert(pc.is_nan(a))) for a in (data, sample))
        moments = data if plan.exact_moments else sample
        extremes = pc.min_max(moments)
        col.min, col.max = extremes["min"].as_py(), extremes["max"].as_py()
        with contextlib.suppress(pa.ArrowNotImplementedError):  # decimals
            col.mean = pc.mean(moments).as_py()
            col.std = pc.stddev(moments, ddof=1).as_py()
            col.quartiles = pc.quantile(sample, q=list(QUARTILES)).to_pylist()
    elif col.kind == "bool":
        col.true_count = pc.sum(data).as_py() or 0
    elif col.kind == "temporal":
        extremes = pc.min_max(data)
        col.min, col.max = extremes["min"].as_py(), extremes["max"].as_py()
    elif col.kind == "text":
        _count_values(col, sample, _arrow_value_counts)


def _arrow_kind(dtype: Any) -> Kind:
    from pyarrow import types as pat

    if pat.is_boolean(dtype):
        return "bool"
    if pat.is_integer(dtype) or pat.is_floating(dtype) or pat.is_decimal(dtype):
        return "numeric"
    if pat.is_temporal(dtype):
        return "temporal"
    if pat.is_dictionary(dtype) or pat.is_string(dtype) or pat.is_large_string(dtype):
        return "text"
    if getattr(pat, "is_string_view", lambda _: False)(dtype):
        return "text"
    return "other"


def _arrow_value_counts(values: Any) -> list[tuple[Any, int]]:
    import pyarrow.compute as pc

    counts = pc.value_counts(values)
    pairs = zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    return sorted(((v, n) for v, n in pairs if v is not None), key=lambda p: -p[1])


# --- shared ----------------------------------------------------------------------------------


def _count_values(
    col: ColumnProfile, values: Any, counter: Callable[[Any], list[tuple[Any, int]]]
) -> None:
    """Distinct count and most common values of `values` (the whole column or its sample)."""
    try:
        counts = counter(values)
    except TypeError:  # unhashable objects such as lists or dicts
        return
    col.distinct = len(counts)
    col.counted = sum(n for _, n in counts)
    if counts and counts[0][1] > 1:
        col.top = counts[:TOP_VALUES]


def _render(title: str, plan: Plan, names: list[str], selected: list[int], profile: Profile) -> str:
    lines = [f"{title}, {plural(plan.rows, 'row')} × {plural(len(names), 'column')}"]
    if plan.sampled:
        lines.append(_sample_note(plan))
    lines.append("columns:" if profile.columns else "columns: none")
    lines += [f"- {_column_line(c, plan)}" for c in profile.columns]
    if len(selected) < len(names):
        shown = set(selected)
        rest = [n for i, n in enumerate(names) if i not in shown]
        listed = ", ".join(rest[:60]) + (", …" if len(rest) > 60 else "")
        lines.append(
            f"[{plural(len(rest), 'more column')} not described: {listed}; "
            "pass columns=[...] to describe them]"
        )
    if profile.head_rows and profile.head_columns:
        lines.append(f"first {plural(len(profile.head_rows), 'row')}:")
        lines.append(format_table(profile.head_columns, profile.head_rows).text)
        hidden = len(selected) - len(profile.head_columns)
        if hidden > 0:
            lines.append(f"[{plural(hidden, 'more column')} not shown in the rows]")
    return "\n".join(lines)


def _sample_note(plan: Plan) -> str:
    size = len(plan.positions)
    if plan.exact_moments:
        return (
            f"note: quartiles, distinct counts and top values are from a {size:,}-row random "
            "sample; row counts, nulls, min/max/mean/std are exact"
        )
    return (
        f"note: min/max/mean/std, quartiles, distinct counts and top values are from a "
        f"{size:,}-row random sample; row and null counts are exact"
    )


def _column_line(col: ColumnProfile, plan: Plan) -> str:
    rows = plan.rows
    head = f"{col.name}: {col.dtype}, "
    head += f"{plural(col.nulls, 'null')} ({_pct(col.nulls, rows)})" if col.nulls else "no nulls"
    if col.nans:
        head += f", {col.nans:,} NaN"
    stats = _statistics_text(col, plan)
    if col.failed and not stats:
        stats = "statistics not available for this dtype"
    return f"{head}; {stats}" if stats else head


def _statistics_text(col: ColumnProfile, plan: Plan) -> str:
    if col.kind == "numeric":
        q = col.quartiles or [None, None, None]
        named = [("min", col.min), ("p25", q[0]), ("median", q[1]), ("p75", q[2])]
        named += [("max", col.max), ("mean", col.mean), ("std", col.std)]
        return ", ".join(f"{label} {format_value(v)}" for label, v in named if v is not None)
    if col.kind == "temporal" and col.min is not None:
        return f"min {format_value(col.min)}, max {format_value(col.max)}"
    if col.kind == "bool" and col.true_count is not None:
        false_count = plan.rows - col.nulls - col.true_count
        return (
            f"true {col.true_count:,} ({_pct(col.true_count, plan.rows)}), "
            f"false {false_count:,} ({_pct(false_count, plan.rows)})"
        )
    if col.kind == "text" and col.distinct is not None:
        text = _distinct_text(col, plan.sampled)
        if col.top:
            text += "; top " + ", ".join(f"{_short(v)} {_pct(n, col.counted)}" for v, n in col.top)
        return text
    return ""


def _distinct_text(col: ColumnProfile, sampled: bool) -> str:
    if col.distinct and col.distinct == col.counted and col.counted > 1:
        return f"all {col.distinct:,} {'sampled ' if sampled else ''}values distinct"
    return f"{col.distinct:,} distinct" + (" in sample" if sampled else "")


def _short(value: Any) -> str:
    return format_value(repr(value) if type(value) is str else value, 30)


def _pct(part: int, whole: int) -> str:
    if not whole:
        return "0%"
    share = 100 * part / whole
    return f"{share:.1f}%" if share >= 0.1 or share == 0 else "<0.1%"


def _describe_lazy(name: str, frame: Any, limit: int) -> str:
    try:
        schema = frame.collect_schema()
    except Exception as exc:  # resolving a scan's schema can fail (missing file, bad plan)
        raise ToolError(f"could not resolve the schema of LazyFrame {name!r}: {exc}") from None
    lines = [
        f"{name}: polars.LazyFrame, {plural(len(schema), 'column')}; it is lazy, so rows were "
        "not computed and only the schema is shown. Query it with sql, or collect it with "
        "run_python to see values.",
        "columns:",
        *(f"- {column}: {dtype}" for column, dtype in schema.items()),
    ]
    return bound_text("\n".join(lines), limit, "query the columns you need with sql")[0]
