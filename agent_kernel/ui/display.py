"""Small display objects with a plain-text fallback, for subcommand output."""

from __future__ import annotations

import html
from typing import Any


class Table:
    """Rows shown as an HTML table in a notebook and as aligned text in a terminal."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]], title: str = "") -> None:
        self.columns = columns
        self.rows = [tuple("" if v is None else str(v) for v in row) for row in rows]
        self.title = title

    def __repr__(self) -> str:
        widths = [
            max([len(c)] + [len(r[i]) for r in self.rows]) for i, c in enumerate(self.columns)
        ]
        lines = [self.title] if self.title else []
        lines.append("  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True)))
        lines.append("  ".join("-" * w for w in widths))
        for row in self.rows:
            lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td style='text-align:left'>{html.escape(v)}</td>" for v in r)
            + "</tr>"
            for r in self.rows
        )
        title = f"<p><b>{html.escape(self.title)}</b></p>" if self.title else ""
        return f"{title}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
