"""`%agent fix` and `%%agent fix`: explain the last error and propose the corrected cell.

The request is fixed text in the user's own words; the error itself reaches the model only
through the `last_error` tool, as untrusted data (error messages echo values).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_kernel.commands.registry import command
from agent_kernel.errors import AgentError

if TYPE_CHECKING:
    from agent_kernel.runtime.kernel_agent import KernelAgent

FIX_REQUEST = (
    "Fix the last error in this notebook. Call last_error to read it and the cell that "
    "raised it, look at the data involved if that helps (list_variables, describe_dataframe, "
    "sql), explain the cause in a sentence or two, then propose the corrected cell with "
    "edit_cell on that cell's index (if edit_cell is refused, use propose_cell). Do not run "
    "the fix yourself: the user reviews it and runs it."
)
NO_ERROR = (
    "there is no error to fix: no cell has raised one in this kernel. Run the failing cell "
    "again, then %agent fix"
)


def fix_request(agent: KernelAgent, extra: str = "") -> str:
    """The request a fix run answers, or AgentError when there is nothing to fix."""
    from agent_kernel.notebook.watch import watch

    if agent.shell is None or watch(agent.shell).last() is None:
        raise AgentError(NO_ERROR)
    extra = extra.strip()
    return FIX_REQUEST + (f"\nAlso: {extra}" if extra else "")


@command(
    "fix", "%agent fix [NOTE]", "explain and fix the last error (the fix is an edit to approve)"
)
def fix_command(agent: KernelAgent, args: list[str]) -> Any:
    from agent_kernel.commands.safety import _raise_on_error

    return _raise_on_error(agent.run(fix_request(agent, " ".join(args))))
