"""The user's variables: which ones the model sees, how they are named, and the listing tool.

Everything here is cheap on purpose: types are recognised by module and class name (never by
importing pandas, polars or pyarrow), and no value is measured in a way that could compute.
"""

from __future__ import annotations

import datetime
import decimal
import difflib
import fractions
import functools
import inspect
import types
from collections.abc import Iterable, Iterator
from typing import Any

from agent_kernel.tools import user_code
from agent_kernel.tools.base import ToolContext, ToolError, ToolResult, bound_text, tool
from agent_kernel.tools.tables import MAX_CELL_CHARS, format_table, format_value, plural
from agent_kernel.tools.trust import is_name, is_value

# Names IPython puts in every namespace; `user_ns_hidden` covers them in a real shell, this
# covers a bare namespace.
IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})

# (top-level package, class name) -> frame kind, matched along the MRO so subclasses count.
_FRAME_CLASSES = {
    ("pandas", "DataFrame"): "pandas",
    ("pandas", "Series"): "pandas.Series",
    ("polars", "DataFrame"): "polars",
    ("polars", "LazyFrame"): "polars.LazyFrame",
    ("pyarrow", "Table"): "pyarrow",
    ("pyarrow", "RecordBatch"): "pyarrow",
    # Distributed engines: described and queried where the data lives (tools/engines/).
    ("pyspark", "DataFrame"): "spark",
    ("dask", "DataFrame"): "dask",
    ("dask_expr", "DataFrame"): "dask",
}
# Packages whose objects have a cheap `.shape` attribute worth showing.
_SHAPED_PACKAGES = frozenset(
    {"numpy", "pandas", "torch", "scipy", "xarray", "jax", "jaxlib", "cupy"}
)
_SCALARS = (
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    type(None),
    decimal.Decimal,
    fractions.Fraction,
    datetime.date,
    datetime.time,
    datetime.timedelta,
)
_CONTAINERS = (list, tuple, dict, set, frozenset)
Row = tuple[str, str, str]  # type, size, value preview
_PREVIEW_ITEMS = 10


def type_name(obj: Any) -> str:
    """A short type name: `int`, `pandas.DataFrame`, `pyarrow.Table`, `numpy.ndarray`."""
    cls = type(obj)
    package = cls.__module__.partition(".")[0]
    if package in {"builtins", "__main__"}:
        return cls.__qualname__
    return f"{package}.{cls.__qualname__}"


def frame_kind(obj: Any) -> str | None:
    """Which kind of dataframe `obj` is (`pandas`, `polars.LazyFrame`, ...), or None."""
    for cls in type(obj).__mro__:
        kind = _FRAME_CLASSES.get((cls.__module__.partition(".")[0], cls.__name__))
        if kind is not None:
            return kind
    return None


def user_variables(ctx: ToolContext) -> dict[str, Any]:
    """The variables a user would call theirs: no privates, modules, functions, classes or
    IPython internals."""
    hidden = getattr(ctx.shell, "user_ns_hidden", None) or {}
    found: dict[str, Any] = {}
    for name, value in list(ctx.user_ns.items()):
        if name.startswith("_") or name in IPYTHON_NAMES:
            continue
        # As in IPython's %who: a hidden name the user has since rebound is theirs again.
        if name in hidden and hidden[name] is value:
            continue
        if isinstance(value, (types.ModuleType, type)) or inspect.isroutine(value):
            continue
        found[name] = value
    return found


def unknown_name_error(name: str, candidates: Iterable[str], what: str = "variable") -> ToolError:
    """A ToolError for a name that does not exist, suggesting the closest one."""
    names = list(candidates)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if not close:  # `Sales` for `sales` and the like
        close = [n for n in names if n.lower() == name.lower()][:1]
    hint = f" did you mean {close[0]!r}?" if close else ""
    return ToolError(f"no {what} named {name!r};{hint} call list_variables to see what exists")


def lookup_variable(name: str, ctx: ToolContext) -> Any:
    """The value of `name` in the user's namespace, or a ToolError with a suggestion."""
    if name in ctx.user_ns:
        return ctx.user_ns[name]
    raise unknown_name_error(name, user_variables(ctx))


@tool(effects="read", register=False)
def list_variables(ctx: ToolContext) -> ToolResult:
    """List the variables in the user's live Python session: name, type, size (rows × columns
    for dataframes, shape for arrays, item count for containers) and the value of scalars and
    short strings. Dataframes come first.

    Call this first to learn what data exists; then use describe_dataframe on a dataframe,
    or sql to query dataframes by their variable names.
    """
    variables = user_variables(ctx)
    if not variables:
        return ToolResult(
            "The user's namespace has no variables yet "
            "(modules, functions, classes and IPython internals are not listed)."
        )
    order = sorted(variables, key=lambda n: (frame_kind(variables[n]) is None, n.lower(), n))
    rows = [(name, *described) for name, described in _described(variables, order)]
    frames = sum(1 for name in order if frame_kind(variables[name]) is not None)
    title = plural(len(rows), "variable") + (
        f" ({plural(frames, 'dataframe')} listed first):" if frames else ":"
    )
    table = format_table(["name", "type", "size", "value"], rows, ctx.max_result_chars - 200)
    text = f"{title}\n{table.text}"
    if table.rows_shown < len(rows):
        rest = plural(len(rows) - table.rows_shown, "more variable")
        text += f"\n[{rest} not shown; ask about one by name]"
    bounded = bound_text(text, ctx.max_result_chars, "ask about one variable by name")[0]
    # Untrusted unless every part is our own words: names written in code, type names,
    # sizes and numbers. A string's value, a repr or a repr's error message is data.
    own_words = all(
        is_name(name)
        and is_name(kind.replace(", ", ","))
        and (is_value(value) or frame_kind(variables[name]) in ("spark", "dask"))
        for name, kind, _, value in rows
    )
    return ToolResult(bounded, summary=title.rstrip(":"), trusted=own_words)


