"""Targets have effects: a write to the agent's own configuration or store is code execution
in disguise (`.agent/mcp.json` starts processes, `ipython_config.py` and startup files run
code, the administrator's policy file changes every later kernel), so tools may not write
there, whatever the tool. The check works on the resolved path (symlinks and `..`), ignores
case, and refuses a file with other hard links (it may be one of these under another name).
An administrator may allow it: `"config_writes": "allow"` in agent_kernel_policy.json.
"""

from __future__ import annotations

import os
from pathlib import Path

PROTECTED_FOLDERS = {".agent", ".ipython", ".jupyter", "profile_default", "startup"}
PROTECTED_NAMES = {
    "ipython_config.py",
    "ipython_kernel_config.py",
    "ipython_config.json",
    "ipython_kernel_config.json",
    "agent_kernel_policy.json",
    "mcp.json",
}
PROTECTED_PREFIXES = ("jupyter_", "jupyter-")


def config_dirs() -> list[Path]:
    """Jupyter's and IPython's configuration folders for this user and environment."""
    from jupyter_core.paths import jupyter_config_path

    folders = [Path(p) for p in jupyter_config_path()]
    folders.append(Path(os.environ.get("IPYTHONDIR", "~/.ipython")).expanduser())
    return [p.resolve() for p in folders]


def protected_reason(target: Path, store_dir: Path | None = None) -> str:
    """Why a tool may not write `target` (resolved), or '' when it may."""
    real = target.resolve()
    parts = [p.lower() for p in real.parts]
    name = parts[-1] if parts else ""
    if store_dir is not None and _inside(real, store_dir.resolve()):
        return "it is inside the agent's store"
    hit = next((p for p in parts[:-1] if p in PROTECTED_FOLDERS), None)
    if hit is not None or name in PROTECTED_FOLDERS:
        return f"it is inside {hit or name}/, the agent's or IPython's configuration"
    if name in PROTECTED_NAMES or (name.startswith(PROTECTED_PREFIXES) and "config" in name):
        return f"{real.name} is configuration that can start code"
    if any(_inside(real, folder) for folder in config_dirs()):
        return "it is inside a Jupyter or IPython configuration folder"
    if real.is_file() and real.stat().st_nlink > 1:
        return "the file has other hard links (it may be configuration under another name)"
    return ""


def _inside(path: Path, folder: Path) -> bool:
    return (
        os.path.normcase(str(path))
        .lower()
        .startswith(os.path.normcase(str(folder)).lower().rstrip("/") + "/")
        or str(path).lower() == str(folder).lower()
    )
