"""The kernel's side of the memory worker: start it when needed, ask it, never wait on it.

The worker (`memory/worker.py`) is started lazily, the first time there is something to index
or recall, and warms the index in the background. Until it says an index is ready, recall in
a run uses the exact-term index only; explicit tools may wait a bounded time. Nothing here
blocks an exit: the worker is a child that ends when our end of its pipe closes.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import sys
import threading
import weakref
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from agent_kernel.errors import AgentError
from agent_kernel.memory.vectors import Location


class WorkerError(AgentError):
    """The memory worker refused a request, died, or did not answer in time."""


class MemoryWorker:
    """One worker process per kernel, shared by every index the kernel uses."""

    def __init__(self, log_path: Path | None = None) -> None:
        self.log_path = log_path
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[Future[Any], subprocess.Popen[str]]] = {}
        self._opening: dict[Location, Future[Any]] = {}
        self.problems: list[str] = []  # said once each by the kernel, then cleared
        self.broken: dict[Location, str] = {}
        self._running = False
        self._later: threading.Timer | None = None

    # -- the process ------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _ensure(self) -> subprocess.Popen[str]:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return self._proc
            self._opening.clear()
            log: Any = subprocess.DEVNULL
            if self.log_path is not None:
                with contextlib.suppress(OSError):
                    self.log_path.parent.mkdir(parents=True, exist_ok=True)
                    log = self.log_path.open("a", encoding="utf-8")
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "agent_kernel.memory.worker"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                    bufsize=1,
                )
            except OSError as error:
                raise WorkerError(f"the memory worker cannot start: {error}") from error
            # A dropped MemoryWorker (a kernel agent replaced) lets its process go too.
            weakref.finalize(self, _close_pipe, self._proc)
            threading.Thread(
                target=self._read, args=(self._proc,), daemon=True, name="agent-kernel-memory"
            ).start()
            if self._running:
                self._send({"op": "run_started"}, self._proc)
            return self._proc

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "event" in message:
                self.problems.append(
                    f"memory indexing stopped for {message['where']}: {message['message']}"
                )
                continue
            waiting = self._waiting.pop(message.get("id", -1), None)
            if waiting is None:
                continue
            future = waiting[0]
            if "error" in message:
                future.set_exception(WorkerError(message["error"]))
            else:
                future.set_result(message.get("result"))
        error = WorkerError("the memory worker exited; it restarts on the next use")
        for rid, (future, owner) in list(self._waiting.items()):
            if owner is proc:  # a newer worker's requests are not this one's to fail
                self._waiting.pop(rid, None)
                if not future.done():
                    future.set_exception(error)

    def _send(self, message: dict[str, Any], proc: subprocess.Popen[str] | None = None) -> None:
        proc = proc or self._ensure()
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.flush()
        except (OSError, ValueError) as error:
            raise WorkerError(f"the memory worker is not reachable: {error}") from error

    def request(self, op: str, **fields: Any) -> Future[Any]:
        """Send a request; the future holds the worker's answer or its one-line error."""
        rid = next(self._ids)
        future: Future[Any] = Future()
        try:
            proc = self._ensure()
            self._waiting[rid] = (future, proc)
            self._send({"id": rid, "op": op, **fields}, proc)
        except WorkerError as error:
            self._waiting.pop(rid, None)
            future.set_exception(error)
        return future

    def tell(self, op: str, *, start: bool = False) -> None:
        """A notice that needs no answer; sent only to a running worker unless `start`."""
        if start or self.started:
            with contextlib.suppress(WorkerError):
                self._send({"op": op})

    def start_later(self, location: Location, terms: Path, delay: float) -> None:
        """Open `location` after `delay` seconds unless something needs it sooner: work that
        appears during a cell starts after it, and a short-lived process never starts one."""
        if self.started or (self._later is not None and self._later.is_alive()):
            return
        self._later = threading.Timer(delay, self._start_now, args=(location, terms))
        self._later.daemon = True  # never holds up an exit
        self._later.start()

    def _start_now(self, location: Location, terms: Path) -> None:
        with contextlib.suppress(WorkerError):
            self.open(location, terms)
            self.tell("work")

    # -- indexes ----------------------------------------------------------------------------
    def open(self, location: Location, terms: Path) -> Future[Any]:
        """Warm `location` in the worker (once); the future is done when it is ready."""
        with self._lock:
            future = self._opening.get(location) if self.started else None
        if future is not None and (not future.done() or future.exception() is None):
            return future
        future = self.request("open", location=location.to_json(), terms=str(terms))
        future.add_done_callback(lambda f: self._opened(location, f))
        with self._lock:
            self._opening[location] = future
        return future

    def _opened(self, location: Location, future: Future[Any]) -> None:
        error = future.exception()
        if error is not None:
            self.broken[location] = str(error)
        else:
            self.broken.pop(location, None)

    def ready(self, location: Location) -> bool:
        future = self._opening.get(location)
        return (
            self.started
            and future is not None
            and future.done()
            and future.exception() is None
            and location not in self.broken
        )

    def wait_ready(self, location: Location, terms: Path, timeout: float) -> bool:
        future = self.open(location, terms)
        with contextlib.suppress(FutureTimeout, WorkerError):
            future.result(timeout=timeout)
        return self.ready(location)

    def call(self, op: str, timeout: float, **fields: Any) -> Any:
        try:
            return self.request(op, **fields).result(timeout=timeout)
        except FutureTimeout as error:
            raise WorkerError(
                f"the memory worker did not answer {op} in {timeout:.0f} s"
            ) from error

    # -- runs -------------------------------------------------------------------------------
    def run_started(self) -> None:
        self._running = True
        self.tell("run_started")

    def run_finished(self) -> None:
        self._running = False
        self.tell("run_finished")

    def close(self) -> None:
        """Close our end of the pipe; the worker finishes its batch and exits. No waiting."""
        proc, self._proc = self._proc, None
        self._opening.clear()
        if self._later is not None:
            self._later.cancel()
        if proc is not None:
            _close_pipe(proc)


def _close_pipe(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        with contextlib.suppress(OSError, ValueError):
            proc.stdin.close()