def _described(variables: dict[str, Any], order: list[str]) -> Iterator[tuple[str, Row]]:
    """(name, (type, size, value)) per variable, each described under the user-code guard,
    all of them within one budget: past it, the rest are listed by type only."""
    budget = max(1.0, 5 * user_code.current_timeout())
    with user_code.deadline(budget) as expired:
        for name in order:
            obj = variables[name]
            if expired():
                yield name, (_safe_type_name(obj), "", "<not described: listing took too long>")
                continue
            if frame_kind(obj) in ("spark", "dask"):
                # Library code talking to a JVM or a scheduler: an alarm must not cut a
                # py4j exchange in half, so it runs under the exception guard only.
                yield name, _distributed_row(obj)
                continue
            try:
                yield name, user_code.guarded(functools.partial(_describe, obj), obj)
            except user_code.UserCodeFailed as failed:
                yield name, (_safe_type_name(obj), "", failed.label)


def _distributed_row(obj: Any) -> Row:
    from agent_kernel.tools.engines import engine_for

    engine = engine_for(obj)
    try:
        listing = engine.listing(obj) if engine else None
        if listing is None:
            return type_name(obj), "", ""
        return type_name(obj), listing.size_text(), listing.engine_text()
    except Exception as exc:  # a stopped session, a lost cluster
        return type_name(obj), "", f"<{frame_kind(obj)} unavailable: {type(exc).__name__}>"


def _safe_type_name(obj: Any) -> str:
    try:
        return user_code.guarded(lambda: type_name(obj))  # not skipped for a slow type
    except user_code.UserCodeFailed:
        return "object"


def _describe(obj: Any) -> Row:
    """(type, size, value preview) for one variable, without computing anything expensive."""
    kind = frame_kind(obj)
    name = type_name(obj)
    if kind == "polars.LazyFrame":
        return name, "lazy: rows not computed", ""
    if kind in {"pandas", "polars"}:
        rows, cols = obj.shape
        return name, f"{plural(rows, 'row')} × {plural(cols, 'column')}", ""
    if kind == "pyarrow":
        return name, f"{plural(obj.num_rows, 'row')} × {plural(obj.num_columns, 'column')}", ""
    if kind == "pandas.Series":
        return f"{name}[{obj.dtype}]", plural(len(obj), "row"), ""
    if isinstance(obj, (str, bytes)):
        unit = "char" if isinstance(obj, str) else "byte"
        return name, plural(len(obj), unit), format_value(repr(obj[:MAX_CELL_CHARS]))
    if isinstance(obj, _SCALARS) or _is_array_scalar(obj):
        return name, "", _scalar_preview(obj)
    if isinstance(obj, _CONTAINERS):
        return name, plural(len(obj), "item"), _container_preview(obj)
    if type(obj).__module__.partition(".")[0] in _SHAPED_PACKAGES:
        shape = getattr(obj, "shape", None)
        dtype = getattr(obj, "dtype", None)
        if dtype is not None:
            name = f"{name}[{dtype}]"
        if isinstance(shape, tuple):
            return name, f"shape {shape}", ""
    return name, "", ""


def _is_array_scalar(obj: Any) -> bool:
    return type(obj).__module__ == "numpy" and getattr(obj, "ndim", None) == 0


def _scalar_preview(obj: Any) -> str:
    if isinstance(obj, int) and obj.bit_length() > 256:  # str() of a huge int is slow or refused
        return f"<{obj.bit_length():,}-bit integer>"
    return "None" if obj is None else format_value(obj)


def _is_small_scalar(obj: Any) -> bool:
    if isinstance(obj, (str, bytes)):
        return len(obj) <= MAX_CELL_CHARS
    if isinstance(obj, int):
        return obj.bit_length() <= 256
    return isinstance(obj, _SCALARS)


def _container_preview(obj: Any) -> str:
    """A repr of small containers of small scalars only; anything else could be costly."""
    if len(obj) > _PREVIEW_ITEMS:
        return ""
    items = [*obj.keys(), *obj.values()] if isinstance(obj, dict) else list(obj)
    if not all(_is_small_scalar(item) for item in items):
        return ""
    return format_value(repr(obj))


def variable_lines(ctx: ToolContext, limit: int = 40) -> list[str]:
    """One short line per variable (dataframes first), for the context's variables section."""
    variables = user_variables(ctx)
    order = sorted(variables, key=lambda n: (frame_kind(variables[n]) is None, n.lower(), n))
    lines = []
    for name, (kind, size, value) in _described(variables, order[:limit]):
        # Text values are data: the context shows only what is our own words (numbers);
        # list_variables shows the rest, marked as data.
        ours = frame_kind(variables[name]) in ("spark", "dask")  # the engine's name
        if not (is_name(name) and (is_value(value) or ours)):
            if not is_name(name):
                continue
            value = ""
        detail = ", ".join(part for part in (size, value and f"= {value}") if part)
        lines.append(f"- {name}: {kind}" + (f", {detail}" if detail else ""))
    return lines
