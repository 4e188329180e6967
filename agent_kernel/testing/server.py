"""A scripted OpenAI-compatible server on 127.0.0.1: real HTTP, real SSE, scripted answers.

The model is the one stand-in a test of an agent needs; everything between the runtime and
the model (the `openai` client, httpx, sockets, streaming, retries) stays real. Each
`POST /v1/chat/completions` takes the next `Reply` of the script and records what the client
sent, so a test can check both what the user saw and what the model was given.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from agent_kernel.testing.dialects import DIALECTS, ServerDialect, refusal
from agent_kernel.testing.script import RecordedRequest, Reply, ScriptItem
from agent_kernel.testing.wire import completion, error_body, sse_event, stream_chunks

DEFAULT_MODELS = ("scripted-model",)


@dataclass(frozen=True)
class SentText:
    """A piece of streamed assistant text and when it left the server (`time.time()`), so a
    test can measure how long the piece takes to reach whoever shows it."""

    time: float
    request: int  # 1 for the server's first chat request
    text: str


class ScriptedServer:
    """An OpenAI-compatible Chat Completions server that answers from a script.

    Use as a context manager; point a client at `base_url`. `requests` holds every chat
    request in order (`requests[1].body["messages"][-1]` is what the model was sent last on
    the second call). `models` is what `GET /v1/models` lists.

    `chunk_delay` spaces the streamed chunks of every reply (seconds between two chunks), as
    a model that produces tokens at a finite rate does. Every piece of streamed text is kept
    in `sent_text` with the time it was sent, and appended as a JSON line to `text_log` when
    one is given (for a test in another process, such as a browser test).

    `dialect` makes it speak as another kind of server does (testing/dialects.py: "llamacpp",
    "ollama", "vllm", "lmstudio", "litellm"): its `/v1/models` owner and headers, how it
    streams tool calls, which request shapes it refuses and how its errors look. A refused
    request is recorded but uses no reply of the script. `keepalive` (seconds) overrides how
    often a waiting reply sends `: ping` comments; None sends none unless the dialect does.
    """

    def __init__(
        self,
        script: Iterable[ScriptItem] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Iterable[str] = DEFAULT_MODELS,
        chunk_delay: float = 0.0,
        text_log: str | Path | None = None,
        dialect: str | ServerDialect = "openai",
        keepalive: float | None = None,
    ) -> None:
        if isinstance(dialect, str) and dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; use one of {', '.join(DIALECTS)}")
        self.dialect = DIALECTS[dialect] if isinstance(dialect, str) else dialect
        self.keepalive = keepalive if keepalive is not None else self.dialect.keepalive
        self.models = list(models)
        self.chunk_delay = chunk_delay
        self.text_log = Path(text_log) if text_log is not None else None
        self.requests: list[RecordedRequest] = []
        self.sent_text: list[SentText] = []
        self.server_seconds = 0.0  # time spent inside chat handlers, for benchmarks
        self._script: deque[ScriptItem] = deque(script)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.scripted = self
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        host = str(self._httpd.server_address[0])
        return f"http://{host}:{self.port}/v1"

    def start(self) -> ScriptedServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"ScriptedServer:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes replies that are waiting out a delay
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- script -----------------------------------------------------------------------------
    def add(self, *items: ScriptItem) -> ScriptedServer:
        """Queue replies (or functions of the request that return one) for later requests."""
        with self._lock:
            self._script.extend(items)
        return self

    @property
    def remaining(self) -> int:
        """Replies not yet used; a test can assert the script was followed to its end."""
        with self._lock:
            return len(self._script)

    def _next(self, request: RecordedRequest) -> tuple[int, Reply]:
        """The request's number (1 for the first) and the reply the script has for it."""
        refused = refusal(self.dialect, request.body)
        with self._lock:
            self.requests.append(request)
            number = len(self.requests)
            if refused is not None:  # the server's own validation: the model never saw it
                return number, Reply.error(*refused)
            item = self._script.popleft() if self._script else None
        if item is None:
            return number, Reply.error(
                400, f"scripted server: no reply left for request #{number}; add more replies"
            )
        return number, item if isinstance(item, Reply) else item(request)

    def _wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; False if the server is stopping."""
        return not self._stopping.wait(seconds)

    def _sent(self, request: int, chunk: dict[str, Any]) -> None:
        """Note when a chunk that carries assistant text went out."""
        choices = chunk.get("choices") or [{}]
        text = (choices[0].get("delta") or {}).get("content")
        if not text:
            return
        record = SentText(time.time(), request, text)
        with self._lock:
            self.sent_text.append(record)
            if self.text_log is not None:
                with self.text_log.open("a", encoding="utf-8") as log:
                    log.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    scripted: ScriptedServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as real servers do
    server: _HTTPServer
    request_number = 0

    def setup(self) -> None:
        super().setup()
        # Small SSE writes must leave at once, or Nagle's algorithm adds 40 ms per chunk.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a test's output is not the place for an access log

    # -- routes -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            models = self.server.scripted.models
            owner = self.server.scripted.dialect.owned_by
            data = [{"id": m, "object": "model", "created": 0, "owned_by": owner} for m in models]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, error_body(404, f"no route GET {self.path}", self._dialect()))

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, error_body(404, f"no route POST {self.path}", self._dialect()))
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            message = f"the request body is not JSON: {exc}"
            self._send_json(400, error_body(400, message, self._dialect()))
            return
        started = time.perf_counter()
        scripted = self.server.scripted
        request = RecordedRequest(
            "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
        )
        try:
            self.request_number, reply = scripted._next(request)
            self._answer(reply, body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the client gave up (a timeout): nothing to do
        finally:
            with scripted._lock:
                scripted.server_seconds += time.perf_counter() - started

    # -- answers ----------------------------------------------------------------------------
    def _answer(self, reply: Reply, body: dict[str, Any]) -> None:
        scripted = self.server.scripted
        streamed = bool(body.get("stream")) and not reply.is_error
        if streamed and scripted.keepalive:
            # As sse_starlette does: headers at once, then `: ping` while the model works.
            self._start_stream()
            if not self._ping_for(reply.delay, scripted.keepalive):
                return
        elif reply.delay and not scripted._wait(reply.delay):
            self.close_connection = True
            return
        if reply.is_error:
            headers = {}
            if reply.retry_after is not None:
                headers["Retry-After"] = f"{reply.retry_after:g}"
            error = error_body(reply.status, reply.error_message, scripted.dialect)
            self._send_json(reply.status, error, headers)
            return
        model = str(body.get("model") or "scripted-model")
        completion_id = "chatcmpl-" + uuid.uuid4().hex[:24]
        if not streamed:
            self._send_json(200, completion(reply, model, completion_id))
            return
        if not scripted.keepalive:
            self._start_stream()
        if (
            scripted.dialect.cut_streamed_auto_tools
            and reply.tool_calls
            and (body.get("tool_choice") == "auto")
        ):
            self.wfile.write(b"0\r\n\r\n")  # an empty event stream, properly ended
            return
        self._stream(reply, model, completion_id, body)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self._dialect_headers()
        self.end_headers()

    def _ping_for(self, seconds: float, every: float) -> bool:
        """Send keep-alive comments for `seconds`; False if the server stopped meanwhile."""
        scripted = self.server.scripted
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if not scripted._wait(min(every, left)):
                self._drop_connection()
                return False
            self._write_chunk(f": ping - {time.strftime('%Y-%m-%d %H:%M:%S')}\r\n\r\n".encode())
        return True

    def _dialect_headers(self) -> None:
        for name, value in self.server.scripted.dialect.headers.items():
            self.send_header(name, value)

    def _stream(self, reply: Reply, model: str, completion_id: str, body: dict[str, Any]) -> None:
        scripted = self.server.scripted
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = stream_chunks(reply, model, completion_id, include_usage, scripted.dialect)
        for sent, chunk in enumerate(chunks):
            if reply.cut_after is not None and sent >= reply.cut_after:
                self._drop_connection()
                return
            if sent and scripted.chunk_delay and not scripted._wait(scripted.chunk_delay):
                self._drop_connection()
                return
            # Noted just before the write: a thread switch after it could let the client show
            # the text before the server got to note it.
            scripted._sent(self.request_number, chunk)
            self._write_chunk(sse_event(chunk))
        self._write_chunk(sse_event("[DONE]"))
        self.wfile.write(b"0\r\n\r\n")

    def _dialect(self) -> ServerDialect:
        return self.server.scripted.dialect

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _drop_connection(self) -> None:
        """End the connection mid-stream, with no final chunk: what a crashed server does."""
        self.close_connection = True
        self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self._dialect_headers()
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
