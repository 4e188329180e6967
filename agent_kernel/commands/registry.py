"""`%agent <subcommand>`: a registry of commands, each parsed by a real parser.

A command is a function of the kernel's agent and its argument words; it registers itself
with a usage line and a one-line summary, from which `%agent help` is written.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError

if TYPE_CHECKING:
    from agent_kernel.runtime.kernel_agent import KernelAgent

Handler = Callable[["KernelAgent", list[str]], Any]


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    summary: str
    run: Handler


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, summary: str) -> Callable[[Handler], Handler]:
    """Register `%agent NAME`; `usage` is shown on bad arguments and in `%agent help`."""

    def register(run: Handler) -> Handler:
        COMMANDS[name] = Command(name, usage, summary, run)
        return run

    return register


class CommandParser(argparse.ArgumentParser):
    """argparse that reports bad arguments as a one-line UsageError instead of exiting."""

    def __init__(self, usage: str, **kwargs: Any) -> None:
        super().__init__(usage=usage, add_help=False, **kwargs)
        self.one_line_usage = usage

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}. Usage: {self.one_line_usage}")


def no_arguments(name: str, args: list[str]) -> None:
    if args:
        raise UsageError(f"%agent {name} takes no arguments (got {' '.join(args)!r})")


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1, with a readable error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
