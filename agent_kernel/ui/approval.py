"""Who answers an approval: a card in the cell, a prompt in terminal IPython, or the rule for
unattended runs (`AGENT_KERNEL_UNATTENDED=1`: nbclient, papermill, CI).

The card is ipywidgets. The `%%agent` cell awaits the approval's future, and ipykernel (7.4 and
later) handles the button's comm message while a cell awaits, so the click resolves the
future and the run goes on in the same cell.
"""

from __future__ import annotations

import html
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from agent_kernel.memory.paths import user_name
from agent_kernel.policy.decide import DecisionPoint
from agent_kernel.runtime.approval import (
    ApprovalDecision,
    ApprovalRequest,
    Approver,
    PendingApprovals,
)
from agent_kernel.ui.text import is_notebook
from agent_kernel.ui.trace_document import CODE_ARGUMENTS

UNATTENDED_ENV = "AGENT_KERNEL_UNATTENDED"
NEWLINE = "\n"


def unattended() -> bool:
    return os.environ.get(UNATTENDED_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def choose_approver(shell: Any, policy: DecisionPoint, pending: PendingApprovals) -> Approver:
    if unattended():
        return UnattendedApprover(policy)
    if is_notebook(shell) and _widgets_available():
        return WidgetApprover(pending)
    if shell is not None and sys.stdin is not None and sys.stdin.isatty():
        return TerminalApprover()
    return UnattendedApprover(policy)  # nobody can be asked here: the unattended rule decides


class UnattendedApprover:
    """Decides by `Policy.unattended` (deny unless set otherwise), at once."""

    def __init__(self, policy: DecisionPoint) -> None:
        self.policy = policy

    async def request(self, request: ApprovalRequest) -> ApprovalDecision:
        allowed = self.policy.unattended == "allow"
        why = f"unattended run: Policy.unattended = {self.policy.unattended!r}"
        return ApprovalDecision(allowed, "unattended rule", "unattended", "" if allowed else why)


class TerminalApprover:
    """Terminal IPython: the request as text and a y/n/a prompt (Ctrl-C stops the run)."""

    async def request(self, request: ApprovalRequest) -> ApprovalDecision:
        print(approval_text(request), flush=True)
        answer = input("Approve? [y]es, [n]o, [a]lways for this tool in this session: ")
        choice = answer.strip().lower()[:1]
        if choice in {"y", "a"}:
            return ApprovalDecision(True, user_name(), "terminal", always=choice == "a")
        reason = input("Reason for the agent (optional): ").strip() if choice == "n" else ""
        return ApprovalDecision(False, user_name(), "terminal", reason or "denied at the prompt")


class WidgetApprover:
    """An approval card in the cell; the run waits on the card's future."""

    def __init__(self, pending: PendingApprovals) -> None:
        self.pending = pending

    async def request(self, request: ApprovalRequest) -> ApprovalDecision:
        from IPython.display import display

        future = self.pending.wait(request)
        card = ApprovalCard(request, lambda decision: self.pending.answer(request.id, decision))
        display(card.widget)
        try:
            decision = await future
        except BaseException:
            card.settle("No longer waiting: the run stopped.")
            raise
        card.settle(decision_line(decision), decision.approved)
        return decision


class ApprovalCard:
    """Approve, Deny (with a reason), Edit, and "always allow" for one tool call."""

    def __init__(self, request: ApprovalRequest, answer: Callable[[ApprovalDecision], Any]) -> None:
        import ipywidgets as w

        self.request = request
        self._answer = answer
        editable = _editable_text(request.arguments)
        self.header = w.HTML(_header_html(request))
        self.arguments = w.HTML(
            _diff_html(request.detail) if request.detail else _arguments_html(request.arguments)
        )
        self.editor = w.Textarea(
            value=editable,
            layout=w.Layout(
                width="100%",
                height=f"{min(20, editable.count(NEWLINE) + 3) * 1.4}em",
                display="none",
            ),
        )
        self.reason = w.Text(
            placeholder="Reason for the agent (optional)", layout=w.Layout(width="50%")
        )
        fit = w.Layout(width="auto", flex="0 0 auto")
        self.approve = w.Button(
            description="Approve", button_style="success", icon="check", layout=fit
        )
        self.deny = w.Button(description="Deny", button_style="danger", icon="times", layout=fit)
        self.edit = w.Button(description="Edit", icon="pencil", layout=fit)
        self.always = w.Button(
            description=f"Always allow {request.tool} in this session", layout=fit
        )
        self.status = w.HTML("")
        self.approve.on_click(lambda _: self._decide(approved=True))
        self.deny.on_click(lambda _: self._decide(approved=False))
        self.always.on_click(lambda _: self._decide(approved=True, always=True))
        self.edit.on_click(lambda _: self._toggle_editor())
        self.buttons = w.HBox(
            [self.approve, self.deny, self.edit, self.always],
            layout=w.Layout(flex_flow="row wrap"),
        )
        self.widget = w.VBox(
            [self.header, self.arguments, self.editor, self.buttons, self.reason, self.status],
            layout=w.Layout(border="1px solid var(--jp-border-color1, #ccc)", padding="6px"),
        )
        self.widget.add_class("agent-kernel-approval")

    def _toggle_editor(self) -> None:
        showing = self.editor.layout.display != "none"
        self.editor.layout.display = "none" if showing else "block"
        self.arguments.layout.display = "block" if showing else "none"
        self.approve.description = "Approve" if showing else "Run edited"

    def _decide(self, *, approved: bool, always: bool = False) -> None:
        arguments = None
        if approved and self.editor.layout.display != "none":
            try:
                arguments = _edited_arguments(self.request.arguments, self.editor.value)
            except ValueError as exc:
                self.status.value = (
                    f"<span style='color:var(--jp-error-color1,red)'>{html.escape(str(exc))}</span>"
                )
                return
        reason = self.reason.value.strip() if not approved else ""
        self._answer(
            ApprovalDecision(
                approved,
                user_name(),
                "button",
                reason or ("" if approved else "denied in the approval card"),
                arguments,
                always,
            )
        )

    def settle(self, line: str, approved: bool | None = None) -> None:
        """Collapse the card to one line saying what was decided (`Approved by ann at …`),
        and close the parts it no longer shows."""
        from agent_kernel.ui.trace import close_tree

        for control in (self.approve, self.deny, self.edit, self.always, self.reason, self.editor):
            control.disabled = True
        mark, color = ("⚑", "var(--jp-ui-font-color2)")  # neither: the run stopped
        if approved is not None:
            mark = "✓" if approved else "⊘"
            color = "var(--jp-success-color1)" if approved else "var(--jp-warn-color1)"
        self.status.value = (
            f"<span style='color:{color}'>{mark}</span> <b>{html.escape(self.request.tool)}</b>"
            f" <code>{html.escape(self.request.id)}</code>: {html.escape(line)}"
        )
        folded = (self.header, self.arguments, self.editor, self.buttons, self.reason)
        self.widget.children = (self.status,)
        self.widget.layout.padding = "2px 6px"
        for part in folded:
            close_tree(part)


def decision_line(decision: ApprovalDecision) -> str:
    when = time.strftime("%H:%M:%S")
    if decision.approved:
        extra = " (edited)" if decision.arguments is not None else ""
        extra += "; always allowed in this session" if decision.always else ""
        return f"Approved by {decision.by} at {when}{extra}."
    return f"Denied by {decision.by} at {when}: {decision.reason}"


def approval_text(request: ApprovalRequest) -> str:
    """The request as plain text, for terminals and notebook text fallbacks."""
    lines = [f"⚑ {request.tool} needs approval ({request.id}): {request.reason}"]
    for found in reversed(request.from_data):
        lines.insert(0, _from_data_line(found))
    if request.taint:
        lines.insert(0, "Untrusted content in view (newest first): " + ", ".join(request.taint))
    if request.detail:
        return "\n".join([*lines, *(f"  {line}" for line in request.detail.splitlines())])
    for name, value in request.arguments.items():
        if name in CODE_ARGUMENTS and isinstance(value, str):
            lines.append(f"  {name}:")
            lines += [f"    {line}" for line in value.splitlines()]
        else:
            lines.append(f"  {name} = {json.dumps(value, default=str, ensure_ascii=False)}")
    return "\n".join(lines)


def _header_html(request: ApprovalRequest) -> str:
    taint = ""
    if request.taint:
        sources = ", ".join(html.escape(t) for t in dict.fromkeys(request.taint))
        taint = f"<div><b>Untrusted content in view</b> (newest first): {sources}</div>"
    taint += "".join(f"<div>⚠ {html.escape(_from_data_line(f))}</div>" for f in request.from_data)
    return (
        f"{taint}<div><b>⚑ {html.escape(request.tool)}</b> needs your approval "
        f"<code>{html.escape(request.id)}</code></div>"
        f"<div>{html.escape(request.reason)}</div>"
    )


def _arguments_html(arguments: dict[str, Any]) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import JsonLexer, PythonLexer, SqlLexer

    parts = []
    for name, value in arguments.items():
        language = CODE_ARGUMENTS.get(name)
        if language and isinstance(value, str):
            lexer = PythonLexer() if language == "python" else SqlLexer()
            text = value
        else:
            lexer, text = JsonLexer(), json.dumps(value, indent=1, default=str, ensure_ascii=False)
        code = highlight(text, lexer, HtmlFormatter(noclasses=True, nobackground=True))
        parts.append(f"<div><i>{html.escape(name)}</i></div>{code}")
    return "".join(parts)


def _diff_html(diff: str) -> str:
    """A unified diff, added lines green and removed lines red (theme colours)."""
    colours = {"+": "var(--jp-success-color0, #1a7f37)", "-": "var(--jp-error-color0, #cf222e)"}
    rows = []
    for line in diff.splitlines():
        colour = colours.get(line[:1]) if not line.startswith(("+++", "---")) else None
        style = f" style='color:{colour}'" if colour else ""
        rows.append(f"<span{style}>{html.escape(line)}</span>")
    return (
        "<pre class='agent-kernel-diff' style='white-space:pre-wrap;margin:4px 0'>"
        + "\n".join(rows)
        + "</pre>"
    )


def _editable_text(arguments: dict[str, Any]) -> str:
    if len(arguments) == 1 and next(iter(arguments)) in CODE_ARGUMENTS:
        return str(next(iter(arguments.values())))
    return json.dumps(arguments, indent=1, default=str, ensure_ascii=False)


def _edited_arguments(original: dict[str, Any], text: str) -> dict[str, Any]:
    if len(original) == 1 and next(iter(original)) in CODE_ARGUMENTS:
        return {next(iter(original)): text}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the edited arguments are not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise ValueError("the edited arguments must be a JSON object")
    return value


def _widgets_available() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _from_data_line(found: dict[str, str]) -> str:
    return (
        f"{found['argument']} leaves the kernel carrying {found['fragment']!r}, "
        f"which came from {found['source']}"
    )
