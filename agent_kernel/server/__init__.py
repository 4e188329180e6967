"""A Jupyter Server extension that lets JupyterLab's side panel read a project's `.agent/` store.

Enabled by `jupyter-config/jupyter_server_config.d/agent_kernel.json`, installed with the
package. Only the handlers module is loaded when the server starts; DuckDB waits for the
first request.
"""

from __future__ import annotations

from typing import Any


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from agent_kernel.server.handlers import setup_handlers

    setup_handlers(serverapp.web_app)
    serverapp.log.info("agent-kernel: project store endpoints at /agent-kernel/")
