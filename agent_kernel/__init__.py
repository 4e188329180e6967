"""agent-kernel: a Jupyter-native runtime for LLM agents.

`%load_ext agent_kernel` registers `%%agent` / `%agent` and nothing heavy: openai, duckdb,
pandas and pydantic load on first use.
"""

from __future__ import annotations

from typing import Any

from agent_kernel._version import __version__

__all__ = ["Tool", "ToolContext", "ToolError", "ToolResult", "__version__", "tool"]

_LAZY = {
    "tool": "agent_kernel.tools.base",
    "Tool": "agent_kernel.tools.base",
    "ToolContext": "agent_kernel.tools.base",
    "ToolError": "agent_kernel.tools.base",
    "ToolResult": "agent_kernel.tools.base",
}


def __getattr__(name: str) -> Any:
    # `from agent_kernel import tool` works without paying for pydantic at %load_ext time.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agent_kernel' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    from agent_kernel.magics import AgentMagics, settings_for, transform_agent_cell
    from agent_kernel.notebook.bridge import FRONT_END
    from agent_kernel.notebook.watch import watch

    settings_for(ipython)
    ipython.register_magics(AgentMagics)
    watch(ipython)  # the cell being run and the errors cells raise, for the notebook tools
    FRONT_END.register(ipython)  # the JupyterLab extension's comm (live cells, edits)
    if transform_agent_cell not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(transform_agent_cell)
    if getattr(ipython, "kernel", None) is not None:  # a Jupyter kernel, where cells come fast
        _warm_in_background()


def _warm_in_background() -> None:
    """Import what the first `%%agent` cell needs (openai alone takes 1-7 s here) on a daemon
    thread, so `%load_ext` stays instant and the first answer does not pay for it."""
    import threading

    def warm() -> None:
        import importlib

        for name in ("openai", "duckdb", "agent_kernel.runtime.kernel_agent"):
            try:
                importlib.import_module(name)
            except Exception:  # the cell imports it again and says what failed
                return

    threading.Thread(target=warm, name="agent-kernel-warm", daemon=True).start()


def unload_ipython_extension(ipython: Any) -> None:
    from agent_kernel.magics import transform_agent_cell

    if transform_agent_cell in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(transform_agent_cell)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    # The JupyterLab extension, built into the package (labextension/ in the repository).
    return [{"src": "labextension", "dest": "agent-kernel"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    # The endpoints the JupyterLab side panel reads the project store through.
    return [{"module": "agent_kernel.server"}]
