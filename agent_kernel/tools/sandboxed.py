"""`run_python` in the sandbox: run the code in a confined fork, show its outputs in the cell,
and bring the variables it changed into the user's namespace: at once when no untrusted
content is in view, otherwise only when a person approves the diff (the mutation).

Values the person does not promote are held, so `%agent promote` can still apply them.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Coroutine
from typing import Any

from agent_kernel.sandbox.transfer import Change
from agent_kernel.tools.base import ToolContext, ToolError, ToolResult, bound_text

PROMOTE_TOOL = "promote_variables"


async def run_sandboxed(
    code: str, execute: Callable[[dict[str, Any]], Coroutine[Any, Any, Any]], ctx: ToolContext
) -> ToolResult:
    from agent_kernel.sandbox.fork import SandboxError, run_in_fork

    try:
        report = await run_in_fork(execute, ctx.user_ns, ctx.shell, ctx.sandbox_settings)
    except SandboxError as exc:
        raise ToolError(str(exc)) from None
    _show_in_cell(report.outputs, report.value, ctx.shell)
    ctx.state.setdefault("images", []).extend(  # for a model that can see them
        ("run_python", o["data"])
        for o in report.outputs
        if any(t in (o.get("data") or {}) for t in ("image/png", "image/jpeg", "image/svg+xml"))
    )
    changes = [c for c in report.changes if _acceptable_name(c.name)]
    dropped = len(report.changes) - len(changes)
    movable = [c for c in changes if not c.why_not]
    promoted = await _promote(code, movable, ctx) if movable else False
    return _result(report, changes, promoted, dropped, ctx)


def _acceptable_name(name: object) -> bool:
    """Only plain variable names come back: no `_` names, keywords or arbitrary dict keys."""
    return (
        isinstance(name, str)
        and name.isidentifier()
        and not name.startswith("_")
        and not keyword.iskeyword(name)
    )


async def _promote(code: str, changes: list[Change], ctx: ToolContext) -> bool:
    """Apply the diff to the user's namespace, asking a person first when taint is in view."""
    if ctx.taint:
        lines = [c.describe() for c in changes]
        reason = (
            "the sandboxed code changed variables while untrusted content was in view; "
            "promote these into your namespace?"
        )
        arguments = {"variables": "\n".join(lines), "code": code}
        approved = ctx.confirm is not None and await ctx.confirm(PROMOTE_TOOL, arguments, reason)
        if not approved:
            ctx.held.update({c.name: c for c in changes})
            return False
    apply_changes(ctx.user_ns, changes)
    return True


def apply_changes(namespace: dict[str, Any], changes: list[Change]) -> list[str]:
    """Write promoted values into the namespace; modules are bound only when the kernel has
    already imported them (importing a module the sandbox named would run its code here)."""
    import sys

    applied = []
    for change in changes:
        if change.kind == "deleted":
            namespace.pop(change.name, None)
        elif change.module:
            module = sys.modules.get(change.module)
            if module is None:
                continue
            namespace[change.name] = module
        else:
            namespace[change.name] = change.value
        applied.append(change.name)
    return applied


def _show_in_cell(outputs: list[dict[str, Any]], value: dict[str, Any] | None, shell: Any) -> None:
    """The sandbox's figures, displays and result in the cell, as if the user had run it."""
    if shell is None:
        return
    from IPython.display import publish_display_data

    for output in [*outputs, *([value] if value is not None else [])]:
        data = output.get("data") or {}
        if isinstance(data, dict) and data:
            publish_display_data(data, output.get("metadata") or {})


def _result(
    report: Any, changes: list[Change], promoted: bool, dropped: int, ctx: ToolContext
) -> ToolResult:
    limit = ctx.max_result_chars
    parts: list[str] = []
    if report.stdout:
        parts.append("stdout:\n" + bound_text(report.stdout.rstrip(), limit // 2, "print less")[0])
    if report.stderr:
        parts.append("stderr:\n" + bound_text(report.stderr.rstrip(), limit // 4, "print less")[0])
    if report.outputs:
        from agent_kernel.tools.python import _output_kind

        kinds = [_output_kind(o.get("data") or {}) for o in report.outputs]
        parts.append("displayed in the notebook: " + ", ".join(kinds))
    if report.error is not None:
        parts.append(report.error["text"])
        summary = report.error["summary"]
    else:
        if report.value is not None:
            shown = bound_text(report.value["repr"], limit // 2, "return less")[0]
            parts.append("result:\n" + shown)
        names = [c.name for c in changes if not c.why_not]
        summary = "ran" + (f"; changed {', '.join(names[:6])}" if names else "")
    parts += _diff_lines(changes, promoted, dropped)
    if not parts:
        parts.append("ran without output")
    printed = bool(report.stdout or report.stderr or report.value or report.error)
    return ToolResult(
        content="\n".join(parts),
        ok=report.error is None,
        summary=summary,
        data={
            "changed": [c.name for c in changes if not c.why_not],
            "promoted": promoted,
            "sandbox": report.confinement,
        },
        # Printed text and the child's own reasons may carry data; names and types do not.
        trusted=not printed and not any(c.why_not for c in changes),
    )


def _diff_lines(changes: list[Change], promoted: bool, dropped: int) -> list[str]:
    lines = []
    moved = [c.describe() for c in changes if not c.why_not]
    if moved:
        verdict = (
            "now in the user's namespace"
            if promoted
            else "held: the user did not promote them (%agent promote applies them)"
        )
        lines.append(f"new or changed variables ({verdict}): " + "; ".join(moved[:30]))
    stayed = [c.describe() for c in changes if c.why_not]
    if stayed:
        lines.append("stayed in the sandbox: " + "; ".join(stayed[:10]))
    if dropped:
        lines.append(f"{dropped} entries with names that are not variables were ignored")
    return lines
