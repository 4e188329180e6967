"""A kernel's MCP servers: kept in step with the configuration, started on first use, and
offered to the agent as tools."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Container
from pathlib import Path

from agent_kernel.mcp.config import LoadedConfig, ServerConfig
from agent_kernel.mcp.connection import STOP_GRACE, ServerConnection, ServerFailure
from agent_kernel.mcp.tools import MCPTool, tool_name
from agent_kernel.tools.base import Tool


def note(text: str) -> None:
    """A one-line notice in the cell (printed by the caller's thread, so it lands there)."""
    print(f"Note: {text}", flush=True)


class MCPManager:
    """The servers of one kernel's agent, by name."""

    def __init__(self, notify: Callable[[str], None] = note) -> None:
        self.notify = notify
        self.connections: dict[str, ServerConnection] = {}
        self.problems: list[str] = []
        self.timeout = 30.0  # one call (Agent.mcp_timeout)
        self.start_timeout = 120.0  # a start (Agent.mcp_start_timeout)
        self.sources: list[str] = []
        self._told: set[str] = set()
        self._tools: dict[str, tuple[int, list[Tool]]] = {}  # per server, for its start count

    # -- configuration ----------------------------------------------------------------------
    def sync(
        self, loaded: LoadedConfig, log_dir: Path, timeout: float, start_timeout: float = 120.0
    ) -> None:
        """Follow the configuration: new servers are added (not started), removed or changed
        ones are stopped. Problems are said once each."""
        self.timeout = max(0.1, float(timeout))
        self.start_timeout = max(0.1, float(start_timeout))
        self.problems = list(loaded.problems)
        for problem in self.problems:
            self._tell(problem)
        for name, connection in list(self.connections.items()):
            wanted = loaded.servers.get(name)
            if wanted != connection.config:
                connection.close()
                del self.connections[name]
                self._tools.pop(name, None)
        for name, config in loaded.servers.items():
            if name not in self.connections:
                self.connections[name] = ServerConnection(config, log_path(log_dir, config))

    def start(self) -> None:
        """Start the servers not started yet, side by side, and wait (bounded by the start
        timeout).
        A server whose start failed is not retried here: a call to one of its tools, a change
        of its configuration or `%agent mcp reload` tries again."""
        waiting = [
            c.start(self.start_timeout)
            for c in self.connections.values()
            if c.state == "not started"
        ]
        if not waiting:
            return
        concurrent.futures.wait(waiting, timeout=self.start_timeout + STOP_GRACE)
        for future in waiting:
            error = future.exception(timeout=0) if future.done() else None
            if isinstance(error, ServerFailure):
                self._tell(
                    f"{error.for_user()}. Its tools are left out; %agent mcp shows the "
                    "servers, %agent mcp reload tries again."
                )

    # -- the tools --------------------------------------------------------------------------
    def tools(self, taken: Container[str] = ()) -> list[Tool]:
        """The tools of every server that has listed them, named `server__tool`; a name the
        kernel already has keeps the kernel's tool."""
        found: list[Tool] = []
        names: set[str] = set()
        for connection in self.connections.values():
            for t in self._tools_of(connection):
                if t.name in taken or t.name in names:
                    self._tell(f"MCP tool {t.name} is left out: another tool has that name")
                    continue
                names.add(t.name)
                found.append(t)
        return found

    def _tools_of(self, connection: ServerConnection) -> list[Tool]:
        cached = self._tools.get(connection.name)
        if cached is not None and cached[0] == connection.starts:
            return cached[1]
        made: list[Tool] = []
        names: list[str] = []
        for spec in connection.tools:
            if not isinstance(spec, dict) or not spec.get("name"):
                continue
            name = tool_name(connection.config.prefix, str(spec["name"]), names)
            names.append(name)
            try:
                made.append(
                    MCPTool(
                        connection,
                        spec,
                        name,
                        timeout=lambda: (self.timeout, self.start_timeout),
                        notify=self.notify,
                    )
                )
            except Exception as exc:  # a schema or name the agent cannot use
                self._tell(f"MCP tool {spec['name']!r} of {connection.name!r} is left out: {exc}")
        self._tools[connection.name] = (connection.starts, made)
        return made

    # -- for %agent mcp ---------------------------------------------------------------------
    def rows(self) -> list[tuple[str, str, str, str]]:
        """(server, state, tools, log or last error) per server, then configuration problems."""
        rows = []
        for connection in self.connections.values():
            tools = ", ".join(t.name for t in self._tools_of(connection)) or "-"
            state = connection.state
            if state == "stopped":
                state = "stopped (restarts on next use)"
            where = str(connection.log_path)
            detail = f"{connection.last_error}; log: {where}" if connection.last_error else where
            rows.append((connection.name, state, tools, detail))
        rows.extend(("(configuration)", "error", "-", problem) for problem in self.problems)
        return rows

    def reload(self) -> None:
        """Stop every server and start them again (after the caller synced the config)."""
        futures = [c.close() for c in self.connections.values()]
        concurrent.futures.wait(futures, timeout=STOP_GRACE)
        configs = {name: c.config for name, c in self.connections.items()}
        log_paths = {name: c.log_path for name, c in self.connections.items()}
        self.connections = {
            name: ServerConnection(config, log_paths[name]) for name, config in configs.items()
        }
        self._tools.clear()
        self._told.clear()
        self.start()

    def close(self, wait: bool = False) -> None:
        futures = [c.close() for c in self.connections.values()]
        self.connections.clear()
        self._tools.clear()
        if wait:
            concurrent.futures.wait(futures, timeout=STOP_GRACE)

    def _tell(self, text: str) -> None:
        if text not in self._told:
            self._told.add(text)
            self.notify(text)


def log_path(log_dir: Path, config: ServerConfig) -> Path:
    return log_dir / f"mcp-{config.prefix}.log"
