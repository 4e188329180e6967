"""Run agent code in a forked child of the kernel and bring back what it produced.

The fork shares the kernel's memory copy-on-write, so a large dataframe costs nothing to
share. The kernel has threads (ipykernel's, the store's writer); only the forking thread
lives on in the child, so the child touches none of their locks: no store, no widgets, no
comms, no kernel sockets. It confines itself, runs the code, writes one report to a pipe and
ends with `os._exit`. The report holds only plain values and pickled data, read back with
`transfer.loads`, which refuses code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import types
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from agent_kernel.sandbox.transfer import Change, RefusedValue, describe, dumps, loads

REPORT_SLACK = 16 << 20  # room for printed text and figures on top of the values


@dataclass(frozen=True)
class SandboxSettings:
    key_env: str = "OPENAI_API_KEY"
    writable: tuple[str, ...] = ()
    transfer_bytes: int = 256 << 20
    text_chars: int = 1 << 20


@dataclass
class SandboxReport:
    """What the child produced, as the kernel received it."""

    stdout: str = ""
    stderr: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    value: dict[str, Any] | None = None  # {"repr": str, "data": mime bundle, "metadata": ...}
    error: dict[str, str] | None = None  # {"type", "text", "summary"}
    changes: list[Change] = field(default_factory=list)
    confinement: str = ""


Executor = Callable[[dict[str, Any]], Coroutine[Any, Any, Any]]


def supported() -> bool:
    return hasattr(os, "fork") and sys.platform in ("linux", "darwin")


async def run_in_fork(
    execute: Executor, namespace: dict[str, Any], shell: Any, settings: SandboxSettings
) -> SandboxReport:
    """Fork, run `execute(namespace)` confined in the child, and return its report."""
    from IPython.utils import capture  # noqa: F401  (imported here, not once per child)

    from agent_kernel.sandbox import confine, landlock  # noqa: F401

    read_fd, write_fd = os.pipe()
    scratch = tempfile.mkdtemp(prefix="agent-sandbox-")
    from agent_kernel.memory.store import Store

    # No thread of this process may be inside DuckDB when it is copied (see Store.fork_gate).
    with Store.fork_gate, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "fork with threads": handled
        pid = os.fork()
    if pid == 0:  # the child never returns from here
        os.close(read_fd)
        _child(write_fd, execute, namespace, shell, settings, scratch)
    os.close(write_fd)
    try:
        raw = await _read_all(read_fd, settings.transfer_bytes + REPORT_SLACK)
    finally:
        os.close(read_fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # done or abandoned: either way it ends now
        # Tearing down a copy of a large kernel takes a while; the result does not wait.
        threading.Thread(target=_reap, args=(pid, scratch), daemon=True).start()
    return _parse(raw)


def _reap(pid: int, scratch: str) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    shutil.rmtree(scratch, ignore_errors=True)


async def _read_all(fd: int, limit: int) -> bytes:
    """Everything the child writes until it closes the pipe, without blocking the kernel."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    size = 0
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        nonlocal size
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            return
        if chunk:
            chunks.append(chunk)
            size += len(chunk)
        if (not chunk or size > limit) and not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
    if size > limit:
        raise SandboxError(f"the sandboxed code sent back more than {limit >> 20} MB; return less")
    return b"".join(chunks)


class SandboxError(RuntimeError):
    """The sandboxed run failed as a whole (not the agent's code: that is an error report)."""


def _parse(raw: bytes) -> SandboxReport:
    if not raw:
        raise SandboxError("the sandboxed code ended without a report (it was killed or crashed)")
    try:
        envelope = loads(raw)
    except (RefusedValue, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise SandboxError(f"the sandbox's report could not be read: {exc}") from None
    if envelope.get("fatal"):
        raise SandboxError(f"the sandbox could not run the code: {envelope['fatal']}")
    report = SandboxReport(
        stdout=envelope["stdout"],
        stderr=envelope["stderr"],
        outputs=envelope["outputs"],
        value=envelope["value"],
        error=envelope["error"],
        confinement=envelope["confinement"],
    )
    for item in envelope["changes"]:
        report.changes.append(_received(Change(**item)))
    return report


def _received(change: Change) -> Change:
    """Unpickle a value in the kernel with the allow-list; say why when it is refused."""
    if change.payload is not None:
        try:
            change.value = loads(change.payload)
            change.type_name, change.shape = describe(change.value)
        except Exception as exc:
            change.why_not = f"refused in the kernel: {exc}"
        change.payload = None
    return change


# -- the child -------------------------------------------------------------------------------
def _child(
    write_fd: int,
    execute: Executor,
    namespace: dict[str, Any],
    shell: Any,
    settings: SandboxSettings,
    scratch: str,
) -> None:
    envelope: dict[str, Any]
    try:
        from agent_kernel.sandbox.confine import confine

        writable = [scratch, *settings.writable, os.devnull]
        confined = confine(settings.key_env, writable, keep_fds=[write_fd])
        os.environ.update(TMPDIR=scratch, MPLCONFIGDIR=scratch)
        tempfile.tempdir = scratch
        envelope = _run(execute, namespace, shell, settings)
        envelope["confinement"] = confined.describe()
    except BaseException as exc:
        envelope = {"fatal": f"{type(exc).__name__}: {exc}"}
    try:
        data = dumps(envelope)
    except Exception as exc:
        data = dumps({"fatal": f"the report could not be sent: {exc}"})
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]
        os.close(write_fd)  # the kernel reads the end now, not after this copy is torn down
    finally:
        os._exit(0)


