"""Let a kernel interrupt stop long synchronous work that a tool runs on the main thread.

While an async cell runs, ipykernel turns SIGINT into a cancellation that only lands when the
event loop regains control; agent code stuck in a loop, or a blocking Dask compute, would never
see it. Inside this block SIGINT raises KeyboardInterrupt at once, as in a plain cell.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
