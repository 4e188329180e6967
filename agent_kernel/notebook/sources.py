"""Where the agent reads the notebook from, best first, and which one it used.

1. The live notebook in JupyterLab (unsaved edits and all), through the extension's comm.
2. The saved `.ipynb` the kernel belongs to (Jupyter Server's `JPY_SESSION_NAME`, VS Code's
   `__vsc_ipynb_file__`): as last saved.
3. IPython's own history: the sources run in this kernel (`In`) and their results (`Out`),
   plus the errors this kernel saw; printed text and images are not kept there.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_kernel.notebook.bridge import FRONT_END, FrontEndUnavailable
from agent_kernel.notebook.cells import Cell
from agent_kernel.notebook.watch import CellError, watch

LIVE = "live notebook (JupyterLab front end)"
HISTORY = "this kernel's history (In/Out; printed output and images are not kept)"
CELLS_TIMEOUT = 3.0


@dataclass
class NotebookView:
    """The cells as one source showed them, and which cell is being run."""

    cells: list[Cell]
    source: str  # LIVE, "saved file NAME ...", or HISTORY
    running: int | None = None  # index of the cell being run, when known
    note: str = ""  # why a better source was not used
    path: str = ""
    read_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.source == LIVE

    def index_of(self, cell_id: str) -> int | None:
        return next((c.index for c in self.cells if cell_id and c.id == cell_id), None)


async def read_notebook(shell: Any, user_ns: dict[str, Any]) -> NotebookView:
    """The best source available right now."""
    started = time.perf_counter()
    note = f"{FRONT_END.lost}; " if FRONT_END.lost and not FRONT_END.connected else ""
    if FRONT_END.connected:
        try:
            view = await live_view(shell)
            view.read_ms = (time.perf_counter() - started) * 1000
            return view
        except FrontEndUnavailable as exc:
            note = f"{exc}; "
    view = stored_view(shell, user_ns)
    view.note = (note + view.note).strip("; ")
    view.read_ms = (time.perf_counter() - started) * 1000
    return view


async def live_view(shell: Any) -> NotebookView:
    reply = await FRONT_END.request("cells", CELLS_TIMEOUT)
    if not reply.get("ok"):
        raise FrontEndUnavailable(str(reply.get("error") or "the front end refused"))
    cells = [Cell.from_nbformat(i, c) for i, c in enumerate(reply.get("cells") or [])]
    view = NotebookView(cells, LIVE, path=str(reply.get("path") or ""))
    view.running = view.index_of(watch(shell).cell_id) if shell is not None else None
    return view


def stored_view(shell: Any, user_ns: dict[str, Any]) -> NotebookView:
    """The saved file when the kernel knows it, else the history."""
    from agent_kernel.memory.paths import notebook_file

    path = notebook_file(user_ns)
    note = "no notebook front end is connected (JupyterLab with the agent-kernel extension)"
    if path is not None and path.is_file():
        try:
            return file_view(shell, path, note)
        except (OSError, ValueError) as exc:
            note += f"; the saved file {path.name} could not be read ({exc})"
    return history_view(shell, user_ns, note)


def file_view(shell: Any, path: Path, note: str) -> NotebookView:
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise ValueError("not a notebook")
    cells = [Cell.from_nbformat(i, c) for i, c in enumerate(document["cells"])]
    saved = time.strftime("%H:%M:%S", time.localtime(path.stat().st_mtime))
    label = f"saved file {path.name} (as saved at {saved}; unsaved changes are not included)"
    view = NotebookView(cells, label, note=note, path=str(path))
    view.running = view.index_of(watch(shell).cell_id) if shell is not None else None
    return view


def history_view(shell: Any, user_ns: dict[str, Any], note: str) -> NotebookView:
    """One cell per run of this kernel: index = execution count (In[n], Out[n])."""
    raw = list(getattr(getattr(shell, "history_manager", None), "input_hist_raw", []) or [])
    found = user_ns.get("Out")
    outputs: dict[int, Any] = found if isinstance(found, dict) else {}
    errors = watch(shell).by_count() if shell is not None else {}
    cells = []
    for count, source in enumerate(raw):
        if count == 0:
            continue  # IPython's In[0] is always empty
        cells.append(Cell(count, "code", source, _outputs(count, outputs, errors), count))
    view = NotebookView(cells, HISTORY, note=note)
    view.running = cells[-1].index if cells else None
    view.extra["history"] = True
    return view


def _outputs(count: int, results: dict[int, Any], errors: dict[int, CellError]) -> list[dict]:
    outputs: list[dict[str, Any]] = []
    if count in results:
        text = _repr(results[count])
        outputs.append({"output_type": "execute_result", "data": {"text/plain": text}})
    if count in errors:
        error = errors[count].error
        outputs.append(
            {"output_type": "error", "ename": type(error).__name__, "evalue": str(error)}
        )
    return outputs


def _repr(value: Any, limit: int = 2000) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break reading the notebook
        text = f"<{type(value).__name__}; repr failed: {exc}>"
    return text if len(text) <= limit else text[:limit] + " ..."
