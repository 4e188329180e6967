"""One MCP server's process and session, kept alive on a background event loop.

Every session of the process lives on one asyncio loop in a daemon thread. The SDK's stdio
client and session are anyio task groups that must be entered and left by one task, and a
session has to outlive the cell that started it; the kernel's loop cannot promise that
(terminal IPython may run each cell in a fresh loop and close it). Callers on any loop await
a call through `asyncio.wrap_future`, so a call never blocks the caller's loop and a kernel
interrupt cancels it. Nothing here prints (output from this thread would land in whichever
cell runs): the server's stderr, its log messages and the SDK's own records go to a file.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import threading
import time
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

from agent_kernel.mcp.config import ServerConfig

T = TypeVar("T")
MAX_LOG_BYTES = 1_000_000
MAX_TOOL_PAGES = 50
STOP_GRACE = 8.0  # the SDK closes stdin, waits 2 s, terminates, waits 2 s, kills
CONNECTION_CLOSED = -32000  # the SDK's code for a transport that ended
MARK = "[agent-kernel]"

_current_log: contextvars.ContextVar[TextIO | None] = contextvars.ContextVar(
    "agent_kernel_mcp_log", default=None
)


class ServerFailure(Exception):
    """The server could not answer: it did not start, exited, hung or sent garbage. The
    message is ours (never the server's text), so the model may read it as trusted."""

    def __init__(self, server: str, reason: str, log_path: Path, *, ended: bool = False) -> None:
        super().__init__(reason)
        self.server, self.reason, self.log_path = server, reason, log_path
        self.ended = ended  # the process stopped by itself: its last words may say why

    def for_model(self, tool: str) -> str:
        return (
            f"MCP server {self.server!r} {self.reason}, so {tool} gave no result. It is "
            f"started again on the next call; its log is {self.log_path}."
        )

    def for_user(self) -> str:
        last = log_tail(self.log_path) if self.ended else ""
        said = f' Its last words: "{last}".' if last else ""
        return f"MCP server {self.server!r} {self.reason}.{said} Log: {self.log_path}"


class ServerError(Exception):
    """The server answered with a JSON-RPC error: its message is the server's (untrusted)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class BackgroundLoop:
    """An event loop in a daemon thread that owns every MCP session of this process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="agent-kernel-mcp", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)


_LOOP: BackgroundLoop | None = None
_LOOP_LOCK = threading.Lock()
_CONNECTIONS: weakref.WeakSet[ServerConnection] = weakref.WeakSet()


def background_loop() -> BackgroundLoop:
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            _LOOP = BackgroundLoop()
            _route_sdk_logs()
        return _LOOP


@dataclass
class _Live:
    """One running server process and its session, held open by an owner task."""

    scope: Any  # anyio.CancelScope around the owner's contexts
    session: Any = None
    read_stream: Any = None
    log: TextIO | None = None
    owner: asyncio.Task[None] | None = None
    fault: str = ""  # set when the server wrote something that is not JSON-RPC
    faulted: asyncio.Event = field(default_factory=asyncio.Event)

    def alive(self) -> bool:
        if self.owner is None or self.owner.done() or self.fault or self.session is None:
            return False
        try:  # the stdout reader closes its end when the process's stdout ends
            return bool(self.read_stream.statistics().open_send_streams > 0)
        except Exception:
            return False

    def stop(self) -> None:
        self.scope.cancel()


