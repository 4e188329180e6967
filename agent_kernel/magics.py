"""The shell: `%%agent` cells and `%agent <subcommand>` lines.

A `%%agent` cell is rewritten by an input transformer into `await run_agent_cell(...)`, so the
cell runs as a coroutine on the kernel's event loop (IPython autoawait) and a step can later
await a person's click while the kernel keeps handling messages. Called any other way
(`run_cell_magic`), the magic drives the same coroutine itself.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import shlex
import sys
from typing import TYPE_CHECKING, Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

if TYPE_CHECKING:
    from traitlets.config import Configurable

    from agent_kernel.runtime.kernel_agent import KernelAgent

T = TypeVar("T", bound="Configurable")
LINE_USAGE = "%agent SUBCOMMAND [ARGS] (%agent help lists them)"


def _cell_parser() -> argparse.ArgumentParser:
    from agent_kernel.commands.basics import CELL_USAGE
    from agent_kernel.commands.registry import CommandParser, positive_int

    parser = CommandParser(CELL_USAGE, prog="%%agent")
    parser.add_argument("--model", "-m", default=None)
    parser.add_argument("--max-steps", type=positive_int, default=None)
    parser.add_argument("--new", action="store_true")
    parser.add_argument("action", nargs="?", choices=["continue", "fix"], default=None)
    return parser


def split_words(line: str) -> list[str]:
    """Shell-like words, quotes respected, backslashes kept (regexes, Windows paths)."""
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    lexer.escape = ""
    return list(lexer)


def parse_cell_line(line: str) -> argparse.Namespace:
    try:
        words = split_words(line)
    except ValueError as exc:
        raise UsageError(
            f"{exc}. Usage: %%agent [continue|fix] [--model M] [--max-steps N] [--new]"
        ) from None
    return _cell_parser().parse_args(words)


@magics_class
class AgentMagics(Magics):
    """Registers `%agent` / `%%agent` and owns the kernel's agent."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._agent: KernelAgent | None = None

    @property
    def kernel_agent(self) -> KernelAgent:
        if self._agent is None:
            from agent_kernel.policy.settings import Policy
            from agent_kernel.runtime.kernel_agent import KernelAgent

            self._agent = KernelAgent(
                self.shell,
                settings_for(self.shell),
                policy_settings=configurable_for(self.shell, Policy),
            )
        return self._agent

    @line_cell_magic
    def agent(self, line: str, cell: str | None = None) -> Any:
        """Ask the agent (`%%agent`) or run a subcommand (`%agent help`)."""
        if cell is None:
            result = self._subcommand(line)
            return _drive(result) if inspect.iscoroutine(result) else result
        options = parse_cell_line(line)
        return _drive(_run(self.kernel_agent, options, cell))

    def _subcommand(self, line: str) -> Any:
        from agent_kernel.commands import COMMANDS

        try:
            words = split_words(line)
        except ValueError as exc:
            raise UsageError(f"{exc}. Usage: {LINE_USAGE}") from None
        if not words:
            words = ["help"]
        found = COMMANDS.get(words[0])
        if found is None:
            names = "|".join(COMMANDS)
            raise UsageError(f"unknown subcommand {words[0]!r}. Usage: %agent {{{names}}}")
        return found.run(self.kernel_agent, words[1:])


_background_tasks: set[asyncio.Future[Any]] = set()


def _drive(coroutine: Any) -> Any:
    """Run the agent's coroutine where the cell could not await it: to the end when no loop
    runs (terminal IPython without autoawait), else as a task on the kernel's loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_then_close_clients(coroutine))
    # A loop already runs in this thread (a kernel where the cell was not transformed):
    # continue as a task on it; the run's output still goes to this cell.
    task = asyncio.ensure_future(coroutine)
    _background_tasks.add(task)
    task.add_done_callback(_background_tasks.discard)
    print("(the agent continues in the background; its output appears in this cell)")
    return None


async def _then_close_clients(coroutine: Any) -> Any:
    """The run, then its loop's model clients closed: `asyncio.run` discards the loop."""
    from agent_kernel.models.clients import close_loop_clients

    try:
        return await coroutine
    finally:
        await close_loop_clients()


