"""The decision point, its rules and modes, the locked admin policy, and unattended runs."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.memory.audit import EventRow
from agent_kernel.memory.writer import StepWriter
from agent_kernel.policy.admin import load_admin_policy
from agent_kernel.policy.decide import DecisionPoint, PolicyLockedError
from agent_kernel.policy.rules import Rule, RuleError
from agent_kernel.policy.settings import Policy
from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from agent_kernel.tools.base import tool
from tests.conftest import agent_of


@tool(effects="read", register=False)
def peek() -> str:
    """Reads something."""
    return "x"


@tool(effects="execute", register=False)
def act(code: str) -> str:
    """Runs something."""
    return code


@tool(register=False)
def undeclared() -> str:
    """Declares no effects."""
    return ""


def decide(point: DecisionPoint, t: Any, taint: tuple[str, ...] = (), **arguments: Any) -> str:
    return point.decide(t, arguments, taint).action


@pytest.mark.unit
def test_defaults_modes_and_taint() -> None:
    point = DecisionPoint(Policy())
    assert (decide(point, peek), decide(point, act, code="1"), decide(point, undeclared)) == (
        "allow",
        "ask",
        "ask",  # a tool that declares nothing is treated as having effects
    )
    point.set_mode("auto")
    assert decide(point, act, code="1") == "allow"
    tainted = point.decide(act, {"code": "1"}, ("result of sql",))
    assert tainted.action == "ask" and "untrusted content" in tainted.reason
    assert tainted.taint == ("result of sql",)
    assert decide(point, peek, ("result of sql",)) == "allow"  # reading stays allowed
    point.set_mode("read-only")
    assert decide(point, act, code="1") == "deny" and decide(point, peek) == "allow"


@pytest.mark.unit
def test_rules_first_match_wins_with_argument_patterns() -> None:
    settings = Policy(
        rules=[
            {
                "tool": "act",
                "action": "deny",
                "when": {"code": r"os\.system"},
                "reason": "no shell",
            },
            {"tool": "act", "action": "allow", "when": {"code": r"^print\("}},
            {"tool": "pe*", "action": "ask"},
        ]
    )
    point = DecisionPoint(settings)
    denied = point.decide(act, {"code": "import os; os.system('rm')"})
    assert (denied.action, denied.reason, denied.source) == ("deny", "no shell", "config")
    assert decide(point, act, code="print(1)") == "allow"
    assert decide(point, act, code="x = 1") == "ask"
    assert decide(point, peek) == "ask"  # glob on the tool name
    # Taint still raises a rule's allow to ask.
    assert point.decide(act, {"code": "print(1)"}, ("a file",)).action == "ask"
    point.add_rule(Rule.parse({"tool": "act", "action": "allow"}, "session"))
    assert decide(point, act, code="x = 1") == "allow"  # session rules come before %config


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"tool": "act", "action": "maybe"}, "action is allow, ask or deny"),
        ({"tool": "act", "action": "deny", "when": {"code": "("}}, "bad pattern for 'code'"),
        ({"tol": "act", "action": "deny"}, "unknown rule key(s) tol"),
        ("deny act", "a rule is a dict"),
    ],
)
@pytest.mark.unit
def test_bad_rules_are_refused_in_one_line(rule: Any, message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Rule.parse(rule)


def test_policy_commands_show_and_change_rules(
    shell: InteractiveShell, caplog: pytest.LogCaptureFixture
) -> None:
    shell.run_cell("%config Policy.rules = [{'tool': 'sql', 'action': 'allow'}]")
    shell.run_line_magic("agent", r"policy deny run_python code~os\.system --reason 'no shell'")
    shell.run_line_magic("agent", "policy mode auto")
    table = repr(shell.run_line_magic("agent", "policy"))
    assert table.startswith("Mode: auto (from session)")
    lines = table.splitlines()
    assert any(
        "deny run_python when code ~ /os\\.system/ (no shell)" in ln and "session" in ln
        for ln in lines
    )
    assert any("allow sql" in ln and "config" in ln for ln in lines)
    point = agent_of(shell).policy
    assert (
        point.decide(agent_of(shell).tools.get("run_python"), {"code": "os.system('x')"}).action
        == "deny"
    )
    result = shell.run_cell("%agent policy mode sometimes")
    assert "usage: %agent policy mode ask|auto|read-only" in str(result.error_in_exec)
    with caplog.at_level(logging.ERROR):
        shell.run_cell("%config Policy.rules = [{'tool': 'x', 'action': 'nope'}]")
    assert "a rule's action is allow, ask or deny, not 'nope'" in caplog.text  # one line
    assert [r["tool"] for r in agent_of(shell).policy.settings.rules] == ["sql"]  # kept
    shell.run_line_magic("agent", "policy reset")
    assert agent_of(shell).policy.mode == "ask"


@pytest.fixture
def admin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "etc-jupyter"
    folder.mkdir()
    monkeypatch.setattr("agent_kernel.policy.admin.admin_config_dirs", lambda: [str(folder)])
    return folder


def test_admin_rules_and_mode_are_locked(
    shell: InteractiveShell, admin_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (admin_dir / "agent_kernel_policy.json").write_text(
        json.dumps(
            {
                "mode": "ask",
                "rules": [{"tool": "run_python", "action": "ask", "reason": "code is reviewed"}],
            }
        )
    )
    shell.magics_manager.registry["AgentMagics"]._agent = None
    loosen = shell.run_cell("%agent policy allow run_python")
    assert isinstance(loosen.error_in_exec, PolicyLockedError)
    assert "administrator's rule 'ask run_python (code is reviewed)'" in str(loosen.error_in_exec)
    mode = shell.run_cell("%agent policy mode auto")
    assert "locked the mode to 'ask'" in str(mode.error_in_exec)
    shell.run_cell("%config Policy.mode = 'auto'")
    shell.run_cell("%config Policy.rules = [{'tool': 'run_python', 'action': 'allow'}]")
    point = agent_of(shell).policy
    assert point.mode == "ask"
    run_python = agent_of(shell).tools.get("run_python")
    decision = point.decide(run_python, {"code": "1"})
    assert (decision.action, decision.source) == (
        "ask",
        f"admin {admin_dir / 'agent_kernel_policy.json'}",
    )
    table = repr(shell.run_line_magic("agent", "policy"))
    assert "Mode: ask (from admin" in table
    assert "never applies: admin rule 'ask run_python (code is reviewed)' comes first" in table


@pytest.mark.unit
def test_an_unreadable_admin_policy_fails_closed(admin_dir: Path) -> None:
    (admin_dir / "agent_kernel_policy.json").write_text("{not json")
    policy = load_admin_policy([str(admin_dir)])
    assert policy.mode == "read-only" and "cannot be read" in policy.error
    assert DecisionPoint(Policy(mode="auto"), policy).decide(act, {"code": "1"}).action == "deny"


def test_unattended_runs_decide_by_rule_and_say_how_to_allow(
    shell: InteractiveShell,
    server: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AGENT_KERNEL_UNATTENDED", "1")
    server.add(
        Reply(tool_calls=[ToolCall("run_python", {"code": "unattended_ran = True"})]),
        Reply(text="I could not run it."),
    )
    shell.run_cell("%%agent\nRun it.")
    out = capsys.readouterr().out
    assert (
        "⊘ run_python: denied by unattended rule: unattended run: Policy.unattended = 'deny'" in out
    )
    assert "%config Policy.unattended = 'allow'" in out
    assert "unattended_ran" not in shell.user_ns
    told = server.requests[1].body["messages"][-1]["content"]
    assert told.startswith("Error: the user did not approve this call: unattended run")
    audit = shell.run_line_magic("agent", "audit")
    decided = audit[audit.kind == "approval_decided"].iloc[0]
    assert (decided.decision, decided.by) == ("denied", "unattended rule")


def record_pending(shell: InteractiveShell, requested: dt.datetime, timeout: float) -> str:
    """An approval request on record, as a run that stopped while waiting leaves it."""
    memory = agent_of(shell).require_memory()
    session = memory.open_session("Compute it.")
    session.conversation.append({"role": "user", "content": "Compute it."})
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "run_python", "arguments": '{"code": "x = 1"}'},
    }
    session.conversation.append({"role": "assistant", "content": None, "tool_calls": [call]})
    writer = StepWriter(memory.store)
    data = {
        "approval_id": "apr_old",
        "tool": "run_python",
        "call_id": "c1",
        "arguments": {"code": "x = 1"},
        "reason": "ask mode",
        "taint": [],
        "timeout": timeout,
    }
    writer.add_event(
        EventRow(session.id, "run_old", 1, "approval_requested", json.dumps(data), requested)
    )
    assert writer.sync() and memory.writer.sync()  # in the store, as a stopped kernel's are
    shell.magics_manager.registry["AgentMagics"]._agent = None  # a restart
    return session.id


def test_an_expired_approval_is_refused_and_recorded(shell: InteractiveShell) -> None:
    record_pending(shell, dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2), 60)
    result = shell.run_cell("%agent approve apr_old")
    assert "apr_old (run_python) was not run: expired: it waited longer than 60 s" in str(
        result.error_in_exec
    )
    table = shell.run_line_magic("agent", "approvals")
    assert table.set_index("id").loc["apr_old", "state"] == "denied"
    assert "x" not in shell.user_ns


def test_a_new_request_supersedes_an_approval_left_by_a_stopped_kernel(
    shell: InteractiveShell,
    server: ScriptedServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A named notebook continues its session after a restart (an unnamed one starts anew).
    monkeypatch.setenv("JPY_SESSION_NAME", "analysis.ipynb")
    record_pending(shell, dt.datetime.now(dt.timezone.utc), 3600)
    server.add(Reply(text="Fresh answer."))
    shell.run_cell("%%agent\nSomething else.")
    out = capsys.readouterr().out
    assert "run_python (apr_old) was waiting for approval when the kernel stopped" in out
    sent = server.requests[0].body["messages"]
    assert sent[-2] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "Error: not run: it was waiting for approval when the kernel stopped",
    }
    assert shell.run_line_magic("agent", "approvals").iloc[0].state == "denied"
