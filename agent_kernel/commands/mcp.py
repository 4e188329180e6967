"""`%agent mcp`: the MCP servers, their state, tools and logs; `reload` restarts them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_kernel.commands.registry import CommandParser, command

if TYPE_CHECKING:
    from agent_kernel.runtime.kernel_agent import KernelAgent

MCP_USAGE = "%agent mcp [reload]"
NOTHING_CONFIGURED = """\
No MCP servers are configured. Add one in .agent/mcp.json beside the notebook:
  {"mcpServers": {"github": {
      "command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}"}}}}
or with %config Agent.mcp_servers = {"name": {"command": ..., "args": [...]}}."""


@command("mcp", MCP_USAGE, "MCP servers: state, tools and log (reload: restart them)")
def mcp_command(agent: KernelAgent, args: list[str]) -> Any:
    from agent_kernel.mcp import manager_for
    from agent_kernel.ui.display import Table

    parser = CommandParser(MCP_USAGE, prog="%agent mcp")
    parser.add_argument("action", nargs="?", choices=["reload"])
    options = parser.parse_args(args)
    manager = manager_for(agent)
    if manager is None or not (manager.connections or manager.problems):
        print(NOTHING_CONFIGURED)
        return None
    if options.action == "reload":
        manager.reload()
    else:
        manager.start()
    title = (
        f"MCP servers (from {' and '.join(manager.sources)}; "
        f"calls time out after {manager.timeout:g} s)"
    )
    return Table(["server", "state", "tools", "log or last error"], manager.rows(), title=title)
