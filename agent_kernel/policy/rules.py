"""Permission rules: a tool name pattern, argument patterns, and what to do when they match.

    {"tool": "run_python", "action": "deny", "when": {"code": "os\\.system|subprocess"},
     "reason": "no shell commands from the agent"}

`tool` is a glob (`github__*`); each `when` entry is a regular expression searched in that
argument (as text; other values as JSON); every entry must match. The first matching rule
wins.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agent_kernel.errors import AgentError

Action = Literal["allow", "ask", "deny"]
ACTIONS: tuple[Action, ...] = ("allow", "ask", "deny")


class RuleError(AgentError):
    """A rule that cannot be understood; says which part and how to write it."""


@dataclass(frozen=True)
class Rule:
    tool: str
    action: Action
    when: tuple[tuple[str, str], ...] = ()
    reason: str = ""
    source: str = "config"  # admin FILE | config | session | approval card
    _patterns: tuple[tuple[str, re.Pattern[str]], ...] = field(
        default=(), compare=False, repr=False
    )

    @classmethod
    def parse(cls, value: Mapping[str, Any] | Rule, source: str = "config") -> Rule:
        if isinstance(value, Rule):
            return value
        if not isinstance(value, Mapping):
            raise RuleError(
                f"a rule is a dict such as {{'tool': 'sql', 'action': 'allow'}}, not {value!r}"
            )
        unknown = set(value) - {"tool", "action", "when", "reason"}
        if unknown:
            names = ", ".join(sorted(unknown))
            raise RuleError(f"unknown rule key(s) {names}; use tool, action, when, reason")
        action = value.get("action")
        if action not in ACTIONS:
            raise RuleError(f"a rule's action is allow, ask or deny, not {action!r}")
        tool = value.get("tool")
        if not isinstance(tool, str) or not tool:
            raise RuleError("a rule needs a tool name or pattern, e.g. 'run_python' or 'github__*'")
        when = value.get("when") or {}
        if not isinstance(when, Mapping):
            raise RuleError("a rule's 'when' maps argument names to regular expressions")
        patterns = []
        for argument, pattern in when.items():
            try:
                patterns.append((str(argument), re.compile(str(pattern))))
            except re.error as exc:
                raise RuleError(f"bad pattern for {argument!r} in a {tool} rule: {exc}") from None
        return cls(
            tool=tool,
            action=action,
            when=tuple((a, p.pattern) for a, p in patterns),
            reason=str(value.get("reason") or ""),
            source=source,
            _patterns=tuple(patterns),
        )

    def matches(self, tool: str, arguments: Mapping[str, Any]) -> bool:
        if not fnmatch.fnmatchcase(tool, self.tool):
            return False
        for argument, pattern in self._patterns:
            if argument not in arguments:
                return False
            value = arguments[argument]
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            if not pattern.search(text):
                return False
        return True

    def describe(self) -> str:
        """`deny run_python when code ~ os\\.system` (no source)."""
        conditions = " and ".join(f"{a} ~ /{p}/" for a, p in self.when)
        text = f"{self.action} {self.tool}" + (f" when {conditions}" if conditions else "")
        return text + (f" ({self.reason})" if self.reason else "")

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"tool": self.tool, "action": self.action}
        if self.when:
            data["when"] = dict(self.when)
        if self.reason:
            data["reason"] = self.reason
        return data

    def loosens(self, other: Rule) -> bool:
        """Whether this rule would allow more than `other` for a call both could match."""
        order = {"deny": 0, "ask": 1, "allow": 2}
        overlap = fnmatch.fnmatchcase(self.tool, other.tool) or fnmatch.fnmatchcase(
            other.tool, self.tool
        )
        return overlap and order[self.action] > order[other.action]
