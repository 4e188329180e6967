"""`%config Policy.*`: the user's permission settings (an administrator's locked ones are in
admin.py and win over these)."""

from __future__ import annotations

from typing import Any

from traitlets import Enum, Float, List, TraitError, validate
from traitlets.config import Configurable

from agent_kernel.policy.rules import Rule, RuleError

MODES = ("ask", "auto", "read-only")


class Policy(Configurable):
    """What the agent may do without asking."""

    mode = Enum(
        MODES,
        "ask",
        help="ask: effects (code, writes, network) need approval; auto: effects run unless a "
        "rule or untrusted content says otherwise; read-only: no effects at all.",
    ).tag(config=True)
    rules: List[Any] = List(
        help="Rules, first match wins: [{'tool': 'run_python', 'action': 'deny', "
        "'when': {'code': 'os\\\\.system'}, 'reason': '...'}, {'tool': 'sql', 'action': 'allow'}]",
    ).tag(config=True)
    unattended = Enum(
        ("deny", "allow"),
        "deny",
        help="What an unattended run (AGENT_KERNEL_UNATTENDED=1: nbclient, papermill, CI) does "
        "where a person would be asked.",
    ).tag(config=True)
    approval_timeout = Float(
        1800.0, min=1.0, help="Seconds an approval waits for a person before it is denied."
    ).tag(config=True)

    @validate("mode", "unattended")
    def _not_during_a_run(self, proposal: Any) -> Any:
        from agent_kernel.policy.guard import check

        name = proposal["trait"].name
        check(name, getattr(self, name), proposal["value"])
        return proposal["value"]

    @validate("rules")
    def _valid_rules(self, proposal: Any) -> list[Any]:
        from agent_kernel.policy.guard import check

        check("rules", list(self.rules), list(proposal["value"]))
        for value in proposal["value"]:
            try:
                Rule.parse(value)
            except RuleError as exc:
                raise TraitError(str(exc)) from None
        return list(proposal["value"])
