"""The set of tools a run may offer the model: built-ins plus the user's own."""

from __future__ import annotations

from collections.abc import Iterator

from agent_kernel.tools.base import Tool

_DEFAULT: ToolRegistry | None = None


class ToolRegistry:
    """Tools by name; later registrations replace earlier ones of the same name."""

    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools or []:
            self.add(t)

    def add(self, t: Tool) -> Tool:
        self._tools[t.name] = t
        return t

    def remove(self, name: str) -> None:
        self._tools.pop(name, None)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def openai_schemas(self) -> list[dict]:
        return [t.openai_schema() for t in self._tools.values()]

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools


def default_registry() -> ToolRegistry:
    """The process-wide registry: built-in tools, then whatever `@tool` registers."""
    global _DEFAULT
    if _DEFAULT is None:
        from agent_kernel.tools.builtins import builtin_tools

        _DEFAULT = ToolRegistry(builtin_tools())
    return _DEFAULT
