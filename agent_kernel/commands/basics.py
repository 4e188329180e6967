"""Commands about the agent itself: help, settings, tools, the conversation and the key."""

from __future__ import annotations

import getpass
import os
import re
from typing import TYPE_CHECKING, Any

from agent_kernel.commands.registry import COMMANDS, command, no_arguments

if TYPE_CHECKING:
    from agent_kernel.runtime.kernel_agent import KernelAgent

CELL_USAGE = "%%agent [continue|fix] [--model M] [--max-steps N] [--new]"
INTRO = "agent-kernel: an agent that works on this kernel's variables."
CELL_TEXT = (
    "Ask the agent: write your request in plain words under it. It looks at your variables, "
    "queries dataframes with SQL, runs code and answers in the cell, showing each tool call. "
    "Later cells continue the conversation."
)
CELL_OPTIONS = [
    ("--model M", "use model M for this cell only"),
    ("--max-steps N", "allow at most N model calls (default: %config Agent.max_steps)"),
    ("--new", "start a new conversation"),
    ("continue", "carry on the project's newest unfinished plan (any session)"),
    ("fix", "explain the last error and propose the corrected cell as an edit"),
]
SETTINGS = (
    'Settings: %config Agent.model = "gpt-4o-mini", Agent.base_url, Agent.api_key_env, '
    "Agent.max_steps, Agent.temperature, Agent.request_timeout (see %agent config)."
)


def help_text() -> str:
    """The help as plain text: each entry on its own lines, wrapped at words to 79 columns."""
    from textwrap import fill

    def wrap(text: str, first: str, rest: str) -> str:
        return fill(
            text,
            79,
            initial_indent=first,
            subsequent_indent=rest,
            break_long_words=False,
            break_on_hyphens=False,
        )

    def entry(name: str, text: str) -> str:
        return wrap(name, "  ", " " * 6) + "\n" + wrap(text, " " * 6, " " * 6)

    lines = [INTRO, "", entry(CELL_USAGE, CELL_TEXT)]
    lines += [entry(option, text).replace("  ", "    ", 1) for option, text in CELL_OPTIONS]
    lines += ["", *(entry(c.usage, c.summary) for c in COMMANDS.values())]
    return "\n".join([*lines, "", fill(SETTINGS, 79)])


def help_markdown() -> str:
    """The help as Markdown: a table JupyterLab, VS Code and classic Notebook all render."""

    def code(text: str) -> str:
        return "`" + text.replace("|", "\\|") + "`"

    rows = [f"| {code(o)} | {t} |" for o, t in CELL_OPTIONS]
    commands = [f"| {code(c.usage)} | {c.summary} |" for c in COMMANDS.values()]
    return "\n".join(
        [
            f"**{INTRO}**",
            "",
            f"{code(CELL_USAGE)}: {CELL_TEXT}",
            "",
            "| option | |",
            "|---|---|",
            *rows,
            "",
            "| command | what it does |",
            "|---|---|",
            *commands,
            "",
            SETTINGS.replace("%config", "`%config`", 1),
        ]
    )


class Help:
    """`%agent help`: Markdown in a notebook, wrapped plain text in a terminal."""

    def __repr__(self) -> str:
        return help_text()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/markdown": help_markdown(), "text/plain": help_text()}


@command("help", "%agent help", "this text")
def help_command(agent: KernelAgent, args: list[str]) -> Help:
    return Help()


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
