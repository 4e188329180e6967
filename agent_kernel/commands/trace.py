"""`%agent trace [RUN]`: a past run's trace, rebuilt from its recorded events."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from agent_kernel.commands.registry import command
from agent_kernel.errors import AgentError

if TYPE_CHECKING:
    from agent_kernel.runtime.kernel_agent import KernelAgent


@command("trace", "%agent trace [RUN]", "show a past run's trace (default: the latest here)")
def trace_command(agent: KernelAgent, args: list[str]) -> Any:
    from agent_kernel.events import Event
    from agent_kernel.memory import queries
    from agent_kernel.redact import secret_env_values
    from agent_kernel.ui.trace_document import FULL_TEXT_CHARS, TraceBundle, build_trace

    if len(args) > 1:
        raise UsageError("usage: %agent trace [RUN] (run ids are in %agent audit --all)")
    store = agent.require_memory().store
    wanted = args[0] if args else None
    session = agent.session.id if agent.session is not None and agent.session.stored else None
    if session is None and wanted is None:
        current = agent.require_memory().sessions.current()
        session = current.id if current is not None else None
    found = store.query(queries.FIND_RUN, [wanted, wanted, wanted, session, session])
    if not found:
        raise AgentError(f"no run {wanted!r} in this project" if wanted else "no run recorded yet")
    if wanted and len(found) > 1:
        raise AgentError(f"{wanted!r} matches several runs; give more of the id")
    rows = store.query(queries.RUN_EVENTS, [found[0][0]])
    events = [
        Event(kind, run, step, json.loads(data), float(t)) for kind, run, step, data, t in rows
    ]
    secrets = secret_env_values(agent.settings.api_key_env)
    # Asked for by name, a trace shows more of each step than the one saved with its cell.
    prices = dict(agent.settings.prices)
    return TraceBundle(
        build_trace(events, prices=prices, secrets=secrets, text_chars=FULL_TEXT_CHARS)
    )
