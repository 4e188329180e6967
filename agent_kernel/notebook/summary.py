"""The context's "notebook" section: the cell being run, a few cells above it, the last error.

Small and budgeted, so a simple request ("what does the cell above compute?") needs no tool
call. It shows the code of the cells and only an outline of their outputs ("stdout (2
lines), image 640x480 PNG, error KeyError"), never their text, markdown or error messages:
those carry data, and would taint every run in a notebook. The model reads them with
notebook_cells and last_error, whose results are untrusted and do taint the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from agent_kernel.notebook.cells import outline_cell
from agent_kernel.notebook.sources import NotebookView
from agent_kernel.notebook.watch import CellError

CELLS_ABOVE = 4
CELL_CHARS = 700
RECENT_ERROR_SECONDS = 600


def notebook_section(
    view: NotebookView | None,
    error: CellError | None,
    fits: Callable[[str], bool],
) -> str:
    """The section's text: as many cells above the running one as `fits` allows."""
    if view is None or not view.cells:
        return ""
    end = view.running if view.running is not None else len(view.cells)
    above = [c for c in view.cells[max(0, end - CELLS_ABOVE) : end] if c.source.strip()]
    where = f"; this request runs in cell {view.running}" if view.running is not None else ""
    head = (
        f"The notebook ({view.source}; {len(view.cells)} cells{where}). Outputs are outlined "
        "here; notebook_cells reads their text, last_error the latest traceback."
    )
    recent = (
        error if error is not None and time.time() - error.when < RECENT_ERROR_SECONDS else None
    )
    shown: list[str] = []
    for cell in reversed(above):  # nearest first: they matter most
        piece = outline_cell(cell, CELL_CHARS)
        if not fits(_text(head, [piece, *shown], recent, view)):
            break
        shown.insert(0, piece)
    text = _text(head, shown, recent, view)
    return text if fits(text) else head


def _text(head: str, cells: list[str], error: CellError | None, view: NotebookView) -> str:
    parts = [head]
    if cells:
        parts.append("Cells above it:\n" + "\n\n".join(cells))
    if error is not None:
        # The type only: the message can echo data.
        parts.append(f"Last error: {type(error.error).__name__} in {_where(error, view)}.")
    return "\n".join(parts)


def _where(error: CellError, view: NotebookView) -> str:
    for cell in view.cells:
        if (error.cell_id and cell.id == error.cell_id) or (
            error.execution_count is not None and cell.execution_count == error.execution_count
        ):
            return f"cell {cell.index}"
    return f"run [{error.execution_count}]" if error.execution_count else "an earlier cell"
