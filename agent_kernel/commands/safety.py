"""Commands about permissions: the policy in effect, approvals, and the audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from agent_kernel.commands.registry import CommandParser, command

if TYPE_CHECKING:
    from agent_kernel.runtime.kernel_agent import KernelAgent

POLICY_USAGE = (
    "%agent policy [mode ask|auto|read-only | allow|ask|deny TOOL [ARG~REGEX ...] "
    "[--reason TEXT] | reset]"
)


@command("policy", POLICY_USAGE, "the rules in effect and where each came from; change them")
def policy_command(agent: KernelAgent, args: list[str]) -> Any:
    from agent_kernel.policy.rules import ACTIONS

    if not args:
        return policy_table(agent)
    verb, rest = args[0], args[1:]
    if verb == "mode":
        if len(rest) != 1 or rest[0] not in ("ask", "auto", "read-only"):
            raise UsageError(f"usage: %agent policy mode ask|auto|read-only. {POLICY_USAGE}")
        agent.policy.set_mode(rest[0])
        print(f"Mode for this session: {rest[0]}.")
        return None
    if verb == "reset":
        agent.policy.session_rules.clear()
        agent.policy.session_mode = None
        print("Session rules and mode cleared; the configured policy applies.")
        return None
    if verb in ACTIONS:
        rule = _session_rule(verb, rest)
        agent.policy.add_rule(rule)
        print(f"Added for this session, checked first: {rule.describe()}.")
        return None
    raise UsageError(f"unknown policy command {verb!r}. Usage: {POLICY_USAGE}")


def _session_rule(action: str, words: list[str]) -> Any:
    from agent_kernel.policy.rules import Rule

    parser = CommandParser(POLICY_USAGE, prog="%agent policy")
    parser.add_argument("tool")
    parser.add_argument("conditions", nargs="*")
    parser.add_argument("--reason", default="")
    options = parser.parse_args(words)
    when = {}
    for condition in options.conditions:
        if "~" not in condition:
            raise UsageError(
                f"a condition is ARG~REGEX, such as code~os\\.system, not {condition!r}"
            )
        name, pattern = condition.split("~", 1)
        when[name] = pattern
    value = {"tool": options.tool, "action": action, "when": when, "reason": options.reason}
    return Rule.parse(value, "session")


def policy_table(agent: KernelAgent) -> Any:
    from agent_kernel.ui.display import Table

    policy = agent.policy
    mode_source = (
        f"admin {policy.admin.paths[0]}"
        if policy.admin.mode
        else "session"
        if policy.session_mode
        else "%config"
        if "mode" in (policy.settings.config.get("Policy") or {})
        else "default"
    )
    rows = []
    for number, rule in enumerate(policy.rules(), start=1):
        admin = rule.source.startswith("admin")
        shadow = None if admin else policy.shadowing_admin_rule(rule)
        note = f"never applies: admin rule '{shadow.describe()}' comes first" if shadow else ""
        rows.append((str(number), rule.describe(), rule.source, note))
    rows.append(("-", "reads: allow", "default", ""))
    rows.append(("-", "execute, write, external: ask (auto mode: allow)", "default", ""))
    title = (
        f"Mode: {policy.mode} (from {mode_source}); unattended runs: {policy.unattended}; "
        f"approvals wait {policy.approval_timeout:.0f} s. {sandbox_line(agent)} Untrusted "
        "content in view turns an allowed effect into ask. First matching rule wins:"
    )
    if policy.admin.error:
        title = policy.admin.error + "\n" + title
    return Table(["#", "rule", "from", "note"], rows, title=title)


def sandbox_line(agent: KernelAgent) -> str:
    """One sentence on where agent code runs and what confines it."""
    source = f"admin {agent.policy.admin.paths[0]}" if agent.policy.admin.sandbox else "Agent"
    if agent.sandbox == "off":
        return f"Sandbox: off (from {source}.sandbox): agent code runs in the kernel itself."
    from agent_kernel.sandbox import landlock

    abi = landlock.abi_version()
    writes = f"Landlock ABI {abi}" if abi else "audit-hook guard (weaker)"
    return (
        f"Sandbox: fork (from {source}.sandbox): agent code runs in a copy of the kernel with "
        f"no network and no secrets; writes limited by {writes}; changed variables come back "
        "as a diff, asked for when untrusted content is in view."
    )


PROMOTE_USAGE = "%agent promote [NAME ...]"


@command("promote", PROMOTE_USAGE, "bring held sandbox variables into the namespace")
def promote_command(agent: KernelAgent, args: list[str]) -> None:
    from agent_kernel.tools.sandboxed import apply_changes

    held = agent.held_variables
    if not held:
        print("No sandbox changes are waiting: each run's variables were promoted or none changed.")
        return
    names = args or list(held)
    unknown = [n for n in names if n not in held]
    if unknown:
        raise UsageError(f"not held: {', '.join(unknown)}; held: {', '.join(held)}")
    applied = apply_changes(agent.user_ns, [held.pop(n) for n in names])
    print(f"Promoted into your namespace: {', '.join(applied) or 'nothing'}.")


@command("approvals", "%agent approvals", "approvals asked for in this project, pending first")
def approvals_command(agent: KernelAgent, args: list[str]) -> Any:
    from agent_kernel.memory.approvals import ApprovalLog

    if args:
        raise UsageError("%agent approvals takes no arguments")
    return ApprovalLog(agent.require_memory().store).table()


@command("approve", "%agent approve ID", "approve a waiting call (also one from before a restart)")
def approve_command(agent: KernelAgent, args: list[str]) -> Any:
    from agent_kernel.memory.paths import user_name
    from agent_kernel.runtime.approval import ApprovalDecision

    if len(args) != 1:
        raise UsageError("usage: %agent approve ID (%agent approvals lists them)")
    if agent.answer_live(args[0], ApprovalDecision(True, user_name(), "magic")):
        print(f"Approved {args[0]}; the run goes on in its cell.")
        return None
    approval = agent.recorded_approval(args[0])
    print(f"Approved {approval.id} ({approval.tool}) from before the restart; continuing its run.")
    return _raise_on_error(agent.resume_approved(approval))


@command("deny", "%agent deny ID [REASON]", "deny a waiting call; the reason goes to the model")
def deny_command(agent: KernelAgent, args: list[str]) -> None:
    from agent_kernel.memory.paths import user_name
    from agent_kernel.runtime.approval import ApprovalDecision

    if not args:
        raise UsageError("usage: %agent deny ID [REASON] (%agent approvals lists them)")
    reason = " ".join(args[1:]) or "denied with %agent deny"
    if agent.answer_live(args[0], ApprovalDecision(False, user_name(), "magic", reason)):
        print(f"Denied {args[0]}; the agent is told why.")
        return
    approval = agent.deny_recorded(args[0], reason)
    print(f"Denied {approval.id} ({approval.tool}); the next %%agent cell continues the session.")


AUDIT_USAGE = "%agent audit [--all] [--verify] [--limit N]"


@command(
    "audit",
    AUDIT_USAGE,
    "this notebook's decisions and approvals (a DataFrame); --all: every event of the "
    "project; --verify checks the chain",
)
def audit_command(agent: KernelAgent, args: list[str]) -> Any:
    from agent_kernel.commands.registry import positive_int
    from agent_kernel.memory.audit import audit_table, verify

    parser = CommandParser(AUDIT_USAGE, prog="%agent audit")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--verify", action="store_true")
    parser.add_argument("--limit", type=positive_int, default=1000)
    options = parser.parse_args(args)
    memory = agent.require_memory()
    if options.verify:
        report = verify(memory.store)
        print(report.summary())
        return None
    notebook = memory.paths.notebook
    return audit_table(memory.store, notebook, everything=options.all, limit=options.limit)


async def _raise_on_error(run: Any) -> None:
    """Await a resumed run; a failed one ends the cell with its one-line error."""
    result = await run
    if result.error is not None:
        raise result.error
