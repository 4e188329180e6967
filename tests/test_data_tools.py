"""The read-only data tools on real pandas, polars and pyarrow frames and a real DuckDB."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import types
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from agent_kernel.tools.base import Tool, ToolContext, ToolError, ToolResult
from agent_kernel.tools.dataframes import describe_dataframe
from agent_kernel.tools.sql import run_query, sql
from agent_kernel.tools.tables import format_table, format_value
from agent_kernel.tools.variables import list_variables

REGIONS = ["north", "south", "east", "west"]


def call(t: Tool, ctx: ToolContext, **arguments: Any) -> str:
    """The text the model reads from a call."""
    result = asyncio.run(t.call(arguments, ctx))
    return result.content if isinstance(result, ToolResult) else result


def sales_pandas(rows: int = 1000) -> pd.DataFrame:
    """West sells the most: every region sells 10 a row, west 12."""
    region = [REGIONS[i % 4] for i in range(rows)]
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "region": region,
            "revenue": [12.0 if r == "west" else 10.0 for r in region],
            "date": pd.date_range("2024-01-01", periods=rows, freq="h"),
            "discount": [None if i % 10 == 0 else i / rows for i in range(rows)],
        }
    )


def as_library(df: pd.DataFrame, library: str) -> Any:
    if library == "polars":
        return pl.from_pandas(df)
    if library == "pyarrow":
        return pa.Table.from_pandas(df, preserve_index=False)
    return df


LIBRARIES = ["pandas", "polars", "pyarrow"]


# --- schemas ---------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("t", [list_variables, describe_dataframe, sql])
def test_schema_is_a_read_only_function_without_the_context(t: Tool) -> None:
    schema = t.openai_schema()
    assert schema["type"] == "function"
    function = schema["function"]
    assert function["name"] == t.name
    assert len(function["description"]) > 60
    assert "Args:" not in function["description"]
    assert function["parameters"]["type"] == "object"
    assert "ctx" not in function["parameters"]["properties"]
    assert t.effects == ("read",)


@pytest.mark.unit
def test_schema_arguments() -> None:
    describe = describe_dataframe.openai_schema()["function"]["parameters"]
    assert describe["required"] == ["name"]
    assert describe["properties"]["name"]["description"]
    query = sql.openai_schema()["function"]["parameters"]
    assert query["required"] == ["query"]
    assert query["properties"]["max_rows"]["default"] == 50
    assert list_variables.openai_schema()["function"]["parameters"]["properties"] == {}


# --- list_variables --------------------------------------------------------------------------


class Untouchable:
    """Any attempt to size or print it would be expensive work."""

    def __len__(self) -> int:
        raise AssertionError("len() called")

    def __repr__(self) -> str:
        raise AssertionError("repr() called")


@pytest.mark.unit
def test_list_variables_shows_data_and_hides_the_rest() -> None:
    internal = object()
    shell = types.SimpleNamespace(user_ns_hidden={"injected": internal})
    ns = {
        "total": 42,
        "title": "Q3 report",
        "sales": sales_pandas(100),
        "lazy": pl.LazyFrame({"a": [1, 2]}),
        "table": pa.table({"x": [1, 2, 3]}),
        "matrix": np.zeros((3, 4)),
        "regions": ["north", "south"],
        "thing": Untouchable(),
        "_private": 1,
        "os": os,
        "helper": lambda x: x,
        "Model": type("Model", (), {}),
        "injected": internal,
        "In": [],
        "Out": {},
        "get_ipython": lambda: None,
    }
    text = call(list_variables, ToolContext(user_ns=ns, shell=shell))
    names = [line.split("|")[1].strip() for line in text.splitlines()[3:]]
    assert names == ["lazy", "sales", "table", "matrix", "regions", "thing", "title", "total"]
    assert "100 rows × 5 columns" in text
    assert "rows not computed" in text
    assert "shape (3, 4)" in text
    assert "| 42 " in text and "'Q3 report'" in text and "['north', 'south']" in text
    assert "Untouchable" in text
    for hidden in ("_private", "os", "helper", "Model", "injected", "get_ipython"):
        assert f"| {hidden} " not in text


@pytest.mark.unit
def test_list_variables_in_a_real_ipython_namespace() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    internals = {name: value for name, value in ip.user_ns.items() if name in ip.user_ns_hidden}
    assert {"In", "Out", "exit", "get_ipython"} <= set(internals)
    ns = {**internals, "revenue": pd.Series([1.0, 2.0])}
    text = call(list_variables, ToolContext(user_ns=ns, shell=ip))
    assert text.splitlines()[0] == "1 variable (1 dataframe listed first):"
    assert "pandas.Series[float64]" in text


@pytest.mark.unit
def test_list_variables_when_there_are_none() -> None:
    text = call(list_variables, ToolContext(user_ns={"_": None, "os": os}))
    assert "no variables" in text


@pytest.mark.unit
def test_list_variables_is_bounded() -> None:
    ns = {f"value_{i:03d}": i for i in range(500)}
    text = call(list_variables, ToolContext(user_ns=ns, max_result_chars=1500))
    assert len(text) <= 1500
    assert "more variables not shown" in text


def test_type_checks_import_no_data_library() -> None:
    code = (
        "import sys\n"
        "from agent_kernel.tools.base import ToolContext\n"
        "from agent_kernel.tools import variables, dataframes, sql\n"
        "print(variables.list_variables.func(ctx=ToolContext(user_ns={'n': 1, 'xs': [1]})))\n"
        "print(sorted(m for m in ('pandas', 'polars', 'pyarrow', 'duckdb') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "[]"


# --- describe_dataframe ----------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("library", LIBRARIES)
def test_describe_counts_rows_nulls_and_values(library: str) -> None:
    ctx = ToolContext(user_ns={"sales": as_library(sales_pandas(), library)})
    text = call(describe_dataframe, ctx, name="sales")
    assert text.splitlines()[0].startswith("sales: ")
    assert "1,000 rows × 5 columns" in text
    assert "sample" not in text
    lines = {line.split(":")[0][2:]: line for line in text.splitlines() if line.startswith("- ")}
    assert "no nulls" in lines["revenue"] and "min 10, " in lines["revenue"]
    assert "max 12, " in lines["revenue"] and "median 10" in lines["revenue"]
    assert "100 nulls (10.0%)" in lines["discount"]
    assert "4 distinct" in lines["region"] and "'north' 25.0%" in lines["region"]
    assert "min 2024-01-01 00:00:00" in lines["date"]
    assert "first 5 rows:" in text
    assert "| id | region | revenue" in text


@pytest.mark.unit
@pytest.mark.parametrize("library", LIBRARIES)
def test_describe_statistics_match_pandas_describe(library: str) -> None:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"x": rng.normal(50, 10, 5000), "n": rng.integers(0, 1000, 5000)})
    frame.loc[::7, "x"] = np.nan
    text = call(
        describe_dataframe, ToolContext(user_ns={"f": as_library(frame, library)}), name="f"
    )
    expected = frame.describe()
    for column in ("x", "n"):
        line = next(line for line in text.splitlines() if line.startswith(f"- {column}:"))
        stats = dict(part.split(" ") for part in line.split("; ")[1].split(", "))
        for ours, theirs in [("min", "min"), ("p25", "25%"), ("median", "50%"), ("p75", "75%")]:
            assert float(stats[ours]) == pytest.approx(expected.loc[theirs, column], abs=1e-6)
        for ours, theirs in [("max", "max"), ("mean", "mean"), ("std", "std")]:
            assert float(stats[ours]) == pytest.approx(expected.loc[theirs, column], abs=1e-6)


@pytest.mark.unit
def test_describe_a_series_and_a_record_batch() -> None:
    batch = pa.RecordBatch.from_pandas(sales_pandas(10), preserve_index=False)
    ctx = ToolContext(user_ns={"revenue": sales_pandas(10)["revenue"], "batch": batch})
    assert "10 rows × 1 column" in call(describe_dataframe, ctx, name="revenue")
    assert "pyarrow.RecordBatch, 10 rows × 5 columns" in call(describe_dataframe, ctx, name="batch")


@pytest.mark.unit
def test_describe_lazy_frame_shows_schema_only() -> None:
    lazy = pl.LazyFrame({"a": [1, 2], "b": ["x", "y"]}).filter(pl.col("a") > 1)
    text = call(describe_dataframe, ToolContext(user_ns={"lazy": lazy}), name="lazy")
    assert "rows were not computed" in text
    assert "- a: Int64" in text and "- b: String" in text


@pytest.mark.unit
def test_describe_large_frame_samples_and_says_so() -> None:
    rows = 2_000_000
    rng = np.random.default_rng(0)
    values = rng.normal(100, 15, rows)
    values[::4] = np.nan
    frame = pd.DataFrame(
        {
            "amount": values,
            "units": rng.integers(0, 50, rows),
            "shop": pd.Categorical.from_codes(rng.integers(0, 8, rows), list("abcdefgh")),
        }
    )
    text = call(describe_dataframe, ToolContext(user_ns={"big": frame}), name="big")
    assert "2,000,000 rows × 3 columns" in text
    assert "distinct counts and top values are from a 1,000,000-row random sample" in text
    assert "500,000 nulls (25.0%)" in text
    assert "8 distinct in sample" in text
    amount = next(line for line in text.splitlines() if line.startswith("- amount:"))
    median = float(amount.split("median ")[1].split(",")[0])
    assert median == pytest.approx(100, abs=0.5)


@pytest.mark.unit
def test_describe_wide_frame_is_capped_and_bounded() -> None:
    wide = pd.DataFrame({f"column_{i}": range(20) for i in range(60)})
    ctx = ToolContext(user_ns={"wide": wide}, max_result_chars=3000)
    text = call(describe_dataframe, ctx, name="wide")
    assert len(text) <= 3000
    assert "60 columns" in text
    picked = call(describe_dataframe, ctx, name="wide", columns=["column_59"])
    assert "- column_59: int64" in picked and "- column_0:" not in picked
    assert "59 more columns not described" in picked


@pytest.mark.unit
def test_describe_unknown_names_get_suggestions() -> None:
    ctx = ToolContext(user_ns={"sales": sales_pandas(10), "count": 3})
    with pytest.raises(ToolError, match=r"no variable named 'sale'; did you mean 'sales'\?"):
        call(describe_dataframe, ctx, name="sale")
    with pytest.raises(ToolError, match="'count' has type int, not a dataframe"):
        call(describe_dataframe, ctx, name="count")
    with pytest.raises(ToolError, match="no column named 'revenu'; did you mean 'revenue'"):
        call(describe_dataframe, ctx, name="sales", columns=["revenu"])


# --- sql -------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("library", LIBRARIES)
def test_sql_aggregate_finds_the_top_region(library: str) -> None:
    ctx = ToolContext(user_ns={"sales": as_library(sales_pandas(), library)})
    query = (
        "SELECT region, sum(revenue) AS revenue FROM sales GROUP BY region ORDER BY revenue DESC"
    )
    text = call(sql, ctx, query=query)
    lines = text.splitlines()
    assert lines[0] == "4 rows × 2 columns: region VARCHAR, revenue DOUBLE"
    top = [cell.strip() for cell in lines[3].split("|")[1:3]]
    assert top == ["west", "3000"]
    assert [line.split("|")[2].strip() for line in lines[4:]] == ["2500"] * 3


@pytest.mark.unit
def test_sql_reports_total_rows_beyond_the_shown_ones() -> None:
    ctx = ToolContext(user_ns={"sales": sales_pandas()})
    text = call(sql, ctx, query="select id, discount from sales where discount is null", max_rows=3)
    assert text.startswith("100 rows × 2 columns: id BIGINT, discount DOUBLE")
    assert "[first 3 of 100 rows shown;" in text
    result = run_query("select * from sales", {"sales": sales_pandas()}, max_rows=2)
    assert (result.total_rows, len(result.rows), result.columns[:2]) == (1000, 2, ["id", "region"])
    assert result.tables == ["sales"]


@pytest.mark.unit
def test_sql_reads_its_data_once() -> None:
    scans: list[int] = []

    def tap(frame: pl.DataFrame) -> pl.DataFrame:
        scans.append(frame.height)
        return frame

    lazy = pl.LazyFrame({"a": list(range(1000))}).map_batches(tap, schema={"a": pl.Int64})
    result = run_query("select * from lazy", {"lazy": lazy}, max_rows=3)
    assert (result.rows, result.total_rows) == ([(0,), (1,), (2,)], 1000)
    assert scans == [1000]


@pytest.mark.unit
def test_sql_joins_across_libraries_and_ignores_case() -> None:
    ns = {
        "orders": pl.DataFrame({"id": [1, 2, 3], "amount": [5.0, 7.0, 9.0]}),
        "people": pa.table({"id": [1, 3], "name": ["ana", "bo"]}),
    }
    text = call(
        sql,
        ToolContext(user_ns=ns),
        query="select name, amount from ORDERS join people using (id) order by amount",
    )
    assert "| ana  | 5      |" in text and "| bo   | 9      |" in text


@pytest.mark.unit
def test_sql_output_is_bounded() -> None:
    ctx = ToolContext(user_ns={"sales": sales_pandas()}, max_result_chars=2000)
    text = call(sql, ctx, query="select * from sales", max_rows=500)
    assert len(text) <= 2000
    assert "of 1,000 rows shown (output size limit)" in text


@pytest.mark.parametrize(
    "query",
    [
        "INSERT INTO sales VALUES (1)",
        "DELETE FROM sales",
        "UPDATE sales SET revenue = 0",
        "CREATE TABLE copy AS SELECT * FROM sales",
        "DROP VIEW sales",
        "COPY sales TO '/tmp/sales.csv'",
        "ATTACH '/tmp/other.db'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET threads = 1",
        "PRAGMA version",
        "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
    ],
)
@pytest.mark.unit
def test_sql_refuses_statements_that_write(query: str) -> None:
    ctx = ToolContext(user_ns={"sales": sales_pandas(10)})
    with pytest.raises(ToolError, match="only read-only queries run here") as error:
        call(sql, ctx, query=query)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_parquet('https://example.com/data.parquet')",
        "SELECT * FROM glob('/etc/*')",
    ],
)
@pytest.mark.unit
def test_sql_cannot_reach_files_or_the_network(query: str) -> None:
    with pytest.raises(ToolError, match="not files or URLs"):
        call(sql, ToolContext(user_ns={}), query=query)


@pytest.mark.unit
def test_sql_allows_select_like_statements() -> None:
    ctx = ToolContext(user_ns={"sales": sales_pandas(10)})
    assert "column_name" in call(sql, ctx, query="DESCRIBE sales")
    assert "approx_unique" in call(sql, ctx, query="SUMMARIZE sales")
    assert "3 rows" in call(sql, ctx, query="WITH t AS (FROM range(3)) SELECT * FROM t")
    plan = call(sql, ctx, query="EXPLAIN SELECT count(*) FROM sales")
    assert "physical_plan" not in plan and "\n" in plan


@pytest.mark.unit
def test_sql_errors_are_one_line_and_point_at_names() -> None:
    ctx = ToolContext(user_ns={"sales": sales_pandas(10), "regions": REGIONS})
    with pytest.raises(ToolError, match=r"no dataframe named 'sale'; did you mean 'sales'\?"):
        call(sql, ctx, query="select * from sale")
    with pytest.raises(ToolError, match="'regions' has type list, not a dataframe"):
        call(sql, ctx, query="select * from regions")
    with pytest.raises(ToolError) as error:
        call(sql, ctx, query="select revnue from sales")
    message = str(error.value)
    assert "\n" not in message
    assert 'Candidate bindings: "revenue"' in message and "describe_dataframe" in message
    with pytest.raises(ToolError, match="syntax error"):
        call(sql, ctx, query="selec 1")
    with pytest.raises(ToolError, match="exactly one SQL statement"):
        call(sql, ctx, query="select 1; select 2")
    with pytest.raises(ToolError, match="empty"):
        call(sql, ctx, query="  ")


@pytest.mark.unit
def test_sql_sees_only_the_namespace() -> None:
    outside = pd.DataFrame({"secret": [1]})  # a local of the caller, not a user variable
    assert len(outside) == 1
    with pytest.raises(ToolError, match="no dataframe named 'outside'"):
        call(sql, ToolContext(user_ns={}), query="select * from outside")


@pytest.mark.unit
def test_sql_without_pyarrow_streams_through_the_db_api(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pd.DataFrame({"g": np.arange(300) % 3, "x": np.arange(300.0)})
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    result = run_query("select * from frame order by x", {"frame": frame}, max_rows=4)
    assert result.total_rows == 300
    assert result.rows == [(0, 0.0), (1, 1.0), (2, 2.0), (0, 3.0)]


# --- tables ----------------------------------------------------------------------------------


@pytest.mark.unit
def test_format_value_keeps_cells_short_and_on_one_line() -> None:
    assert format_value(0.1 + 0.2) == "0.3"
    assert format_value(None) == "null"
    assert format_value(pd.NaT) == "null"
    assert format_value(np.float32(1.5)) == "1.5"
    assert format_value("a|b\nc") == "a\\|b\\nc"
    assert len(format_value("x" * 100)) == 40


@pytest.mark.unit
def test_format_table_stops_at_the_budget() -> None:
    table = format_table(["a", "b"], [[i, "value"] for i in range(100)], max_chars=300)
    assert len(table.text) <= 300
    assert 0 < table.rows_shown < 100
    assert table.text.count("\n") == table.rows_shown + 1
