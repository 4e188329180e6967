"""`%agent store [repair]`: the project store's state, and a way out when its file is damaged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from agent_kernel.commands.registry import command
from agent_kernel.errors import AgentError

if TYPE_CHECKING:
    from agent_kernel.runtime.kernel_agent import KernelAgent

STORE_USAGE = "%agent store [repair]"


@command("store", STORE_USAGE, "where the project store is and how it is; repair a damaged one")
def store_command(agent: KernelAgent, args: list[str]) -> None:
    if args not in ([], ["repair"]):
        raise UsageError(f"usage: {STORE_USAGE}")
    memory = agent.memory
    if memory is None:
        raise AgentError("project memory is off in this kernel (see the note above)")
    if args == ["repair"]:
        print(repair(agent))
        return
    synced = memory.sync()
    problem = memory.writer.problem()
    waiting = len(memory.writer.pending)
    state = "in use" if synced and problem is None else f"not taking records: {problem}"
    print(f"Project store {memory.store.path}: {state}. Journal: {memory.writer.journal.path}")
    if waiting:
        print(
            f"{waiting} records of this kernel are kept in the journal until the store takes them."
        )


def repair(agent: KernelAgent) -> str:
    """Move a damaged store aside (kept, never deleted) and let the writer start a fresh one."""
    from agent_kernel.memory import store as store_module

    memory = agent.memory
    assert memory is not None
    path = memory.store.path
    try:
        readable(store_module.Store(path, lock_wait=2.0))
    except store_module.StoreDamagedError:
        pass
    except (store_module.StoreBusyError, store_module.StoreVersionError) as exc:
        raise AgentError(f"not repaired: {exc}") from None
    else:
        return f"The project store {path} is readable; nothing to repair."
    moved = store_module.repair(path)
    stored = memory.sync(timeout=10.0)
    kept = "" if stored else f" ({memory.writer.problem()})"
    return (
        f"Moved the damaged store to {moved} (kept, not deleted) and started a fresh one at "
        f"{path}; the runs kept in this kernel's journal are stored in it{kept}. To save what "
        f"DuckDB can still read of the old file: duckdb -readonly {moved} "
        "-c \"EXPORT DATABASE 'recovered'\""
    )


def readable(store: Any) -> None:
    """Read every row of every table: a file cut short or corrupted fails somewhere in it."""
    with store.connect(read_only=True) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall()
        for (table,) in tables:
            con.execute(f'SELECT * FROM "{table}"').fetchall()
