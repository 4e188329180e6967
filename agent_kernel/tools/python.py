"""Code tools: run Python in the user's namespace, or hand the user a cell to run themselves."""

from __future__ import annotations

import ast
import itertools
import linecache
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from agent_kernel.tools.base import ToolContext, ToolResult, bound_text, tool
from agent_kernel.tools.interruptible import interruptible
from agent_kernel.tools.outputs import bounded_repr

_run_counter = itertools.count(1)
MAX_TRACEBACK_LINES = 25


@tool(effects="execute", runs_code=True, register=False)
async def run_python(code: str, ctx: ToolContext) -> ToolResult:
    """Run Python code on the user's live data and return what it printed, the value of
    its last expression, what it displayed, or the error with a short traceback.

    It runs in a sandbox (a copy of the kernel with no network that may write only to a
    scratch folder): variables it assigns come back to the user's namespace as changes the
    user may have to approve; in-place changes to existing objects, functions and classes
    stay in the sandbox, so assign results to names and define helpers in the same code.
    Figures it draws appear in the notebook. Top-level `await` works. Prefer `sql` for
    aggregating dataframes and `describe_dataframe` for looking at one.

    Args:
        code: Python source to execute, as in a notebook cell.
    """
    shell = ctx.shell
    source = shell.transform_cell(code) if shell is not None else code
    filename = f"<agent-code-{next(_run_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    if ctx.sandbox == "fork":
        from agent_kernel.tools.sandboxed import run_sandboxed

        return await run_sandboxed(code, _executor(source, filename), ctx)
    return await _run_in_kernel(source, filename, ctx)


async def _run_in_kernel(source: str, filename: str, ctx: ToolContext) -> ToolResult:
    """The unsandboxed path (`Agent.sandbox = "off"`): the code runs in the kernel itself."""
    from IPython.utils.capture import capture_output

    shell = ctx.shell
    namespace = ctx.user_ns
    before = {name: id(value) for name, value in namespace.items()}
    value: Any = None
    error: BaseException | None = None
    with capture_output(stdout=True, stderr=True, display=shell is not None) as captured:
        try:
            with interruptible():
                value = await _executor(source, filename)(namespace)
        except (KeyboardInterrupt, SystemExit) as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            error = exc
        except BaseException as exc:
            error = exc
        _flush_figures()
    _show_in_cell(captured, value, shell)
    ctx.state.setdefault("images", []).extend(
        ("run_python", o.data) for o in captured.outputs if _output_kind(o.data) == "a figure"
    )
    changed = sorted(
        name
        for name, v in namespace.items()
        if not name.startswith("_") and before.get(name) != id(v)
    )
    return _report(captured, value, error, changed, ctx.max_result_chars)


def _executor(source: str, filename: str) -> Callable[[dict[str, Any]], Coroutine[Any, Any, Any]]:
    """The code as a coroutine over a namespace: statements, then the last expression's value."""

    async def execute(namespace: dict[str, Any]) -> Any:
        body, last = _compile(source, filename)
        value = await _execute(body, namespace)
        if last is not None:
            value = await _execute(last, namespace)
        _flush_figures()
        return value

    return execute


@tool(effects=(), trusted_output=True, register=False)
def propose_cell(code: str, ctx: ToolContext) -> str:
    """Put code into a new cell below the current one for the user to review and run.

    Use it when the user should run or keep the code, rather than running it yourself. Only
    one cell can be proposed per request; a later proposal replaces the earlier one, so put
    all the code in one proposal.

    Args:
        code: The complete code for the new cell.
    """
    shell = ctx.shell
    replaced = "proposed_cell" in ctx.state
    ctx.state["proposed_cell"] = code
    if shell is None:
        return "No notebook is attached; show the code in your answer instead."
    shell.set_next_input(code, replace=False)
    lines = code.count("\n") + 1
    note = " (it replaces the earlier proposal)" if replaced else ""
    return f"Proposed a new {lines}-line cell below{note}; the user decides whether to run it."


def _compile(source: str, filename: str) -> tuple[Any, Any]:
    """Code for all statements but a trailing expression, and code for that expression."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree = ast.parse(source, filename, "exec")
    last = None
    final = tree.body[-1] if tree.body else None
    if isinstance(final, ast.Expr):
        tree.body.pop()
        last = ast.Expression(final.value)
    body = compile(tree, filename, "exec", flags=flags)
    return body, compile(last, filename, "eval", flags=flags) if last is not None else None


async def _execute(code: Any, namespace: dict[str, Any]) -> Any:
    import inspect

    result = eval(code, namespace)
    if code.co_flags & inspect.CO_COROUTINE:
        result = await result
    return result


def _flush_figures() -> None:
    """Show figures the code drew where it ran, as the inline backend would after a cell."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None or "inline" not in plt.get_backend().lower():
        return
    from IPython.display import display

    for number in plt.get_fignums():
        figure = plt.figure(number)
        display(figure)
        plt.close(figure)


def _show_in_cell(captured: Any, value: Any, shell: Any) -> None:
    """Put the code's rich outputs and its result in the cell, as if the user had run it."""
    if shell is None:
        return
    from IPython.display import display

    from agent_kernel.tools.outputs import bounded_display_data, bounded_value_display

    for output in captured.outputs:
        data = bounded_display_data(output.data)
        if data is output.data:
            output.display()
        else:
            display(data, raw=True)
    if value is not None:
        display(bounded_value_display(value))


def _report(
    captured: Any, value: Any, error: BaseException | None, changed: list[str], limit: int
) -> ToolResult:
    parts: list[str] = []
    if captured.stdout:
        parts.append(
            "stdout:\n" + bound_text(captured.stdout.rstrip(), limit // 2, "print less")[0]
        )
    if captured.stderr:
        parts.append(
            "stderr:\n" + bound_text(captured.stderr.rstrip(), limit // 4, "print less")[0]
        )
    kinds = [_output_kind(o.data) for o in captured.outputs]
    if kinds:
        parts.append("displayed in the notebook: " + ", ".join(kinds))
    if error is not None:
        parts.append(_format_error(error))
        summary = f"{type(error).__name__}: {error}".split("\n")[0][:120]
    else:
        if value is not None:
            parts.append("result:\n" + bounded_repr(value, limit // 2))
        summary = "ran" + (f"; changed {', '.join(changed[:6])}" if changed else "")
    if changed:
        parts.append("new or changed variables: " + ", ".join(changed[:30]))
    if not parts:
        parts.append("ran without output")
    # What the code printed or returned may come from data; names of variables do not.
    printed = bool(captured.stdout or captured.stderr or value is not None or error is not None)
    return ToolResult(
        content="\n".join(parts),
        ok=error is None,
        summary=summary,
        data={"changed": changed, "outputs": kinds},
        trusted=not printed,
    )


def _format_error(error: BaseException) -> str:
    """The traceback from the agent's code inward, trimmed to what a fix needs."""
    tb = error.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<agent-code-"):
        tb = tb.tb_next
    lines = traceback.format_exception(type(error), error, tb)
    text = "".join(lines).rstrip()
    rows = text.splitlines()
    if len(rows) > MAX_TRACEBACK_LINES:
        rows = ["Traceback (most recent call last, trimmed):", *rows[-MAX_TRACEBACK_LINES:]]
    return "error:\n" + "\n".join(rows)


def _output_kind(data: dict[str, Any]) -> str:
    if "image/png" in data or "image/svg+xml" in data:
        return "a figure"
    if "text/html" in data:
        return "an HTML table or object"
    return "text output"
