"""MCP (Model Context Protocol) servers as agent tools: stdio servers from `Agent.mcp_servers`
and `.agent/mcp.json`, started on first use, their tools named `server__tool`.

Nothing here imports the `mcp` SDK until a server starts, so `%load_ext` stays fast and a
kernel with no servers configured never loads it.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent_kernel.mcp.manager import MCPManager
    from agent_kernel.tools.registry import ToolRegistry

# One manager per kernel agent, without keeping the agent alive.
_MANAGERS: weakref.WeakKeyDictionary[Any, MCPManager] = weakref.WeakKeyDictionary()


def manager_for(agent: Any) -> MCPManager | None:
    """The agent's MCP manager, in step with its settings and project file; None while no
    server was ever configured."""
    from agent_kernel.mcp import config
    from agent_kernel.memory.paths import locate

    paths = locate(agent.user_ns, agent.settings.store_dir)
    loaded = config.load(agent.settings.mcp_servers, paths.project_dir)
    manager = _MANAGERS.get(agent)
    if manager is None:
        if not loaded.servers and not loaded.problems:
            return None
        from agent_kernel.mcp.connection import stop_all
        from agent_kernel.mcp.manager import MCPManager

        manager = _MANAGERS[agent] = MCPManager()
        # Servers stop with the agent, and with the process at the latest.
        weakref.finalize(agent, manager.close)
        _stop_at_exit(stop_all)
    settings = agent.settings
    manager.sync(loaded, paths.store_dir, settings.mcp_timeout, settings.mcp_start_timeout)
    manager.sources = [config.SETTING, str(paths.project_dir / config.PROJECT_FILE)]
    return manager


def with_mcp_tools(agent: Any, base: ToolRegistry) -> ToolRegistry:
    """`base` plus the tools of the agent's MCP servers, which start here on first use."""
    manager = manager_for(agent)
    if manager is None:
        return base
    manager.start()
    extra = manager.tools(taken=set(base.names()))
    if not extra:
        return base
    from agent_kernel.tools.registry import ToolRegistry

    return ToolRegistry([*base, *extra])


_registered_exit = False


def _stop_at_exit(stop: Any) -> None:
    global _registered_exit
    if not _registered_exit:
        import atexit

        atexit.register(stop)
        _registered_exit = True
