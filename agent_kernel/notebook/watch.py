"""What the kernel saw of each cell run: the cell being run, and the errors cells raised.

IPython's `pre_run_cell` and `post_run_cell` events give the cell's id (JupyterLab and
nbclient send it), its raw source and its exception, which `sys.last_value` alone does not
tie to a cell. Registered at `%load_ext`; cheap enough to run on every cell.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

AGENT_CELL_PREFIXES = ("%%agent", "%agent")


@dataclass
class CellError:
    """An exception a user's cell raised."""

    error: BaseException
    source: str
    execution_count: int | None
    cell_id: str
    when: float

    @property
    def title(self) -> str:
        return f"{type(self.error).__name__}: {self.error}".split("\n")[0]


class CellWatch:
    """The current cell and the recent errors of one shell."""

    def __init__(self) -> None:
        self.cell_id = ""
        self.errors: deque[CellError] = deque(maxlen=20)

    def pre_run(self, info: Any) -> None:
        self.cell_id = str(getattr(info, "cell_id", None) or "")

    def post_run(self, result: Any) -> None:
        error = result.error_in_exec or result.error_before_exec
        source = str(getattr(result.info, "raw_cell", "") or "")
        if error is None or source.lstrip().startswith(AGENT_CELL_PREFIXES):
            return
        cell_id = str(getattr(result.info, "cell_id", None) or "")
        self.errors.append(CellError(error, source, result.execution_count, cell_id, time.time()))

    def last(self) -> CellError | None:
        """The newest error; one raised before the extension loaded comes from `sys`."""
        if self.errors:
            return self.errors[-1]
        value = getattr(sys, "last_value", None)
        if isinstance(value, BaseException):
            return CellError(value, "", None, "", 0.0)
        return None

    def by_count(self) -> dict[int, CellError]:
        return {e.execution_count: e for e in self.errors if e.execution_count is not None}


def watch(shell: Any) -> CellWatch:
    """The shell's watch, registered on its events once."""
    existing = getattr(shell, "_agent_kernel_watch", None)
    if isinstance(existing, CellWatch):
        return existing
    watcher = CellWatch()
    shell._agent_kernel_watch = watcher
    shell.events.register("pre_run_cell", watcher.pre_run)
    shell.events.register("post_run_cell", watcher.post_run)
    return watcher
