"""Calling the user's own code from our tools: under a time limit and an exception guard.

Listing variables and describing data calls methods the user wrote (`__repr__`, `__str__`,
`__len__`, `__format__`, a `shape` or `dtypes` property of an exotic object). One that raises
must not break the tool, and one that hangs must not stall every cell: each call here runs
under `Agent.repr_timeout` seconds and shows as `<repr failed: ...>` or `<repr timed out>`.

How the limit is enforced, and why:
- On the kernel's main thread (where cells and our tools run on Unix), an interval timer
  (`signal.setitimer(ITIMER_REAL)`) raises `ReprTimedOut` inside the user's code when time is
  up. The code really stops, nothing keeps running in the background, and the exception is a
  `BaseException`, so a repr that swallows `Exception` in a retry loop cannot keep it alive.
  For the same call SIGINT raises KeyboardInterrupt, so an interrupt (Stop) lands at once
  instead of when the repr returns. Limits: only the main thread may handle signals, and C
  code that never returns to Python (a long native loop) sees the signal only when it does.
- Elsewhere (Windows, or a tool called off the main thread) the call runs in a daemon worker
  thread that is joined with the timeout. The caller goes on at the limit, but Python cannot
  kill a thread: the user's method keeps running in the background until it returns (and may
  still change state meanwhile). That is the documented weaker guard.
A type whose method timed out once is not called again in this kernel (its later values show
`<repr timed out earlier>`), so a namespace full of one hanging class costs one timeout.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

# Seconds one call of user code may take; KernelAgent sets it from `Agent.repr_timeout`.
DEFAULT_TIMEOUT = 0.2
_settings = {"timeout": DEFAULT_TIMEOUT}
# Types whose user methods timed out: skipped from then on.
_slow_types: weakref.WeakSet[type] = weakref.WeakSet()
_SIGNALS = hasattr(signal, "setitimer")


class ReprTimedOut(BaseException):
    """Raised inside the user's code when its time is up (not an Exception on purpose)."""


class UserCodeFailed(Exception):
    """What a guarded call reports instead of a value: the label to show."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


def set_timeout(seconds: float) -> None:
    """The limit for each later guarded call (from `Agent.repr_timeout`)."""
    _settings["timeout"] = seconds


def current_timeout() -> float:
    return _settings["timeout"]


def guarded(func: Callable[[], T], owner: Any = None, timeout: float | None = None) -> T:
    """`func()` under the time limit; raises UserCodeFailed with the label to show when it
    raised or timed out. `owner` is the object whose type is remembered as slow."""
    cls = type(owner) if owner is not None else None
    if cls is not None and cls in _slow_types:
        raise UserCodeFailed("<repr timed out earlier>")
    limit = current_timeout() if timeout is None else timeout
    if interrupt_pending():
        raise KeyboardInterrupt  # Stop was pressed just before: do not start user code
    try:
        if _SIGNALS and threading.current_thread() is threading.main_thread():
            return _with_alarm(func, limit)
        return _in_thread(func, limit)
    except ReprTimedOut:
        if cls is not None:
            with contextlib.suppress(TypeError):  # a type that refuses weak references
                _slow_types.add(cls)
        raise UserCodeFailed("<repr timed out>") from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except UserCodeFailed:
        raise
    except BaseException as exc:  # the user's method failed; say how
        raise UserCodeFailed(f"<repr failed: {_exception_line(exc)}>") from None


def interrupt_pending() -> bool:
    """True when a kernel interrupt already asked the running cell's task to stop (it lands
    only when the event loop regains control, which synchronous code here delays)."""
    import asyncio

    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running event loop
        return False
    cancelling = getattr(task, "cancelling", None)  # Python 3.11+
    return bool(cancelling and cancelling())


def safe_repr(obj: Any, timeout: float | None = None) -> str:
    """`repr(obj)`, or the label saying why there is none."""
    try:
        return guarded(lambda: repr(obj), obj, timeout)
    except UserCodeFailed as failed:
        return failed.label


def safe_str(obj: Any, timeout: float | None = None) -> str:
    """`str(obj)`, or the label saying why there is none."""
    try:
        return guarded(lambda: str(obj), obj, timeout)
    except UserCodeFailed as failed:
        return failed.label


def _with_alarm(func: Callable[[], T], limit: float) -> T:
    def on_alarm(signum: int, frame: Any) -> None:
        raise ReprTimedOut

    started = time.monotonic()
    previous_alarm = signal.signal(signal.SIGALRM, on_alarm)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    remaining, interval = signal.setitimer(signal.ITIMER_REAL, max(limit, 0.001))
    try:
        return func()
    finally:
        try:  # the alarm may still fire before this line: the handlers are restored anyway
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, previous_alarm)
            signal.signal(signal.SIGINT, previous_int)
        if remaining:  # someone else's timer was running: give it back what is left
            left = max(remaining - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def _in_thread(func: Callable[[], T], limit: float) -> T:
    """The fallback: the caller stops waiting at the limit; the thread runs on (see above)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = func()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="agent-kernel-user-repr", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        raise ReprTimedOut
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value


def _exception_line(exc: BaseException) -> str:
    """`ValueError: message`, one line, short; itself safe against a hostile exception."""
    name = type(exc).__name__
    message = ""
    # No user code here: an exception's own __str__ (or its arguments') could hang or fail.
    plain = all(type(a) in (str, int, float) for a in exc.args)
    if plain and type(exc).__module__ == "builtins":
        message = str(exc)
    elif exc.args and type(exc.args[0]) is str:
        message = exc.args[0]
    lines = message.strip().splitlines()
    message = lines[0] if lines else ""
    text = f"{name}: {message}" if message else name
    return text if len(text) <= 80 else text[:79] + "…"


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Callable[[], bool]]:
    """A budget for many guarded calls in a row: yields `expired()`."""
    end = time.monotonic() + seconds
    yield lambda: time.monotonic() > end