async def _run(agent: KernelAgent, options: argparse.Namespace, body: str) -> None:
    request = body.strip()
    resume_task = options.action == "continue"
    if options.action == "fix":
        from agent_kernel.commands.fix import fix_request

        request = fix_request(agent, request)
    if not request and not resume_task:
        raise UsageError(
            "write your request on the lines below %%agent, e.g. 'Which region sold most?'"
        )
    result = await agent.run(
        request,
        model=options.model,
        max_steps=options.max_steps,
        new=options.new,
        resume_task=resume_task,
    )
    if result.error is not None:
        raise result.error


async def run_agent_cell(line: str, body: str) -> None:
    """What a transformed `%%agent` cell awaits."""
    from IPython import get_ipython

    shell = get_ipython()
    options = parse_cell_line(line)
    magics = shell.magics_manager.registry["AgentMagics"]
    await _run(magics.kernel_agent, options, body)


# Line subcommands that may run the agent, so their cells are awaited like %%agent cells.
AWAITED_LINES = ("approve", "fix")


def transform_agent_cell(lines: list[str]) -> list[str]:
    """Rewrite a `%%agent` cell (or a lone `%agent approve ID` line) into an awaited call,
    when the shell can await at top level."""
    if not lines:
        return lines
    first = lines[0]
    if first.startswith("%%agent"):
        rest = first[len("%%agent") :]
        if rest.strip() and not rest[0].isspace():
            return lines  # another magic whose name starts with "agent"
        call = f"run_agent_cell({rest.strip()!r}, {''.join(lines[1:])!r})"
    elif (
        first.startswith("%agent ")
        and first.split()[1:2] != []
        and first.split()[1] in AWAITED_LINES
        and not "".join(lines[1:]).strip()
    ):
        call = f"run_agent_line({first[len('%agent') :].strip()!r})"
    else:
        return lines
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or not shell.autoawait or str(shell.loop_runner) != "asyncio":
        return lines
    return [f"await __import__('agent_kernel.magics', fromlist=['run_agent_cell']).{call}\n"]


# IPython's check_complete (terminal Enter, the kernel's is_complete) skips transforms marked
# so: it must still see `%%agent` as a cell magic, complete only after a blank line, rather
# than the one-line `await` this turns it into, which would submit the cell on its first Enter.
transform_agent_cell.has_side_effects = True  # type: ignore[attr-defined]


async def run_agent_line(line: str) -> Any:
    """What a transformed `%agent approve ID` cell awaits."""
    from IPython import get_ipython

    magics = get_ipython().magics_manager.registry["AgentMagics"]
    result = magics._subcommand(line)
    return await result if inspect.iscoroutine(result) else result


def settings_for(shell: Any) -> Any:
    """The shell's `Agent` settings; `Agent` and `Policy` are registered for `%config` once."""
    from agent_kernel.config import Agent
    from agent_kernel.policy.settings import Policy

    configurable_for(shell, Policy)
    return configurable_for(shell, Agent)


def configurable_for(shell: Any, cls: type[T]) -> T:
    """The shell's instance of a traitlets configurable, created and registered once."""
    for configurable in getattr(shell, "configurables", []):
        if isinstance(configurable, cls):
            return configurable
    _drop_invalid_settings(shell, cls)
    instance = cls(parent=shell)
    if shell is not None:
        shell.configurables.append(instance)
    return instance


def _drop_invalid_settings(shell: Any, cls: type[Configurable]) -> None:
    """Refuse, with one line each, values set before the extension was loaded (an earlier
    %config or ipython_config.py) that the trait does not accept; the default is used.
    After loading, %config itself refuses them (traitlets validates on assignment)."""
    from traitlets import TraitError

    section = getattr(getattr(shell, "config", None), cls.__name__, None)
    if not section:
        return
    probe = cls()
    for name in list(section):
        if not probe.has_trait(name):
            continue
        try:
            setattr(probe, name, section[name])
        except TraitError as exc:
            del section[name]
            print(f"{cls.__name__}.{name} refused: {exc}; using the default", file=sys.stderr)
