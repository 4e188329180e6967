"""Commands about the agent itself: help, settings, tools, the conversation and the key."""

from __future__ import annotations

import getpass
import os
import re
from typing import TYPE_CHECKING, Any

from agent_kernel.commands.registry import COMMANDS, command, no_arguments

if TYPE_CHECKING:
    from agent_kernel.runtime.kernel_agent import KernelAgent

CELL_USAGE = "%%agent [continue] [--model M] [--max-steps N] [--new]"
HELP_HEAD = f"""\
agent-kernel: an agent that works on this kernel's variables.

  {CELL_USAGE}
  <your request, in plain words>
      Ask the agent. It looks at your variables, queries dataframes with SQL, runs code
      and answers in the cell, showing each tool call. Later cells continue the conversation.
      --model M        use model M for this cell only
      --max-steps N    allow at most N model calls (default: %config Agent.max_steps)
      --new            start a new conversation
      continue         carry on the project's newest unfinished plan (any session)
"""
HELP_TAIL = """
Settings: %config Agent.model = "gpt-4o-mini", Agent.base_url, Agent.api_key_env,
Agent.max_steps, Agent.temperature, Agent.request_timeout (see %agent config)."""


def help_text() -> str:
    width = max(len(c.usage) for c in COMMANDS.values()) + 2
    lines = [f"  {c.usage.ljust(width)}{c.summary}" for c in COMMANDS.values()]
    return HELP_HEAD + "\n" + "\n".join(lines) + "\n" + HELP_TAIL


@command("help", "%agent help", "this text")
def help_command(agent: KernelAgent, args: list[str]) -> None:
    print(help_text())


@command("config", "%agent config", "effective settings and where each came from (no keys)")
def config_command(agent: KernelAgent, args: list[str]) -> Any:
    from agent_kernel.config import setting_sources
    from agent_kernel.ui.display import Table

    no_arguments("config", args)
    return Table(["setting", "value", "from"], setting_sources(agent.settings))


@command("tools", "%agent tools", "tools the agent may call, with their effects")
def tools_command(agent: KernelAgent, args: list[str]) -> Any:
    from agent_kernel.ui.display import Table

    no_arguments("tools", args)
    rows = [
        (t.name, ", ".join(t.effects) or "none", first_sentence(t.description)) for t in agent.tools
    ]
    return Table(["tool", "effects", "description"], rows)


@command("reset", "%agent reset", "forget this conversation and start a new one")
def reset_command(agent: KernelAgent, args: list[str]) -> None:
    no_arguments("reset", args)
    agent.new_session()
    print("Started a new conversation; earlier turns will not be sent to the model.")


@command("key", "%agent key", "enter an API key for this kernel (hidden; never saved)")
def key_command(agent: KernelAgent, args: list[str]) -> None:
    no_arguments("key", args)
    variable = agent.settings.api_key_env
    value = getpass.getpass(f"API key (stored in ${variable} for this kernel only): ")
    if not value.strip():
        print("No key entered; nothing changed.")
        return
    os.environ[variable] = value.strip()
    print(f"Key set in ${variable} for this kernel; it is not saved anywhere.")


def first_sentence(text: str, limit: int = 100) -> str:
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0].rstrip(".") + "."
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"
