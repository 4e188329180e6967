"""The last error as the agent reads it: type, message, the failing cell and the user's frames.

Library frames (site-packages, the standard library) are summarised, except the one that
raised, so a KeyError from deep in pandas still shows the line of the user's cell first.
"""

from __future__ import annotations

import sys
import sysconfig
import time
import traceback
from typing import Any

from agent_kernel.notebook.cells import cut
from agent_kernel.notebook.watch import CellError

LIBRARY_ROOTS = tuple(
    {p for p in (sysconfig.get_paths().get(k) for k in ("stdlib", "purelib", "platlib")) if p}
)


def describe_error(error: CellError, shell: Any, cell_index: int | None) -> str:
    """Everything a fix needs, as text (it echoes data: the caller marks it untrusted)."""
    where = f"cell {cell_index}" if cell_index is not None else "a cell"
    run = f", run [{error.execution_count}]" if error.execution_count else ""
    age = f", {_ago(error.when)}" if error.when else ""
    lines = [error.title, f"Raised by {where}{run}{age}."]
    if error.source:
        lines += ["Its source:", cut(error.source.rstrip(), 3000)]
    frames = user_frames(error.error, shell)
    if frames:
        lines += ["Traceback (most recent call last; library frames summarised):", *frames]
    return "\n".join(lines)


def user_frames(error: BaseException, shell: Any) -> list[str]:
    cells = dict(getattr(getattr(shell, "compile", None), "_filename_map", {}) or {})
    summary = traceback.extract_tb(error.__traceback__)
    rows: list[str] = []
    hidden = 0
    for position, frame in enumerate(summary):
        last = position == len(summary) - 1
        if _is_library(frame.filename) and not last:
            hidden += 1
            continue
        if hidden:
            rows.append(f"  ... {hidden} library frame{'s' * (hidden > 1)}")
            hidden = 0
        place = (
            f"cell run [{cells[frame.filename]}]"
            if frame.filename in cells
            else _short(frame.filename)
        )
        rows.append(f"  {place}, line {frame.lineno}, in {frame.name}: {frame.line or ''}".rstrip())
    return rows[-20:]


def _is_library(filename: str) -> bool:
    return filename.startswith(LIBRARY_ROOTS) or filename.startswith(("<frozen", sys.prefix))


def _short(filename: str) -> str:
    for root in LIBRARY_ROOTS:
        if filename.startswith(root):
            return filename[len(root) :].lstrip("/")
    return filename


def _ago(when: float) -> str:
    seconds = max(0, int(time.time() - when))
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"