class ServerConnection:
    """A configured server: started on first use, restarted on the use after a failure.

    State is changed on the background loop only; other threads read it.
    """

    def __init__(self, config: ServerConfig, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self.state = "not started"  # starting | running | stopped | failed | closed
        self.last_error = ""
        self.tools: list[dict[str, Any]] = []  # the last listing, in wire shape
        self.starts = 0
        self._live: _Live | None = None
        self._owners: set[asyncio.Task[None]] = set()  # running and shutting-down processes
        self._lock: asyncio.Lock | None = None
        self._bg = background_loop()
        _CONNECTIONS.add(self)

    @property
    def name(self) -> str:
        return self.config.name

    # -- from any thread ----------------------------------------------------------------------
    def start(self, timeout: float) -> concurrent.futures.Future[None]:
        """Start the server if it is not running (a future to wait on)."""
        return self._bg.submit(self._ensure_started(timeout))

    async def call(
        self, tool: str, arguments: dict[str, Any], timeout: float, start_timeout: float = 0.0
    ) -> dict[str, Any]:
        """Call a tool; the result in wire shape. Raises ServerFailure or ServerError. A server
        that is not running is started first, within `start_timeout` (default: `timeout`)."""
        start_timeout = start_timeout or timeout
        future = self._bg.submit(self._call(tool, arguments, timeout, start_timeout))
        # The background loop enforces the timeouts; this bound only guards against a wedged
        # loop (startup, the call, then the SDK's own bounded cleanup).
        bound = start_timeout + timeout + STOP_GRACE
        return await asyncio.wait_for(asyncio.wrap_future(future), bound)

    def close(self) -> concurrent.futures.Future[None]:
        """Stop the server for good (a removed or reconfigured server)."""
        return self._bg.submit(self._close())

    # -- on the background loop --------------------------------------------------------------
    async def _ensure_started(self, timeout: float) -> None:
        await self._ensure_live(timeout)

    async def _ensure_live(self, timeout: float) -> _Live:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.state == "closed":
                raise ServerFailure(self.name, "was removed or reconfigured", self.log_path)
            live = self._live
            if live is not None and live.alive():
                return live
            if live is not None:  # it ended while idle: start again before sending anything
                self._retire(live, "stopped", "exited while idle")
            return await self._start(timeout)

    async def _start(self, timeout: float) -> _Live:
        import anyio

        from agent_kernel.mcp.config import MCPConfigError

        self.state = "starting"
        try:
            env = self.config.environment()
        except MCPConfigError as exc:
            return self._fail(f"did not start: {exc}")
        live = _Live(scope=anyio.CancelScope())
        ready: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        live.owner = asyncio.create_task(self._own(live, env, ready))
        self._owners.add(live.owner)
        live.owner.add_done_callback(self._owners.discard)
        try:
            tools = await asyncio.wait_for(asyncio.shield(ready), timeout)
        except asyncio.CancelledError:
            live.stop()
            self.state, self.last_error = "stopped", "its start was interrupted"
            raise
        except asyncio.TimeoutError:
            live.stop()
            return self._fail(
                f"did not finish starting within {timeout:g} s (Agent.mcp_start_timeout)"
            )
        except Exception as exc:
            live.stop()
            self._log(f"start failed: {exc!r}"[:2000])
            return self._fail(f"did not start: {describe(exc)}", ended=True)
        self._live, self.tools, self.last_error = live, tools, ""
        self.state, self.starts = "running", self.starts + 1
        return live

    def _fail(self, reason: str, ended: bool = False) -> NoReturn:
        self.state, self.last_error = "failed", reason
        self._log(reason)
        raise ServerFailure(self.name, reason, self.log_path, ended=ended)

    async def _own(
        self, live: _Live, env: dict[str, str], ready: asyncio.Future[list[dict[str, Any]]]
    ) -> None:
        """Hold the process and session open until stopped; runs as its own task."""
        log = live.log = self._open_log()
        _current_log.set(log)
        try:
            import anyio
            from mcp import ClientSession, StdioServerParameters
            from mcp.client.stdio import stdio_client
            from mcp.types import Implementation

            from agent_kernel._version import __version__

            params = StdioServerParameters(
                command=self.config.command,
                args=list(self.config.args),
                env=env,
                cwd=self.config.cwd,
            )

            async def on_message(message: Any) -> None:
                if isinstance(message, Exception):  # a line on stdout that is not JSON-RPC
                    live.fault = type(message).__name__
                    live.faulted.set()

            async def on_log(params: Any) -> None:
                log.write(f"[{params.level}] {params.data}\n")

            info = Implementation(name="agent-kernel", version=__version__)
            with live.scope:
                async with (
                    stdio_client(params, errlog=log) as (read, write),
                    ClientSession(
                        read,
                        write,
                        message_handler=on_message,
                        logging_callback=on_log,
                        client_info=info,
                    ) as session,
                ):
                    await session.initialize()
                    tools = await _list_tools(session)
                    live.session, live.read_stream = session, read
                    ready.set_result(tools)
                    await anyio.sleep_forever()  # until the scope is cancelled
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            print(f"{MARK} the session ended: {exc!r}"[:2000], file=log, flush=True)
        finally:
            if not ready.done():
                ready.set_exception(ConnectionError("the session ended during the handshake"))
            live.session = None
            log.close()

    async def _call(
        self, tool: str, arguments: dict[str, Any], timeout: float, start_timeout: float
    ) -> dict[str, Any]:
        from mcp.shared.exceptions import MCPError

        live = await self._ensure_live(start_timeout)
        _current_log.set(live.log)
        call = asyncio.ensure_future(live.session.call_tool(tool, arguments))
        fault = asyncio.ensure_future(live.faulted.wait())
        try:
            await asyncio.wait({call, fault}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (call, fault):
                if not task.done():
                    task.cancel()
        if call.done() and not call.cancelled():
            exc = call.exception()
            if exc is None:
                return dict(call.result().model_dump(by_alias=True, mode="json", exclude_none=True))
            if isinstance(exc, MCPError) and exc.code != CONNECTION_CLOSED:
                raise ServerError(exc.code, exc.message)  # it answered, with an error
            if isinstance(exc, MCPError) or not live.alive():
                self._retire(live, "stopped", "exited during the call")
                raise ServerFailure(self.name, "exited during the call", self.log_path, ended=True)
            else:
                self._log(f"the result of {tool} could not be read: {exc!r}"[:2000])
                reason = f"returned a malformed result ({describe(exc)})"
        elif live.fault:
            reason = "wrote output that is not MCP JSON-RPC to its stdout"
        else:
            reason = f"did not answer within {timeout:g} s (Agent.mcp_timeout)"
        self._retire(live, "stopped", reason)
        raise ServerFailure(self.name, reason, self.log_path)

    async def _close(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._live is not None:
                self._retire(self._live, "closed", "")
            self.state = "closed"
        if self._owners:  # wait for the processes to be gone (the SDK's shutdown is bounded)
            await asyncio.wait(set(self._owners), timeout=STOP_GRACE)

    def _retire(self, live: _Live, state: str, reason: str) -> None:
        """Stop a live server (in the background); the next use starts a new one."""
        if reason:
            self._log(f"stopped: {reason}; it restarts on next use")
        live.stop()
        if self._live is live:
            self._live = None
        self.state, self.last_error = state, reason

    # -- the log ------------------------------------------------------------------------------
    def _open_log(self) -> TextIO:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if self.log_path.stat().st_size > MAX_LOG_BYTES:
                self.log_path.replace(self.log_path.with_name(self.log_path.name + ".1"))
        except OSError:
            pass
        log = open(self.log_path, "a", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"{MARK} {stamp} starting {self.name}: {self.config.describe()}\n")
        return log

    def _log(self, text: str) -> None:
        try:
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(f"{MARK} {time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")
        except OSError:
            pass


async def _list_tools(session: Any) -> list[dict[str, Any]]:
    from mcp.types import PaginatedRequestParams

    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        params = PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        wire = page.model_dump(by_alias=True, mode="json", exclude_none=True)
        tools.extend(wire.get("tools", []))
        cursor = wire.get("nextCursor")
        if not cursor:
            break
    return tools


def describe(exc: BaseException) -> str:
    """An exception in one line, looking through task groups to the first real cause.

    Only text that cannot come from the server: local errors (the OS, ours) in full, a
    validation error as where and what (never the value), anything else by its type. The
    whole exception goes to the server's log."""
    inner = getattr(exc, "exceptions", None)
    while inner:
        exc = next((e for e in inner if not isinstance(e, asyncio.CancelledError)), inner[0])
        inner = getattr(exc, "exceptions", None)
    code = getattr(exc, "code", None)
    errors = getattr(exc, "errors", None)
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if code == CONNECTION_CLOSED:
        return "it exited before answering"
    if isinstance(code, int):
        return f"it answered with JSON-RPC error {code}"
    if callable(errors) and type(exc).__name__ == "ValidationError":
        try:
            return "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'result'}: {e['msg']}" for e in errors()
            )[:300]
        except Exception:
            return "ValidationError"
    lines = str(exc).strip().splitlines()
    if isinstance(exc, (OSError, ValueError)) and lines and type(exc).__module__ == "builtins":
        return f"{type(exc).__name__}: {lines[0]}"[:300]
    return type(exc).__name__


def log_tail(path: Path, limit: int = 200) -> str:
    """The server's last line in its log (not ours), for a person to read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 8192))
            lines = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        text = " ".join(line.split())
        if text and not text.startswith(MARK):
            return text if len(text) <= limit else text[: limit - 1] + "…"
    return ""


class _ToServerLog(logging.Handler):
    """The SDK's log records, written to the log of the server whose task logged them."""

    def emit(self, record: logging.LogRecord) -> None:
        log = _current_log.get()
        if log is None or log.closed:  # not one of ours: what Python would do without us
            last_resort = logging.lastResort
            if (
                last_resort is not None
                and not logging.getLogger().handlers
                and record.levelno >= last_resort.level
            ):
                last_resort.handle(record)
            return
        # One line: the SDK's tracebacks would bury the server's own last words.
        cause = (
            f": {describe(record.exc_info[1])}" if record.exc_info and record.exc_info[1] else ""
        )
        with contextlib.suppress(Exception):
            log.write(f"{MARK} sdk {record.levelname}: {record.getMessage()}{cause}\n")


def _route_sdk_logs() -> None:
    # The SDK logs with `logging`; without a handler, Python would print its errors to the
    # kernel's stderr from this thread, which lands in whichever cell is running.
    handler = _ToServerLog()
    for name in ("mcp", "client"):
        logging.getLogger(name).addHandler(handler)


def stop_all(timeout: float = 5.0) -> None:
    """Stop every server of the process (at exit); bounded."""
    if _LOOP is None:
        return
    futures = [c.close() for c in list(_CONNECTIONS)]
    concurrent.futures.wait(futures, timeout=timeout)
