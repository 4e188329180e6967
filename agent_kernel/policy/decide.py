"""The single decision point every tool call passes through.

For now every call is allowed; rules, modes, taint and approvals plug in here, so the loop
does not change when they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from agent_kernel.tools.base import Tool

Action = Literal["allow", "ask", "deny"]


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


class Policy:
    """Decides whether a tool call may run."""

    def decide(self, tool: Tool, arguments: dict[str, Any]) -> Decision:
        return Decision("allow", "no permission rules are configured yet")
