"""The single decision point every tool call passes through: allow, ask or deny, and why.

Order: the administrator's rules; read-only mode; the session's rules (`%agent policy`, the
approval card's "always allow"); the `%config Policy.rules`; then the defaults (reads allowed;
effects asked in ask mode, allowed in auto mode). Last, taint: when untrusted content is in
the context, a call with effects that would be allowed is asked instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agent_kernel.errors import AgentError
from agent_kernel.policy.admin import AdminPolicy
from agent_kernel.policy.rules import Action, Rule
from agent_kernel.policy.settings import Policy
from agent_kernel.tools.base import Tool


class PolicyLockedError(AgentError):
    """A change the administrator's policy does not allow from the notebook."""


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    source: str = "default"  # admin FILE | session | config | approval card | mode | default
    rule: str = ""
    taint: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


def has_effects(tool: Tool) -> bool:
    return any(effect != "read" for effect in tool.effects)


class DecisionPoint:
    """Decides whether a tool call may run, from the admin policy, the settings and the
    session's own rules."""

    def __init__(self, settings: Policy | None = None, admin: AdminPolicy | None = None) -> None:
        self.settings = settings or Policy()
        self.admin = admin or AdminPolicy()
        self.session_rules: list[Rule] = []
        self.session_mode: str | None = None

    # -- effective settings -----------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.admin.mode or self.session_mode or self.settings.mode

    @property
    def unattended(self) -> str:
        return self.admin.unattended or self.settings.unattended

    @property
    def approval_timeout(self) -> float:
        return self.admin.approval_timeout or self.settings.approval_timeout

    def config_rules(self) -> list[Rule]:
        return [Rule.parse(r, "config") for r in self.settings.rules]

    def rules(self) -> list[Rule]:
        """Every rule in the order they are checked."""
        return [*self.admin.rules, *self.session_rules, *self.config_rules()]

    def shadowing_admin_rule(self, rule: Rule) -> Rule | None:
        """The admin rule that keeps `rule` from loosening anything, if there is one."""
        return next((a for a in self.admin.rules if rule.loosens(a)), None)

    # -- changes from the notebook ----------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        from agent_kernel.policy.guard import check

        try:
            check("mode", self.mode, mode)
        except Exception as exc:
            raise PolicyLockedError(str(exc)) from None
        if self.admin.mode and mode != self.admin.mode:
            raise PolicyLockedError(
                f"the administrator locked the mode to {self.admin.mode!r} "
                f"({self.admin.paths[0]}); it cannot be changed from the notebook"
            )
        self.session_mode = mode

    def add_rule(self, rule: Rule) -> None:
        """A session rule, checked before the configured ones."""
        from agent_kernel.policy.guard import active

        if active() and rule.action != "deny" and rule.source != "approval card":
            raise PolicyLockedError(
                f"'{rule.describe()}' cannot be added while an agent run is active; add it in "
                "a cell after the run ends"
            )
        locked = self.shadowing_admin_rule(rule)
        if locked is not None:
            raise PolicyLockedError(
                f"the administrator's rule '{locked.describe()}' ({locked.source}) is locked; "
                f"'{rule.describe()}' would loosen it, so it is not added"
            )
        self.session_rules.insert(0, rule)

    # -- the decision -----------------------------------------------------------------------
    def decide(
        self, tool: Tool, arguments: Mapping[str, Any], taint: Sequence[str] = ()
    ) -> Decision:
        decision = self._by_rules(tool, arguments)
        effects = has_effects(tool)
        if effects and self.mode == "read-only" and decision.action != "deny":
            decision = Decision("deny", "read-only mode: no code, writes or network", "mode")
        # The person deciding is told what untrusted content is in view, whatever made the
        # call an ask: each source once, in the order given (the context puts the newest
        # tool results first).
        recent = tuple(s for s in dict.fromkeys(taint) if s not in tool.self_descriptions)
        if (effects or tool.leaves_the_kernel) and recent and decision.action == "allow":
            more = f" and {len(recent) - 3} more" if len(recent) > 3 else ""
            sources = ", ".join(recent[:3]) + more
            what = "its arguments leave the kernel and " if tool.leaves_the_kernel else ""
            decision = Decision(
                "ask",
                f"{what}untrusted content is in the context ({sources}); a person decides",
                "taint",
                decision.rule,
                recent,
            )
        elif recent and decision.action != "allow":
            decision = replace(decision, taint=recent)
        return decision

    def _by_rules(self, tool: Tool, arguments: Mapping[str, Any]) -> Decision:
        for rule in self.rules():
            if rule.matches(tool.name, arguments):
                reason = rule.reason or f"rule: {rule.describe()}"
                return Decision(rule.action, reason, rule.source, rule.describe())
        if not has_effects(tool):
            return Decision("allow", "reading is allowed")
        effects = ", ".join(tool.effects)
        if self.mode == "auto":
            return Decision("allow", f"auto mode allows {effects}", "mode")
        return Decision("ask", f"{tool.name} has effects ({effects}); ask mode", "mode")
