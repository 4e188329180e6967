"""Tools: typed Python functions the model may call, each declaring its effects."""

from agent_kernel.tools.base import Tool, ToolContext, ToolError, ToolResult, tool
from agent_kernel.tools.registry import ToolRegistry, default_registry

__all__ = [
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "default_registry",
    "tool",
]