def _run(
    execute: Executor, namespace: dict[str, Any], shell: Any, settings: SandboxSettings
) -> dict[str, Any]:
    from IPython.utils.capture import capture_output

    before = {name: id(value) for name, value in namespace.items()}
    # The child inherited the kernel's running event loop; it never returns to it, so it
    # runs the code's own loop instead.
    asyncio.events._set_running_loop(None)
    loop = asyncio.new_event_loop()
    value: Any = None
    error: BaseException | None = None
    with capture_output(stdout=True, stderr=True, display=shell is not None) as captured:
        try:
            value = loop.run_until_complete(execute(namespace))
        except BaseException as exc:
            error = exc
    limit = settings.text_chars
    return {
        "stdout": captured.stdout[-limit:] if len(captured.stdout) > limit else captured.stdout,
        "stderr": captured.stderr[:limit],
        "outputs": [_plain_output(o.data, o.metadata) for o in captured.outputs],
        "value": _value_report(value, shell, limit) if value is not None else None,
        "error": _error_report(error) if error is not None else None,
        "changes": _changes(namespace, before, settings.transfer_bytes),
    }


def _plain_output(data: Any, metadata: Any) -> dict[str, Any]:
    """A display output as plain JSON values (the kernel reads nothing else)."""
    return json.loads(json.dumps({"data": data, "metadata": metadata or {}}, default=str))


def _value_report(value: Any, shell: Any, limit: int) -> dict[str, Any]:
    from agent_kernel.tools.outputs import (
        bounded_display_data,
        bounded_repr,
        bounded_value_display,
    )

    text = bounded_repr(value, limit * 2)  # never builds a bigger repr (a 50 MB string)
    bundle: dict[str, Any] = {"data": {"text/plain": text[:limit]}, "metadata": {}}
    if shell is not None:
        with contextlib.suppress(Exception):
            data, metadata = shell.display_formatter.format(bounded_value_display(value))
            bundle = _plain_output(bounded_display_data(data), metadata)
    return {"repr": text[: limit * 2], **bundle}


def _error_report(error: BaseException) -> dict[str, str]:
    from agent_kernel.tools.python import _format_error

    return {
        "type": type(error).__name__,
        "text": _format_error(error),
        "summary": f"{type(error).__name__}: {error}".split("\n")[0][:120],
    }


def _changes(
    namespace: dict[str, Any], before: dict[str, int], budget: int
) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    for name, value in namespace.items():
        if name.startswith("_") or before.get(name) == id(value):
            continue
        kind = "changed" if name in before else "new"
        changes.append(_pack(name, kind, value, budget - _sent(changes)))
    for name in before:
        if not name.startswith("_") and name not in namespace:
            changes.append({"name": name, "kind": "deleted"})
    return changes


def _sent(changes: list[dict[str, Any]]) -> int:
    return sum(len(c.get("payload") or b"") for c in changes)


def _pack(name: str, kind: str, value: Any, budget: int) -> dict[str, Any]:
    type_name, shape = describe(value)
    item: dict[str, Any] = {"name": name, "kind": kind, "type_name": type_name, "shape": shape}
    if isinstance(value, types.ModuleType):
        item["module"] = value.__name__
        return item
    if isinstance(value, (types.FunctionType, type, types.MethodType, types.BuiltinFunctionType)):
        item["why_not"] = "code stays in the sandbox; define it in a cell (propose_cell) to keep it"
        return item
    estimate = _estimate_bytes(value)
    if estimate > budget:
        left = max(budget, 0) / 1e6
        item["why_not"] = f"too large ({estimate / 1e6:,.0f} MB; {left:,.0f} MB left)"
        return item
    try:
        payload = dumps(value)
    except Exception as exc:
        item["why_not"] = f"it cannot be pickled ({type(exc).__name__}: {str(exc)[:80]})"
        return item
    if len(payload) > budget:
        item["why_not"] = f"too large ({len(payload) / 1e6:,.0f} MB; {budget / 1e6:,.0f} MB left)"
        return item
    item["payload"] = payload
    return item


def _estimate_bytes(value: Any) -> int:
    """A cheap size estimate, so a huge frame is not pickled only to be refused."""
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    usage = getattr(value, "memory_usage", None)
    if callable(usage):
        with contextlib.suppress(Exception):
            total = usage(index=True, deep=False)
            return int(total.sum() if hasattr(total, "sum") else total)
    return sys.getsizeof(value)
