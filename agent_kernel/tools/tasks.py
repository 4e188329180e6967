"""Planning tools: the agent writes down a multi-step plan and marks its steps as it goes.

They change nothing outside the agent's own record (like propose_cell), so they need no
approval; the plan lives in the project's store and a later session continues it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from agent_kernel.tools.base import ToolContext, ToolError, tool

if TYPE_CHECKING:
    from agent_kernel.memory.tasks import TaskLog


def _log(ctx: ToolContext) -> TaskLog:
    if ctx.memory is None:
        raise ToolError("project memory is off in this kernel, so plans cannot be kept")
    from agent_kernel.memory.tasks import TaskLog

    return TaskLog(ctx.memory.store)


def _changed(ctx: ToolContext) -> None:
    """Tell the context the plan changed, so the next model call reads it again."""
    ctx.state["plan_version"] = ctx.state.get("plan_version", 0) + 1


@tool(effects=(), trusted_output=True, register=False)
def plan(title: str, steps: list[str], *, ctx: ToolContext) -> str:
    """Write down a plan for a task that takes several steps, so progress is kept and a later
    session can continue it (%%agent continue). Then work through the steps, marking each
    with update_plan.

    Args:
        title: What the task achieves, in a few words.
        steps: The steps in order, each one short and concrete.
    """
    if not steps:
        raise ToolError("a plan needs at least one step")
    task = _log(ctx).create(ctx.session_id, title, [s.strip() for s in steps])
    ctx.state["task_id"] = task.id
    _changed(ctx)
    return f"Planned.\n{task.render()}"


@tool(effects=(), trusted_output=True, register=False)
def update_plan(
    step: int,
    status: Literal["doing", "done", "failed"],
    note: str = "",
    *,
    ctx: ToolContext,
) -> str:
    """Mark a step of the current plan as doing, done or failed, with a short note on what
    came of it (a number, a file name, why it failed).

    Args:
        step: The step's number in the plan.
        status: doing, done or failed.
        note: What came of it, briefly.
    """
    log = _log(ctx)
    task_id = ctx.state.get("task_id")
    if task_id is None:
        open_task = log.latest_open(ctx.session_id) or log.latest_open()
        if open_task is None:
            raise ToolError("there is no plan to update; write one with plan first")
        task_id = ctx.state["task_id"] = open_task.id
    try:
        task = log.update(task_id, step, status, note)
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    _changed(ctx)
    return task.render()
