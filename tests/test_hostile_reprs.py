"""The user's own __repr__/__str__/__len__ run guarded: one that raises or hangs shows as a
label, never stalls a cell for its duration, and never stops an interrupt (issue 17.4)."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from agent_kernel.tools import user_code
from tests.test_kernel import (
    ALLOW_UNATTENDED,
    execute,
    kernel,
    kernel_env,
    notebook,
    run_code,
    texts,
)

__all__ = ["kernel", "kernel_env"]  # fixtures, imported for their use here

HOSTILE = """
import time
import pandas as pd

class Raising:
    def __repr__(self):
        raise ValueError("no repr for you")
    __str__ = __repr__

class RaisingStr(str):
    def __getitem__(self, key):
        raise ValueError("no repr for you")

class Hanging:
    def __repr__(self):
        time.sleep(60)
        return "late"
    __str__ = __repr__

class HangingLen(list):
    def __len__(self):
        time.sleep(60)
        return 0

class SlowInt(int):
    def __repr__(self):
        while True:  # swallows Exception: the time limit must not be one
            try:
                time.sleep(60)
            except Exception:
                pass
    __str__ = __repr__

raising, hanging, hanging_len, sneaky = RaisingStr("x"), Hanging(), HangingLen([1, 2]), SlowInt(3)
more_hanging = {f"h{i}": Hanging() for i in range(20)}
globals().update(more_hanging)
objects = pd.DataFrame({"thing": pd.Series([Hanging(), Raising(), Hanging()], dtype=object)})
"""


def test_raising_and_hanging_reprs_show_as_labels_and_do_not_stall(
    kernel_env: ScriptedServer,
) -> None:
    server = kernel_env
    server.add(
        Reply(tool_calls=[ToolCall("list_variables", {})]),
        Reply(tool_calls=[ToolCall("describe_dataframe", {"name": "objects"})]),
        Reply(tool_calls=[ToolCall("run_python", {"code": "Raising()"})]),
        Reply(text="Listed."),
    )
    nb = execute(
        notebook(
            "%load_ext agent_kernel",
            ALLOW_UNATTENDED,
            HOSTILE,
            # What the context does before every model call, timed alone in the kernel.
            "from agent_kernel.tools.base import ToolContext\n"
            "from agent_kernel.tools.variables import variable_lines\n"
            "started = time.monotonic()\n"
            "lines = variable_lines(ToolContext(get_ipython().user_ns, get_ipython()))\n"
            "print(f'listed in {time.monotonic() - started:.2f} s')",
            HOSTILE + "\nstarted = time.monotonic()",  # new classes: nothing known as slow
            "%%agent\nWhat is there?",
            "print(f'took {time.monotonic() - started:.1f} s')",
        ),
        timeout=120,
    )
    listed = float(re.search(r"listed in ([\d.]+) s", texts(nb.cells[3])).group(1))  # type: ignore[union-attr]
    # Two hanging calls (len, repr of an int subclass) of 0.2 s each; unguarded, 60 s each.
    assert listed < 1.5, listed
    assert "Listed." in texts(nb.cells[5])
    took = float(re.search(r"took ([\d.]+) s", texts(nb.cells[6])).group(1))  # type: ignore[union-attr]
    # The whole run meets hanging calls of four kinds (and 20 more of one kind) and still
    # ends in the time of a normal first run (store, imports); unguarded, minutes.
    assert took < 30, took
    # The first model call already saw the variables section of the context: labels only.
    context = server.requests[0].body["messages"][0]["content"]
    assert "- raising: RaisingStr\n" in context and "<repr failed" not in context
    listing = server.requests[1].body["messages"][-1]["content"]
    assert re.search(r"\| raising +\| RaisingStr +\| +\| <repr failed: ValueError: no", listing)
    # Timed out when the context listed them, then not asked again.
    assert re.search(r"\| hanging_len +\| HangingLen +\| +\| <repr timed out earlier", listing)
    assert re.search(r"\| sneaky +\| SlowInt +\| +\| <repr timed out earlier", listing)
    assert "untrusted-data" in listing  # an error message from user code is data
    described = server.requests[2].body["messages"][-1]["content"]
    assert "objects: pandas.DataFrame, 3 rows × 1 column" in described
    assert "<repr timed out" in described and "<repr failed: ValueError" in described
    assert (
        "<repr failed: ValueError: no repr for you>"
        in server.requests[3].body["messages"][-1]["content"]
    )


def _interrupt_once_inside(km: KernelManager, marker: Path) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    km.interrupt_kernel()


def test_an_interrupt_lands_inside_a_hanging_repr(
    kernel: tuple[KernelManager, Any], kernel_env: ScriptedServer, project_dir: Path
) -> None:
    km, client = kernel
    kernel_env.add(Reply(text="Back."))
    run_code(client, "%load_ext agent_kernel")
    run_code(client, "%config Agent.repr_timeout = 10.0")
    marker = project_dir / "inside-repr"
    slow = f"Path({str(marker)!r}).touch(); time.sleep(600)"
    run_code(client, "from pathlib import Path\n" + HOSTILE.replace("time.sleep(60)", slow))
    # The first hanging repr is met while the context lists variables, before any model call.
    threading.Thread(target=_interrupt_once_inside, args=(km, marker), daemon=True).start()
    started = time.monotonic()
    reply, output = run_code(client, "%%agent\nList them.")
    assert time.monotonic() - started < 9  # not 10 s per hanging repr, let alone 600
    assert reply["content"]["status"] == "ok"
    assert "Run interrupted" in output and "Traceback" not in output
    assert not kernel_env.requests  # stopped inside the repr, before the model was called
    run_code(client, "%config Agent.repr_timeout = 0.2")
    reply, output = run_code(client, "%%agent\nStill there?")
    assert "Back." in output


def test_the_guard_restores_signal_handlers_and_a_running_timer() -> None:
    import signal

    fired: list[int] = []
    sigint = signal.getsignal(signal.SIGINT)
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.6)
        assert user_code.safe_repr(type("Slow", (), {"__repr__": _sleepy})()) == (
            "<repr timed out>"
        )
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 0.5  # the caller's timer is back
        time.sleep(0.7)
        assert fired == [1]  # and it fired into the caller's own handler
        assert signal.getsignal(signal.SIGINT) is sigint
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _sleepy(self: object) -> str:
    time.sleep(5)
    return "late"


def test_off_the_main_thread_the_guard_times_out_with_a_worker_thread() -> None:
    import threading

    labels: list[str] = []
    obj = type("Slow2", (), {"__repr__": _sleepy})()
    worker = threading.Thread(target=lambda: labels.append(user_code.safe_repr(obj, 0.2)))
    started = time.monotonic()
    worker.start()
    worker.join(3)
    assert labels == ["<repr timed out>"] and time.monotonic() - started < 2
