"""The sql tool: read-only DuckDB SQL over the kernel's dataframes, addressed by variable name.

Each call gets a fresh in-memory connection with only the dataframes the query names
registered, file and network access switched off, and the configuration locked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_kernel.tools.base import ToolContext, ToolError, ToolResult, bound_text, tool
from agent_kernel.tools.engines import EngineAnswer
from agent_kernel.tools.tables import format_table, plural
from agent_kernel.tools.trust import all_names
from agent_kernel.tools.variables import frame_kind, type_name, unknown_name_error

DEFAULT_ROWS = 50
MAX_ROWS = 500
MAX_SQL_COLUMNS = 1_000  # widest frame a query may read
MAX_SHOWN_COLUMNS = 60  # widest result shown; the rest are counted
_BATCH_ROWS = 65_536
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_EXPLAIN = re.compile(r"^\s*explain\s+(?:analy[sz]e\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)
_MISSING_TABLE = re.compile(r"Table with name (\S+) does not exist")
_NON_TEXT_TYPE = re.compile(
    r"^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL(\(\d+,\s*\d+\))?"
    r"|BOOLEAN|DATE|TIME.*|TIMESTAMP.*|INTERVAL)(\[\])?$"
)
_NAMES_HINT = "call list_variables or describe_dataframe to check table and column names"
_INVALID_TEXT_HINT = (
    "replace the invalid characters with run_python first, e.g. "
    "`s.str.encode('utf-8', 'replace').str.decode('utf-8')` for a column, or the same on "
    "`df.columns`; describe_dataframe reads it as it is"
)


@dataclass
class QueryResult:
    """A query's outcome, for the model as text and for a UI as data."""

    query: str
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]  # the first rows, at most the max_rows asked for
    total_rows: int
    tables: list[str] = field(default_factory=list)  # the variables the query could read

    def to_text(self, max_chars: int = 8000, note: str = "") -> str:
        """Column names and types, the rows as a table, and how many rows there are in all."""
        if self.columns == ["explain_key", "explain_value"]:
            # A plan is only readable whole, so it is not cut into table cells.
            plans = "\n".join(str(value) for _, value in self.rows)
            return bound_text(plans, max_chars, "EXPLAIN a smaller query")[0]
        shown = min(len(self.columns), MAX_SHOWN_COLUMNS)
        pairs = zip(self.columns[:shown], self.types[:shown], strict=True)
        described = ", ".join(f"{c} {t}" for c, t in pairs)
        head = f"{plural(self.total_rows, 'row')} × {plural(len(self.columns), 'column')}"
        lines = [f"{head}: {described}"]
        if shown < len(self.columns):
            lines[0] += f" [and {len(self.columns) - shown:,} more columns; select fewer]"
        if not self.rows:
            return bound_text("\n".join([*lines, note] if note else lines), max_chars)[0]
        rows = [row[:shown] for row in self.rows]
        table = format_table(self.columns[:shown], rows, max_chars - len(lines[0]) - 300)
        lines.append(table.text)
        if table.rows_shown < self.total_rows:
            why = " (output size limit)" if table.rows_shown < len(self.rows) else ""
            lines.append(
                f"[first {table.rows_shown:,} of {self.total_rows:,} rows shown{why}; "
                f"aggregate or filter in SQL, or raise max_rows (up to {MAX_ROWS})]"
            )
        if note:
            lines.append(note)
        return bound_text("\n".join(lines), max_chars, "select fewer columns or rows")[0]


@tool(effects="read", runs_code=True, register=False)
def sql(query: str, max_rows: int = DEFAULT_ROWS, *, ctx: ToolContext) -> ToolResult:
    """Run one read-only DuckDB SQL query over the user's dataframes and return the result
    as a table with its total row count and column types.

    Refer to pandas, polars and pyarrow dataframes by their variable names, as tables
    (`SELECT region, sum(revenue) FROM sales GROUP BY region`). Prefer it to Python for
    aggregating, filtering, joining and counting. Only SELECT-style statements (including
    WITH, EXPLAIN, DESCRIBE and SUMMARIZE) run; files and URLs cannot be read.

    Args:
        query: One DuckDB SQL statement.
        max_rows: At most this many result rows are shown (up to 500); the total count is
            always given.
    """
    note = ""
    if not 0 <= max_rows <= MAX_ROWS:
        note = f"[max_rows is between 0 and {MAX_ROWS}; used {min(max(max_rows, 0), MAX_ROWS)}]"
        max_rows = min(max(max_rows, 0), MAX_ROWS)
    distributed = _distributed_answer(query, ctx, max_rows)
    if distributed is not None:
        text = f"{distributed.text}\n{note}" if note else distributed.text
        return ToolResult(text, summary=text.split("\n", 1)[0], trusted=distributed.trusted)
    result = run_query(query, ctx.user_ns, max_rows)
    text = result.to_text(ctx.max_result_chars, note)
    # Numbers, dates and booleans carry no instructions; text columns may, and so may
    # column names (a CSV header) that are not short identifiers.
    trusted = all(_NON_TEXT_TYPE.match(t) for t in result.types) and all_names(result.columns)
    return ToolResult(text, summary=text.split("\n", 1)[0], trusted=trusted)


