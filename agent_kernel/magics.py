"""The shell: `%%agent` cells and `%agent <subcommand>` lines.

A `%%agent` cell is rewritten by an input transformer into `await run_agent_cell(...)`, so the
cell runs as a coroutine on the kernel's event loop (IPython autoawait) and a step can later
await a person's click while the kernel keeps handling messages. Called any other way
(`run_cell_magic`), the magic drives the same coroutine itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

if TYPE_CHECKING:
    from agent_kernel.runtime.kernel_agent import KernelAgent

CELL_USAGE = "%%agent [--model M] [--max-steps N] [--new]"
SUBCOMMANDS = ("help", "config", "tools", "reset", "key", "sessions", "resume")
LINE_USAGE = f"%agent {{{'|'.join(SUBCOMMANDS)}}}"
HELP = f"""\
agent-kernel: an agent that works on this kernel's variables.

  {CELL_USAGE}
  <your request, in plain words>
      Ask the agent. It looks at your variables, queries dataframes with SQL, runs code
      and answers in the cell, showing each tool call. Later cells continue the conversation.
      --model M        use model M for this cell only
      --max-steps N    allow at most N model calls (default: %config Agent.max_steps)
      --new            start a new conversation

  %agent help      this text
  %agent config    effective settings and where each came from (the key is never shown)
  %agent tools     tools the agent may call, with their effects
  %agent reset     forget this conversation and start a new one
  %agent key       enter an API key for this kernel (hidden input; kept in memory only)
  %agent sessions  this project's sessions (a DataFrame), most recent first
  %agent resume ID continue an earlier session in this notebook

Settings: %config Agent.model = "gpt-4o-mini", Agent.base_url, Agent.api_key_env,
Agent.max_steps, Agent.temperature, Agent.request_timeout (see %agent config)."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as a one-line UsageError instead of exiting."""

    def __init__(self, usage: str, **kwargs: Any) -> None:
        super().__init__(usage=usage, add_help=False, **kwargs)
        self.one_line_usage = usage

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}. Usage: {self.one_line_usage}")


def _cell_parser() -> _Parser:
    parser = _Parser(CELL_USAGE, prog="%%agent")
    parser.add_argument("--model", "-m", default=None)
    parser.add_argument("--max-steps", type=_positive_int, default=None)
    parser.add_argument("--new", action="store_true")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_cell_line(line: str) -> argparse.Namespace:
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"{exc}. Usage: {CELL_USAGE}") from None
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
            from agent_kernel.runtime.kernel_agent import KernelAgent

            self._agent = KernelAgent(self.shell, settings_for(self.shell))
        return self._agent

    @line_cell_magic
    def agent(self, line: str, cell: str | None = None) -> Any:
        """Ask the agent (`%%agent`) or run a subcommand (`%agent help`)."""
        if cell is None:
            return self._subcommand(line)
        options = parse_cell_line(line)
        coroutine = _run(self.kernel_agent, options, cell)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coroutine)
        # A loop already runs in this thread (a kernel where the cell was not transformed):
        # continue as a task on it; the run's output still goes to this cell.
        task = asyncio.ensure_future(coroutine)
        _background_tasks.add(task)
        task.add_done_callback(_background_tasks.discard)
        print("(the agent continues in the background; its output appears in this cell)")
        return None

    def _subcommand(self, line: str) -> Any:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"{exc}. Usage: {LINE_USAGE}") from None
        if not words:
            words = ["help"]
        handler: Callable[[list[str]], Any] | None = getattr(self, f"_cmd_{words[0]}", None)
        if words[0] not in SUBCOMMANDS or handler is None:
            raise UsageError(f"unknown subcommand {words[0]!r}. Usage: {LINE_USAGE}")
        return handler(words[1:])

    def _cmd_help(self, args: list[str]) -> None:
        print(HELP)

    def _cmd_config(self, args: list[str]) -> Any:
        from agent_kernel.config import setting_sources
        from agent_kernel.ui.display import Table

        _no_arguments("config", args)
        return Table(["setting", "value", "from"], setting_sources(self.kernel_agent.settings))

    def _cmd_tools(self, args: list[str]) -> Any:
        from agent_kernel.ui.display import Table

        _no_arguments("tools", args)
        rows = [
            (t.name, ", ".join(t.effects) or "none", _first_sentence(t.description))
            for t in self.kernel_agent.tools
        ]
        return Table(["tool", "effects", "description"], rows)

    def _cmd_reset(self, args: list[str]) -> None:
        _no_arguments("reset", args)
        self.kernel_agent.new_session()
        print("Started a new conversation; earlier turns will not be sent to the model.")

    def _cmd_sessions(self, args: list[str]) -> Any:
        _no_arguments("sessions", args)
        return self.kernel_agent.require_memory().sessions.table()

    def _cmd_resume(self, args: list[str]) -> None:
        if len(args) != 1:
            raise UsageError("usage: %agent resume ID (see %agent sessions for the ids)")
        session = self.kernel_agent.resume(args[0])
        turns = session.conversation.turns
        print(
            f"Resumed {session.id} ({session.title!r}, {turns} turns); %%agent cells continue it."
        )

    def _cmd_key(self, args: list[str]) -> None:
        import getpass

        _no_arguments("key", args)
        variable = self.kernel_agent.settings.api_key_env
        value = getpass.getpass(f"API key (stored in ${variable} for this kernel only): ")
        if not value.strip():
            print("No key entered; nothing changed.")
            return
        os.environ[variable] = value.strip()
        print(f"Key set in ${variable} for this kernel; it is not saved anywhere.")


_background_tasks: set[asyncio.Future[Any]] = set()


async def _run(agent: KernelAgent, options: argparse.Namespace, body: str) -> None:
    request = body.strip()
    if not request:
        raise UsageError(
            "write your request on the lines below %%agent, e.g. 'Which region sold most?'"
        )
    result = await agent.run(
        request, model=options.model, max_steps=options.max_steps, new=options.new
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


def transform_agent_cell(lines: list[str]) -> list[str]:
    """Rewrite a `%%agent` cell into an awaited call, when the shell can await at top level."""
    if not lines or not lines[0].startswith("%%agent"):
        return lines
    rest = lines[0][len("%%agent") :]
    if rest.strip() and not rest[0].isspace():
        return lines  # another magic whose name starts with "agent"
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or not shell.autoawait or str(shell.loop_runner) != "asyncio":
        return lines
    call = (
        "await __import__('agent_kernel.magics', fromlist=['run_agent_cell'])"
        f".run_agent_cell({rest.strip()!r}, {''.join(lines[1:])!r})\n"
    )
    return [call]


def settings_for(shell: Any) -> Any:
    """The shell's `Agent` configurable, created once and registered for `%config Agent`."""
    from agent_kernel.config import Agent

    for configurable in getattr(shell, "configurables", []):
        if isinstance(configurable, Agent):
            return configurable
    settings = Agent(parent=shell)
    if shell is not None:
        shell.configurables.append(settings)
    return settings


def _no_arguments(name: str, args: list[str]) -> None:
    if args:
        raise UsageError(f"%agent {name} takes no arguments (got {' '.join(args)!r})")


def _first_sentence(text: str, limit: int = 100) -> str:
    import re

    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0].rstrip(".") + "."
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"
