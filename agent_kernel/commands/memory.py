"""Commands about memory: sessions, what the agent remembers, and the project files it knows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from agent_kernel.commands.registry import CommandParser, command, no_arguments

if TYPE_CHECKING:
    from agent_kernel.memory.memories import Scope
    from agent_kernel.runtime.kernel_agent import KernelAgent


@command("sessions", "%agent sessions", "this project's sessions (a DataFrame), newest first")
def sessions_command(agent: KernelAgent, args: list[str]) -> Any:
    no_arguments("sessions", args)
    return agent.require_memory().sessions.table()


@command("resume", "%agent resume ID", "continue an earlier session in this notebook")
def resume_command(agent: KernelAgent, args: list[str]) -> None:
    if len(args) != 1:
        raise UsageError("usage: %agent resume ID (see %agent sessions for the ids)")
    session = agent.resume(args[0])
    turns = session.conversation.turns
    print(f"Resumed {session.id} ({session.title!r}, {turns} turns); %%agent cells continue it.")


REMEMBER_USAGE = '%agent remember "TEXT" [--kind fact|decision|preference] [--user] [--replaces ID]'


@command("remember", REMEMBER_USAGE, "store a fact, decision or preference for later sessions")
def remember_command(agent: KernelAgent, args: list[str]) -> None:
    parser = CommandParser(REMEMBER_USAGE, prog="%agent remember")
    parser.add_argument("text", nargs="+")
    parser.add_argument("--kind", choices=["fact", "decision", "preference"], default="fact")
    parser.add_argument("--user", action="store_true")
    parser.add_argument("--replaces", default=None)
    options = parser.parse_args(args)
    scope: Scope = "user" if options.user else "project"
    session = agent.session
    memory_id = (
        agent.require_memory()
        .bank(scope)
        .remember(
            " ".join(options.text),
            options.kind,
            source="user",
            session_id=session.id if session is not None and session.stored else None,
            replaces=options.replaces,
        )
    )
    where = "for you, in every project" if options.user else "for this project"
    print(f"Remembered {where} as {memory_id}.")


MEMORY_USAGE = "%agent memory [--all] [--user] [--reindex] [--sync] [--wait]"


@command(
    "memory",
    MEMORY_USAGE,
    "what the agent remembers (--all: with replaced and forgotten; --reindex: rebuild the "
    "search index from the store; --sync: copy local memories to the Chroma server; --wait: "
    "until indexing is done)",
)
def memory_command(agent: KernelAgent, args: list[str]) -> Any:
    parser = CommandParser(MEMORY_USAGE, prog="%agent memory")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--user", action="store_true")
    parser.add_argument("--reindex", action="store_true")
    parser.add_argument("--sync", action="store_true")
    parser.add_argument("--wait", action="store_true")
    options = parser.parse_args(args)
    memory = agent.require_memory()
    if options.reindex or options.sync or options.wait:
        if options.reindex:
            print(memory.reindex())
        if options.sync:
            print(memory.sync_to_server())
        if options.wait:
            done = memory.wait_indexed()
            print("Everything is indexed." if done else "Indexing is still running.")
        for problem in memory.problems():
            print(f"Note: {problem}")
        return None
    bank = memory.bank("user" if options.user else "project")
    return bank.table(history=options.all)


@command("forget", "%agent forget ID", "stop recalling a memory (it stays in the history)")
def forget_command(agent: KernelAgent, args: list[str]) -> None:
    if len(args) != 1:
        raise UsageError("usage: %agent forget ID (see %agent memory for the ids)")
    memory = agent.require_memory()
    text = memory.bank_of(args[0]).forget(args[0])
    print(f"Forgot {args[0]}: {text}")


@command("learn", "%agent learn PATH_OR_GLOB", "index notebooks, docs, code and data schemas")
def learn_command(agent: KernelAgent, args: list[str]) -> None:
    if len(args) != 1:
        raise UsageError('usage: %agent learn PATH_OR_GLOB, e.g. %agent learn "docs/**/*.md"')
    report = agent.require_memory().learn(args[0])
    print(
        f"{report.summary().capitalize()}. The agent can search them with search_project "
        "(by exact names now, by meaning once the background indexing is done)."
    )


@command("context", "%agent context", "what the last model call was sent, section by section")
def context_command(agent: KernelAgent, args: list[str]) -> Any:
    from agent_kernel.ui.context_view import ContextView

    no_arguments("context", args)
    if agent.last_context is None:
        print("No model call in this kernel yet; run a %%agent cell first.")
        return None
    return ContextView(agent.last_context)


@command("tasks", "%agent tasks", "the agent's plans and each step's status (a DataFrame)")
def tasks_command(agent: KernelAgent, args: list[str]) -> Any:
    from agent_kernel.memory.tasks import TaskLog

    no_arguments("tasks", args)
    return TaskLog(agent.require_memory().store).table()