def _distributed_answer(query: str, ctx: ToolContext, max_rows: int) -> EngineAnswer | None:
    """The answer of the engine that holds the frames the query names, when they are Spark or
    Dask frames; None for local data (DuckDB runs it). Mixing engines in one query is refused:
    it would mean moving one side's data to the other."""
    from agent_kernel.tools.engines import engine_for

    frames = referenced_frames(query, ctx.user_ns)
    kinds = {name: frame_kind(frame) or "" for name, frame in frames.items()}
    remote = {name: kind for name, kind in kinds.items() if kind in ("spark", "dask")}
    if not remote:
        return None
    if len(set(kinds.values())) > 1:
        listed = ", ".join(f"{name} ({kind})" for name, kind in sorted(kinds.items()))
        raise ToolError(
            f"one query cannot join frames of different engines: {listed}. Bring the small "
            "side to the big one first with run_python, e.g. spark.createDataFrame(small_pdf) "
            "for Spark, or query a bounded part as pandas (big.limit(1000).toPandas())"
        )
    engine = engine_for(next(iter(frames.values())))
    assert engine is not None
    return engine.sql(query, frames, max_rows, ctx.max_result_chars)


def run_query(
    query: str, namespace: Mapping[str, Any], max_rows: int = DEFAULT_ROWS
) -> QueryResult:
    """Check that `query` only reads, run it once over the dataframes it names, and return
    the first `max_rows` rows with the total count. Raises ToolError on any failure."""
    import duckdb

    con = duckdb.connect()
    try:
        _check_read_only(con, query)
        frames = referenced_frames(query, namespace)
        for name, frame in frames.items():
            _check_width(name, frame)
            _check_column_names(name, frame)
            con.register(name, frame)
        # After registering: from here on the query can reach nothing but those views.
        for setting in (
            "python_enable_replacements = false",
            "enable_external_access = false",
            "lock_configuration = true",
        ):
            con.execute(f"SET {setting}")
        try:
            relation = con.sql(query)
            columns, types = list(relation.columns), [str(t) for t in relation.types]
            rows, total = _fetch(con, relation, query, max_rows)
        except duckdb.Error as exc:
            raise _query_error(exc, namespace) from None
        return QueryResult(query, columns, types, rows, total, sorted(frames))
    finally:
        con.close()


