"""Rows as compact text for the model: one pipe table format shared by every data tool."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

MAX_CELL_CHARS = 40


class TableText(NamedTuple):
    """A rendered table and how many of the given rows fit in it."""

    text: str
    rows_shown: int


def plural(count: int, noun: str) -> str:
    """`1 row`, `2,000 rows`."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def format_value(value: Any, width: int = MAX_CELL_CHARS) -> str:
    """One value as a short single-line cell: nulls as `null`, floats without float noise."""
    if value is None:
        return "null"
    if isinstance(value, float) or _is_numpy_float(value):
        text = _format_float(float(value))
    else:
        text = text_of(value)
        if not isinstance(value, str) and text in {"NaT", "<NA>", "nan"}:
            return "null"  # pandas and numpy missing-value markers
    # A cell stays on one line and cannot close the table early (cut first: text may be huge).
    text = text[: width + 1].replace("\n", "\\n").replace("\r", "\\r").replace("|", "\\|")
    if len(text) > width:
        text = text[: max(1, width - 1)] + "…"
    return text


def text_of(value: Any) -> str:
    """`str(value)`; an object of the user's own class (a cell of an object column, a column
    label) is asked under the user-code guard, since its __str__ may raise or hang."""
    cls = type(value)
    if cls in _BUILTIN_TEXT or cls.__module__.partition(".")[0] in _LIBRARY_PACKAGES:
        return str(value)
    from agent_kernel.tools.user_code import safe_str

    return safe_str(value)


_BUILTIN_TEXT = frozenset({str, int, float, bool, complex, bytes, type(None)})
_LIBRARY_PACKAGES = frozenset({"numpy", "pandas", "pyarrow", "polars", "datetime", "decimal"})


def _is_numpy_float(value: Any) -> bool:
    return (
        type(value).__module__ == "numpy"
        and getattr(value, "ndim", None) == 0
        and value.dtype.kind == "f"
    )


def _format_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0 or 1e-4 <= abs(value) < 1e15:
        # Six decimals is plenty for data work and hides 0.1 + 0.2 noise.
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return f"{value:.6g}"


def format_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], max_chars: int | None = None
) -> TableText:
    """Render rows as an aligned pipe table, adding rows only while the text fits `max_chars`."""
    header = [format_value(c) for c in columns]
    cells = [[format_value(v) for v in row] for row in rows]
    widths = [len(h) for h in header]
    shown: list[list[str]] = []
    budget = max_chars if max_chars is not None else math.inf
    for row in cells:
        candidate = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
        # Every line is as long as the widest cells make it: header, rule, rows so far, this row.
        if _line_length(candidate) * (len(shown) + 3) > budget:
            break
        widths = candidate
        shown.append(row)
    lines = [
        _line(header, widths),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
        *(_line(row, widths) for row in shown),
    ]
    return TableText("\n".join(lines), len(shown))


def _line_length(widths: list[int]) -> int:
    return sum(w + 3 for w in widths) + 2


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
