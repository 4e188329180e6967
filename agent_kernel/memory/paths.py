"""Where a notebook's memory lives: `.agent/` in the notebook's folder, and the user's own store.

The notebook is found from the kernel: Jupyter Server sets `JPY_SESSION_NAME` (absolute, or
relative to the server's root; the kernel runs in the notebook's folder either way), VS Code
sets `__vsc_ipynb_file__`; elsewhere (terminal IPython, nbclient) the working directory is the
project and there is no notebook name.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STORE_FOLDER = ".agent"
DATABASE_FILE = "agent.duckdb"
CHROMA_FOLDER = "chroma"


@dataclass(frozen=True)
class ProjectPaths:
    """The project folder, the notebook within it, and the store folder."""

    project_dir: Path
    notebook: str  # relative to project_dir, '' when no notebook is known
    store_dir: Path

    @property
    def database(self) -> Path:
        return self.store_dir / DATABASE_FILE

    @property
    def chroma_dir(self) -> Path:
        return self.store_dir / CHROMA_FOLDER


def notebook_file(user_ns: dict[str, Any]) -> Path | None:
    """The running notebook's path, when the front end told the kernel."""
    vscode = user_ns.get("__vsc_ipynb_file__")
    if isinstance(vscode, str) and vscode:
        return Path(vscode)
    name = os.environ.get("JPY_SESSION_NAME") or user_ns.get("__session__")
    if not isinstance(name, str) or not name or not name.endswith(".ipynb"):
        return None
    path = Path(name)
    if path.is_absolute():
        return path
    # Relative to the server's root, which we cannot see; the kernel runs in the notebook's
    # folder, so the file name is what locates it.
    here = Path.cwd() / path
    return here if here.exists() else Path.cwd() / path.name


def locate(user_ns: dict[str, Any], store_dir: str | None = None) -> ProjectPaths:
    """The paths for this kernel; `store_dir` (Agent.store_dir) overrides `.agent/`."""
    notebook = notebook_file(user_ns)
    project = notebook.parent if notebook is not None else Path.cwd()
    store = Path(store_dir).expanduser() if store_dir else project / STORE_FOLDER
    if not store.is_absolute():
        store = project / store
    return ProjectPaths(project.resolve(), notebook.name if notebook else "", store.resolve())


def user_store_dir() -> Path:
    """Memories that follow a person across projects, in the Jupyter data dir."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "agent_kernel"


def user_name() -> str:
    """Who is working: the JupyterHub user where there is one, else the OS user."""
    hub = os.environ.get("JUPYTERHUB_USER")
    if hub:
        return hub
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"
