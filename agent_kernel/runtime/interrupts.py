"""Make a kernel interrupt stop an awaiting `%%agent` cell at once.

ipykernel (measured on 7.4.0) turns SIGINT during an async cell into a callback that does not
wake the event loop, so a run waiting on the network only sees the interrupt when some other
event wakes the loop (for a stalled server: never). While a run is active we install a
handler that cancels the run's task thread-safely, which wakes the loop immediately; the
loop then records the interruption and ends cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def cancel_on_interrupt() -> Iterator[None]:
    """Within this block, SIGINT cancels the current asyncio task (main thread only)."""
    task = asyncio.current_task()
    if task is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()

    def on_sigint(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(task.cancel)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