def referenced_frames(query: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The dataframes in `namespace` whose names appear as words in `query`.

    SQL names are case-insensitive, so `Sales` finds `sales`; when two variables differ only
    in case, the spelling used in the query wins.
    """
    words = set(_IDENTIFIER.findall(query))
    lowered = {w.lower() for w in words}
    found: dict[str, tuple[str, Any]] = {}
    for name, value in namespace.items():
        key = name.lower()
        if key not in lowered or frame_kind(value) is None:
            continue
        if key not in found or name in words:
            found[key] = (name, value)
    return dict(found.values())


def _check_read_only(con: Any, query: str) -> None:
    import duckdb

    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise ToolError(f"{_one_line(exc)}; check the SQL syntax (DuckDB dialect)") from None
    if not statements:
        raise ToolError("the query is empty; send one SELECT statement")
    if len(statements) > 1:
        raise ToolError(
            f"send exactly one SQL statement per call; this query has {len(statements)}"
        )
    statement = statements[0]
    if statement.type == duckdb.StatementType.SELECT:
        return
    if statement.type == duckdb.StatementType.EXPLAIN:
        # EXPLAIN ANALYZE runs its statement, so what it explains must be a read too.
        inner = _EXPLAIN.sub("", statement.query, count=1)
        if inner != statement.query:
            _check_read_only(con, inner)
            return
    if statement.type == duckdb.StatementType.MULTI and "pivot" in query.lower():
        # A PIVOT without an IN list first creates an enum type, which is a write.
        raise ToolError(
            "this PIVOT needs its values listed to run read-only: write "
            "PIVOT t ON col IN ('a', 'b') USING sum(x)"
        )
    raise ToolError(
        f"only read-only queries run here (SELECT, WITH ... SELECT, EXPLAIN, DESCRIBE, "
        f"SUMMARIZE); this is a {statement.type.name} statement. Use run_python to change data"
    )


def _fetch(con: Any, relation: Any, query: str, max_rows: int) -> tuple[list[tuple[Any, ...]], int]:
    """Read the result once: keep the first `max_rows` rows, count the rest."""
    rows: list[tuple[Any, ...]] = []
    total = 0
    try:
        import pyarrow  # noqa: F401  # the streaming reader hands out pyarrow batches
    except ImportError:
        con.execute(query)
        rows = [tuple(r) for r in con.fetchmany(max_rows)] if max_rows else []
        total = len(rows)
        while len(chunk := con.fetch_df_chunk(16)):
            total += len(chunk)
        return rows, total
    for batch in relation.to_arrow_reader(_BATCH_ROWS):
        if len(rows) < max_rows:
            part = batch.slice(0, max_rows - len(rows))
            rows += zip(*(column.to_pylist() for column in part.columns), strict=True)
        total += batch.num_rows
    return rows, total


def _query_error(exc: Exception, namespace: Mapping[str, Any]) -> ToolError:
    import duckdb

    message = _one_line(exc)
    missing = _MISSING_TABLE.search(message)
    if isinstance(exc, duckdb.CatalogException) and missing:
        name = missing.group(1).strip("\"'")
        value = namespace.get(name)
        if value is not None:
            return ToolError(
                f"{name!r} has type {type_name(value)}, not a dataframe; sql queries pandas, "
                "polars and pyarrow tables"
            )
        frames = [n for n, v in namespace.items() if frame_kind(v) is not None]
        return unknown_name_error(name, frames, "dataframe")
    if isinstance(exc, duckdb.PermissionException):
        return ToolError(
            f"{message}; sql reads only the kernel's dataframes, not files or URLs "
            "(load a file with run_python first)",
            trusted=False,
        )
    if isinstance(exc, (duckdb.CatalogException, duckdb.BinderException)):
        return ToolError(f"{message}; {_NAMES_HINT}", trusted=False)
    if "cannot encode str as UTF-8" in message:
        return ToolError(f"{message}; {_INVALID_TEXT_HINT}", trusted=False)
    # DuckDB's messages echo values and column names, which come from the data.
    return ToolError(message, trusted=False)


def _check_width(name: str, frame: Any) -> None:
    """DuckDB's scan of a pandas frame slows down with its width (measured: 8.7 s to register
    20,000 columns, each query as long again), so very wide frames are refused up front."""
    width = frame_width(frame)
    if width > MAX_SQL_COLUMNS:
        raise ToolError(
            f"{name!r} has {width:,} columns; sql reads frames of up to {MAX_SQL_COLUMNS:,} "
            f"columns. Select the columns you need with run_python first (e.g. "
            f"{name}_part = {name}[[...]]), or use describe_dataframe with columns=[...]"
        )


def frame_width(frame: Any) -> int:
    """How many columns a frame has, without resolving anything lazy."""
    for attribute in ("num_columns", "width"):
        value = getattr(frame, attribute, None)
        if isinstance(value, int):
            return value
    shape = getattr(frame, "shape", None)
    if isinstance(shape, tuple) and len(shape) == 2:
        return int(shape[1])
    return 1  # a Series, or a lazy frame whose schema is resolved only by DuckDB


def _check_column_names(name: str, frame: Any) -> None:
    """DuckDB fails with `std::bad_cast` on a column name that is not valid UTF-8."""
    from agent_kernel.text import is_valid

    if frame_kind(frame) != "pandas":  # Arrow and polars hold valid UTF-8 by construction
        return
    if not all(is_valid(str(c)) for c in frame.columns):
        raise ToolError(
            f"column names of {name!r} are not valid UTF-8 (lone surrogates), which DuckDB "
            f"cannot read; {_INVALID_TEXT_HINT}"
        )


def _one_line(exc: Exception) -> str:
    """DuckDB's message without the echoed query and caret lines, on one line."""
    lines = [line.strip() for line in str(exc).splitlines()]
    kept = [
        line for line in lines if line and not line.startswith("LINE ") and set(line) - {"^", " "}
    ]
    return " ".join(kept)
