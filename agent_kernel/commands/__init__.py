"""The `%agent` subcommands, grouped by concern; importing this package registers them all."""

from agent_kernel.commands import basics, fix, mcp, memory, safety, store, trace
from agent_kernel.commands.registry import COMMANDS, Command, CommandParser

__all__ = [
    "COMMANDS",
    "Command",
    "CommandParser",
    "basics",
    "fix",
    "mcp",
    "memory",
    "safety",
    "store",
    "trace",
]
