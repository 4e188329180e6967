"""Which MCP servers to start and with what environment: `Agent.mcp_servers` and `.agent/mcp.json`.

Both use the common shape `{"name": {"command": ..., "args": [...], "env": {...}}}` (the file
wraps it in `{"mcpServers": ...}`); `%config` wins over the file for a name in both. A server
gets an allow-listed environment, never the kernel's whole one: PATH, HOME, locale and temp
folders and a few OS essentials, plus exactly the variables its `env` names. Values there may
refer to the kernel's environment as `${VAR}`, so a token is named, not pasted.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_kernel.errors import AgentConfigError

PROJECT_FILE = Path(".agent") / "mcp.json"
SETTING = "%config Agent.mcp_servers"

# What every server may see of the kernel's environment. Credentials are never on this list:
# a server that needs one names it in its `env`.
ALLOWED_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    # Windows essentials: without them Python, Node and DNS do not start.
    "SYSTEMROOT",
    "SYSTEMDRIVE",
    "WINDIR",
    "COMSPEC",
    "PATHEXT",
    "USERPROFILE",
    "HOMEDRIVE",
    "HOMEPATH",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "PROGRAMFILES",
)
ALLOWED_ENV_PREFIXES = ("LC_",)
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")


class MCPConfigError(AgentConfigError):
    """A server entry that cannot be used as written; says which and how to fix it."""


@dataclass(frozen=True)
class ServerConfig:
    """One stdio server as configured. Equal configs mean the running server can be kept."""

    name: str
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # as written, `${VAR}` unresolved
    cwd: str | None = None
    source: str = SETTING

    @property
    def prefix(self) -> str:
        """The server's part of its tools' names: `github` in `github__search_issues`."""
        return _UNSAFE_NAME.sub("_", self.name)[:32]

    def environment(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment the server process gets: the allow-list plus its own `env`.

        Raises MCPConfigError when a `${VAR}` it names is not set in the kernel."""
        environ = os.environ if environ is None else environ
        env = {
            key: value
            for key, value in environ.items()
            if key.upper() in ALLOWED_ENV or key.upper().startswith(ALLOWED_ENV_PREFIXES)
        }
        for key, value in self.env:
            env[key] = _expand(value, key, environ)
        return env

    def describe(self) -> str:
        return " ".join([self.command, *self.args])


@dataclass
class LoadedConfig:
    servers: dict[str, ServerConfig] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def load(settings_servers: Mapping[str, Any], project_dir: Path) -> LoadedConfig:
    """The servers from the project file and the setting (the setting wins on a name)."""
    loaded = LoadedConfig()
    path = project_dir / PROJECT_FILE
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            loaded.problems.append(f"{path} is not readable JSON ({exc}); its servers are off")
            data = {}
        if not isinstance(data, dict) or not isinstance(data.get("mcpServers", {}), dict):
            loaded.problems.append(
                f'{path} must hold {{"mcpServers": {{"name": {{"command": ...}}}}}}; '
                "its servers are off"
            )
        else:
            _add(loaded, data.get("mcpServers", {}), str(path))
    _add(loaded, settings_servers, SETTING)
    prefixes: dict[str, str] = {}
    for name, server in list(loaded.servers.items()):
        other = prefixes.setdefault(server.prefix, name)
        if other != name:
            del loaded.servers[name]
            loaded.problems.append(
                f"MCP servers {other!r} and {name!r} would share the tool prefix "
                f"{server.prefix!r}; {name!r} is off. Rename one of them"
            )
    return loaded


def _add(loaded: LoadedConfig, servers: Mapping[str, Any], source: str) -> None:
    for name, entry in servers.items():
        try:
            server = parse_server(str(name), entry, source)
        except MCPConfigError as exc:
            loaded.servers.pop(str(name), None)
            loaded.problems.append(str(exc))
            continue
        if server is None:  # disabled
            loaded.servers.pop(str(name), None)
        else:
            loaded.servers[server.name] = server


def parse_server(name: str, entry: Any, source: str = SETTING) -> ServerConfig | None:
    """One entry in the common shape; None when it says `"disabled": true`."""
    where = f"MCP server {name!r} ({source})"
    if not name or not _UNSAFE_NAME.sub("", name):
        raise MCPConfigError(f"{where}: a server needs a name with letters or digits")
    if not isinstance(entry, Mapping):
        raise MCPConfigError(f'{where}: expected {{"command": ..., "args": [...]}}, not {entry!r}')
    if entry.get("disabled"):
        return None
    if "url" in entry or entry.get("type", "stdio") != "stdio":
        raise MCPConfigError(f"{where}: only stdio servers (a command to run) are supported")
    command = entry.get("command")
    if not isinstance(command, str) or not command.strip():
        raise MCPConfigError(f'{where}: "command" must name the program to run, e.g. "npx"')
    args = entry.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args):
        raise MCPConfigError(f'{where}: "args" must be a list of strings')
    env = entry.get("env", {}) or {}
    if not isinstance(env, Mapping) or not all(
        isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in env.items()
    ):
        raise MCPConfigError(f'{where}: "env" must map names to strings, e.g. "${{GITHUB_TOKEN}}"')
    cwd = entry.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise MCPConfigError(f'{where}: "cwd" must be a folder path')
    return ServerConfig(
        name=name,
        command=command,
        args=tuple(str(a) for a in args),
        env=tuple((k, str(v)) for k, v in env.items()),
        cwd=cwd,
        source=source,
    )


def _expand(value: str, key: str, environ: Mapping[str, str]) -> str:
    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise MCPConfigError(
                f"its env {key} refers to ${{{name}}}, which is not set in the kernel's "
                f"environment (set it, e.g. os.environ[{name!r}] = ..., then %agent mcp reload)"
            )
        return environ[name]

    return _REFERENCE.sub(lookup, value)
