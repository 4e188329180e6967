"""Chat Completions over the `openai` client: streaming, tool calls, retries, clear failures.

OpenAI, Azure, Ollama, vLLM, llama.cpp and LM Studio all speak this protocol, each in its own
dialect (models/dialects.py): requests are shaped to the server, and a refused shape falls
back once to the conservative one. Retries are ours (the client's are off) so the user sees
each one happen; a stream cut midway is retried like a failed request, a request the server
finds invalid is not. `timeout` bounds the wait for the next useful chunk (text, a tool call
or the end), so a server that only sends keep-alive comments cannot hold a cell forever.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from agent_kernel.config import Endpoint
from agent_kernel.errors import AgentConfigError, ModelError
from agent_kernel.models import server_errors
from agent_kernel.models.base import (
    ModelNotice,
    ModelReply,
    RetryNotice,
    StreamItem,
    TextDelta,
    ToolCallRequest,
    Usage,
)
from agent_kernel.models.clients import remember_dialect, remembered_dialect, shared_client
from agent_kernel.models.dialects import DIALECTS, SERVER_NAMES, Dialect, detect
from agent_kernel.models.text_calls import find_text_calls
from agent_kernel.redact import redact

MAX_RETRY_AFTER_SECONDS = 30.0


class StreamCutError(Exception):
    """The server ended the stream before saying it was finished."""


class StreamStalledError(Exception):
    """The stream stayed open but nothing useful arrived within the timeout."""


class OpenAIChatModel:
    """A `ChatModel` for any OpenAI-compatible endpoint."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout: float = 120.0,
        max_retries: int = 3,
        temperature: float | None = None,
        backoff_base: float = 0.5,
        server: str = "auto",
        context_tokens: int | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.name = endpoint.model or ""
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.temperature = temperature
        self.backoff_base = backoff_base
        self.server = server if server in SERVER_NAMES else "auto"
        self.context_tokens = context_tokens
        self.dialect: Dialect | None = None
        self._listed: list[str] | None = None  # model ids, when /models was read to detect
        self._sent_chars = 0
        self._client = shared_client(endpoint, timeout)  # the kernel's, kept across cells

    async def aclose(self) -> None:
        """Nothing to release: the client is the kernel's, reused by the next cell."""

    async def resolve_model(self) -> str:
        """Pick the server's only model when none was named (typical for a local server)."""
        if self.name:
            return self.name
        try:
            names = self._listed
            if names is None:
                page = await self._client.models.list()
                names = sorted(m.id for m in page.data)
        except Exception as exc:
            raise ModelError(
                f"could not list models at {self.endpoint.label}: {self._describe(exc)}. "
                'Name one: %config Agent.model = "..."'
            ) from None
        if len(names) == 1:
            self.name = names[0]
            return self.name
        listing = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
        raise AgentConfigError(
            f"no model named and {self.endpoint.label} serves {len(names)} "
            f'({listing or "none"}). Choose one: %config Agent.model = "NAME"'
        )

    async def dialect_in_use(self) -> Dialect:
        """The server's dialect: the setting, what this kernel learnt, or detected once."""
        if self.dialect is None:
            base = self.endpoint.base_url
            self.dialect = remembered_dialect(base, self.server)
            if self.dialect is None:
                self.dialect, known = await self._detect()
                if known:  # a server that was down is asked again by the next cell
                    remember_dialect(base, self.server, self.dialect)
        return self.dialect

    async def _detect(self) -> tuple[Dialect, bool]:
        """The dialect, and whether the server (or the setting) said so."""
        if self.server != "auto":
            return DIALECTS[self.server], True
        if self.endpoint.base_url is None:
            return DIALECTS["openai"], True
        try:
            raw = await self._client.models.with_raw_response.list()
            page = raw.parse()
        except Exception:
            # /models is optional; the chat reply's headers or a refusal may still tell.
            return DIALECTS["openai"], False
        self._listed = sorted(m.id for m in page.data)
        listing = [m.model_dump() for m in page.data]
        return detect(dict(raw.headers), listing), True

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[StreamItem]:
        attempts = self.max_retries + 1
        attempt = 1
        while True:
            try:
                async for item in self._stream_once(messages, tools):
                    yield item
                return
            except Exception as exc:
                if self._falls_back(exc):
                    yield ModelNotice("fallback", self._fallback_note(exc))
                    continue
                retryable, wait = self._retry_plan(exc, attempt)
                if not retryable:
                    raise self._final_error(exc, attempt) from None
                if attempt == attempts:
                    raise ModelError(
                        f"the model server at {self.endpoint.label} kept failing "
                        f"({attempts} attempts; last: {self._describe(exc)}). Check that it "
                        "is up, or raise %config Agent.max_retries / Agent.request_timeout."
                    ) from None
                attempt += 1
                yield RetryNotice(self._describe(exc), attempt, attempts, wait)
                await asyncio.sleep(wait)

    def _request(
        self, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            # "auto" is OpenAI's default; some servers use the tools only when it is said.
            request["tools"], request["tool_choice"] = tools, "auto"
        if self.temperature is not None:
            request["temperature"] = self.temperature
        assert self.dialect is not None
        return self.dialect.shape(request)

    async def _stream_once(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[StreamItem]:
        started = time.perf_counter()
        dialect = await self.dialect_in_use()
        model = await self.resolve_model()
        request = self._request(model, messages, tools)
        self._sent_chars = sum(len(str(m.get("content") or "")) for m in messages)
        if tools and not dialect.stream_tools:
            async for item in self._complete_once(request, tools, started):
                yield item
            return
        stream = await self._post_streaming(request)
        self._learn_from_headers(stream, dialect)
        reply = ModelReply(model=model)
        text_parts: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        try:
            async for chunk in _useful_within(stream, self.timeout, started):
                if getattr(chunk, "usage", None):
                    reply.usage = Usage(
                        chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0
                    )
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta
                if delta is not None and delta.content:
                    if reply.first_token_ms is None:
                        reply.first_token_ms = (time.perf_counter() - started) * 1000
                    text_parts.append(delta.content)
                    yield TextDelta(delta.content)
                for fragment in (delta.tool_calls if delta is not None else None) or []:
                    merge_tool_call(calls, fragment)
                if choice.finish_reason:
                    reply.finish_reason = choice.finish_reason
        finally:
            await stream.close()
        if reply.finish_reason is None:
            raise StreamCutError("the stream ended before the reply was complete")
        reply.text = "".join(text_parts)
        reply.tool_calls = [
            ToolCallRequest(c["id"] or f"call_{i}", c["name"], c["arguments"])
            for i, c in sorted(calls.items())
            if c["name"]
        ]
        notice = _calls_from_text(reply, tools)
        if notice is not None:
            yield notice
        yield reply

    async def _complete_once(
        self, request: dict[str, Any], tools: list[dict[str, Any]], started: float
    ) -> AsyncIterator[StreamItem]:
        """One call not streamed, for servers that cannot stream a tool choice: the text
        arrives whole, as one delta."""
        from openai.types.chat import ChatCompletion

        request = {**request, "stream": False}
        request.pop("stream_options", None)
        response = await self._client.post(
            "/chat/completions", body=request, cast_to=ChatCompletion
        )
        reply = ModelReply(model=response.model or str(request["model"]))
        if response.usage is not None:
            reply.usage = Usage(response.usage.prompt_tokens, response.usage.completion_tokens)
        if not response.choices:
            raise StreamCutError("the reply had no choices")
        choice = response.choices[0]
        reply.finish_reason = choice.finish_reason or "stop"
        reply.text = choice.message.content or ""
        reply.first_token_ms = (time.perf_counter() - started) * 1000
        if reply.text:
            yield TextDelta(reply.text)
        for i, call in enumerate(choice.message.tool_calls or []):
            function = getattr(call, "function", None)
            if function is not None and function.name:
                arguments = function.arguments or ""
                reply.tool_calls.append(
                    ToolCallRequest(call.id or f"call_{i}", function.name, arguments)
                )
        notice = _calls_from_text(reply, tools)
        if notice is not None:
            yield notice
        yield reply

    def _learn_from_headers(self, stream: Any, dialect: Dialect) -> None:
        """A guessed dialect is corrected by what the chat reply's headers say (LiteLLM and
        llama.cpp name themselves there)."""
        if self.server != "auto" or dialect.name != "openai" or dialect.fallback:
            return
        response = getattr(stream, "response", None)
        found = detect(dict(getattr(response, "headers", {}) or {}))
        if found.name != "openai":
            self.dialect = found
            remember_dialect(self.endpoint.base_url, self.server, found)

    def _falls_back(self, exc: Exception) -> bool:
        """True once per kernel and endpoint, when the server refused the request's shape:
        the conservative shape is used from then on."""
        import openai

        dialect = self.dialect
        if dialect is None or dialect.fallback or not isinstance(exc, openai.APIStatusError):
            return False
        message = server_errors.server_message(exc)
        if server_errors.is_context_length(exc.status_code, message):
            return False
        if not server_errors.is_shape_refusal(exc.status_code, message) or _names_missing(message):
            return False
        self.dialect = dialect.conservative()
        remember_dialect(self.endpoint.base_url, self.server, self.dialect)
        return True

    def _fallback_note(self, exc: Exception) -> str:
        name = self.dialect.name if self.dialect else "openai"
        return (
            f"{self.endpoint.label} refused the request ({self._describe(exc)}); sending the "
            f"conservative shape from now on in this kernel (content as text; no "
            f"stream_options, parallel_tool_calls or strict; tool_choice only where the "
            f"server needs it). Dialect: {name}; "
            f'%config Agent.server = "..." picks one.'
        )

    async def _post_streaming(self, request: dict[str, Any]) -> Any:
        """POST the body as it is, through the client's generic `post`.

        `chat.completions.create` first walks every message with typing introspection
        (openai's `maybe_transform`): about 0.5 ms per message, so 100 ms per call once a
        conversation holds 400 messages. Ours are plain JSON already, so that walk is skipped;
        auth, headers, SSE parsing and error mapping stay the client's.
        """
        from openai import AsyncStream
        from openai.types.chat import ChatCompletion, ChatCompletionChunk

        return await self._client.post(
            "/chat/completions",
            body=request,
            cast_to=ChatCompletion,
            stream=True,
            stream_cls=AsyncStream[ChatCompletionChunk],
        )

    def _retry_plan(self, exc: Exception, attempt: int) -> tuple[bool, float]:
        """Whether `exc` is worth another try, and how long to wait first."""
        import openai

        if isinstance(exc, (AgentConfigError, ModelError, StreamStalledError)):
            return False, 0.0
        if isinstance(exc, openai.APIStatusError):
            if exc.status_code != 429 and exc.status_code < 500:
                return False, 0.0
            message = server_errors.server_message(exc)
            if server_errors.is_validation(
                exc.status_code, message
            ) or server_errors.is_context_length(exc.status_code, message):
                return False, 0.0  # the same request would be refused the same way
            retry_after = _retry_after_seconds(exc)
            if retry_after is not None:
                return True, min(retry_after, MAX_RETRY_AFTER_SECONDS)
        elif not isinstance(exc, (openai.APIConnectionError, StreamCutError)) and not (
            _is_transport_error(exc)
        ):
            return False, 0.0
        backoff = min(8.0, self.backoff_base * 2 ** (attempt - 1))
        return True, backoff * (0.5 + random.random() / 2)

    def _final_error(self, exc: Exception, attempt: int) -> Exception:
        import openai

        if isinstance(exc, (AgentConfigError, ModelError)):
            return exc
        where = self.endpoint.label
        if isinstance(exc, openai.AuthenticationError):
            variable = self.endpoint.key_source or "OPENAI_API_KEY"
            return AgentConfigError(
                f"{where} rejected the API key (401). Check ${variable} or run %agent key."
            )
        if isinstance(exc, openai.NotFoundError):
            return AgentConfigError(
                f"{where} has no model {self.name!r} or no /chat/completions route (404): "
                f"{self._describe(exc)}. Check %config Agent.model and Agent.base_url."
            )
        if isinstance(exc, StreamStalledError):
            return ModelError(
                f"{where} sent nothing useful (no text, tool call or end) for "
                f"{self.timeout:g} s, though the connection stayed open; the model may be too "
                "slow for this request here. Raise %config Agent.request_timeout "
                f"(now {self.timeout:g}) or use a smaller model."
            )
        if isinstance(exc, openai.APIStatusError):
            return self._refusal(exc)
        return ModelError(f"calling {where} failed: {self._describe(exc)}")

    def _refusal(self, exc: Any) -> ModelError:
        """One line for a refused request: what was refused, the dialect, what to change."""
        where = self.endpoint.label
        message = server_errors.server_message(exc)
        status = exc.status_code
        if server_errors.is_context_length(status, message):
            said, window = server_errors.tokens_in(message)
            sent = said or max(1, self._sent_chars // 4)
            of = f" of the model's {window}" if window else ""
            budget = f" (now {self.context_tokens})" if self.context_tokens else ""
            return ModelError(
                f"{where} refused the request: too long for the model's context "
                f"({'' if said else 'about '}{sent} tokens sent{of}). Lower "
                f"%config Agent.context_tokens{budget} below the model's window, or start "
                "a new session with %%agent --new."
            )
        label = self.dialect.label if self.dialect else "openai"
        if server_errors.is_validation(status, message):
            return ModelError(
                f"{where} refused the request: HTTP {status}: "
                f"{server_errors.short(redact(message, [self.endpoint.api_key]))} (not retried: "
                f"the same request fails the same way). Dialect in use: {label}; if the server "
                'is another kind, set %config Agent.server = "llamacpp", "ollama", "vllm", '
                f'"lmstudio", "litellm" or "openai" (now {self.server!r}).'
            )
        return ModelError(f"{where} refused the request: {self._describe(exc)}")

    def _describe(self, exc: BaseException) -> str:
        """One line about a failure, with the key and other secrets removed."""
        import openai

        if isinstance(exc, openai.APITimeoutError):
            text = "no answer within the request timeout"
        elif isinstance(exc, openai.APIStatusError):
            message = server_errors.short(server_errors.server_message(exc))
            text = f"HTTP {exc.status_code}" + (f": {message}" if message else "")
        elif isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            text = "connection failed" + (f" ({type(cause).__name__}: {cause})" if cause else "")
        else:
            text = f"{type(exc).__name__}: {exc}"
        text = " ".join(text.split())
        if len(text) > 300:
            text = text[:300] + "..."
        return redact(text, [self.endpoint.api_key])


def merge_tool_call(calls: dict[int, dict[str, str]], fragment: Any) -> None:
    """Add one streamed tool-call fragment: by index, the id and name set once (servers
    such as llama.cpp's repeat them in every fragment), the arguments appended."""
    function = fragment.function
    name = (function.name if function is not None else None) or ""
    index = fragment.index
    if index is None:  # servers that omit it send whole calls, or continue the last one
        same = [i for i, c in calls.items() if fragment.id and c["id"] == fragment.id]
        index = same[0] if same else (len(calls) if fragment.id or name else len(calls) - 1)
        index = max(index, 0)
    entry = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
    if fragment.id and not entry["id"]:
        entry["id"] = fragment.id
    if name and not entry["name"]:
        entry["name"] = name
    if function is not None and function.arguments:
        entry["arguments"] += function.arguments


async def _useful_within(stream: Any, timeout: float, started: float) -> AsyncIterator[Any]:
    """The stream's chunks, raising StreamStalledError when `timeout` seconds pass without a
    useful one (text, a tool call, a finish or usage): keep-alive comments and empty deltas
    do not count, though each of them resets the HTTP read timeout."""
    iterator = stream.__aiter__()
    deadline = started + timeout
    while True:
        try:
            chunk = await _next_within(iterator, max(0.0, deadline - time.perf_counter()))
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise StreamStalledError(f"nothing useful for {timeout:g} s") from None
        if _is_useful(chunk):
            deadline = time.perf_counter() + timeout
        yield chunk


async def _next_within(iterator: Any, seconds: float) -> Any:
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):  # no task per chunk, unlike wait_for
            return await iterator.__anext__()
    return await asyncio.wait_for(iterator.__anext__(), seconds)


def _is_useful(chunk: Any) -> bool:
    if getattr(chunk, "usage", None):
        return True
    for choice in chunk.choices or []:
        delta = choice.delta
        if choice.finish_reason or (
            delta is not None and (delta.content or delta.tool_calls or _reasoning(delta))
        ):
            return True
    return False


def _reasoning(delta: Any) -> bool:
    """Thinking models stream reasoning first (vLLM, llama.cpp: `reasoning_content`)."""
    extra = getattr(delta, "model_extra", None) or {}
    return bool(extra.get("reasoning_content") or extra.get("reasoning"))


def _calls_from_text(reply: ModelReply, tools: list[dict[str, Any]]) -> ModelNotice | None:
    """Tool calls the model wrote in its text become calls (only valid ones), said in the
    trace; the text left around them stays the reply's text."""
    if reply.tool_calls or not tools or not reply.text:
        return None
    import uuid

    found = find_text_calls(reply.text, tools, "call_text_" + uuid.uuid4().hex[:8])
    if found is None:
        return None
    reply.tool_calls, reply.text = found.calls, found.text
    names = ", ".join(c.name for c in found.calls)
    return ModelNotice(
        "text_tool_calls", f"the model wrote its tool call(s) as text ({found.format}): {names}"
    )


def _names_missing(message: str) -> bool:
    """A refusal about a missing model or route, which no request shape fixes."""
    lowered = message.lower()
    return "does not exist" in lowered or "not found" in lowered


def _retry_after_seconds(exc: Any) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else None
    except (AttributeError, ValueError):
        return None


def _is_transport_error(exc: BaseException) -> bool:
    """Errors from the HTTP layer below openai (a dropped connection mid-stream)."""
    module = type(exc).__module__ or ""
    return module.split(".")[0] in {"httpx", "httpx2", "httpcore", "h11", "anyio"} or isinstance(
        exc, (ConnectionError, TimeoutError)
    )
