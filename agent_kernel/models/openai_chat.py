"""Chat Completions over the `openai` client: streaming, tool calls, retries, clear failures.

OpenAI, Azure, Ollama, vLLM, llama.cpp and LM Studio all speak this protocol, so one client
serves them all. Retries are ours (the client's are off) so the user sees each one happen,
and a stream cut midway is retried like a failed request.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from agent_kernel.config import Endpoint
from agent_kernel.errors import AgentConfigError, ModelError
from agent_kernel.models.base import (
    ModelReply,
    RetryNotice,
    StreamItem,
    TextDelta,
    ToolCallRequest,
    Usage,
)
from agent_kernel.redact import redact

MAX_RETRY_AFTER_SECONDS = 30.0


class StreamCutError(Exception):
    """The server ended the stream before saying it was finished."""


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
    ) -> None:
        from openai import AsyncOpenAI

        self.endpoint = endpoint
        self.name = endpoint.model or ""
        self.max_retries = max(0, max_retries)
        self.temperature = temperature
        self.backoff_base = backoff_base
        # Local servers accept any key, but the client insists on one.
        self._client = AsyncOpenAI(
            api_key=endpoint.api_key or "not-needed",
            base_url=endpoint.base_url,
            timeout=timeout,
            max_retries=0,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def resolve_model(self) -> str:
        """Pick the server's only model when none was named (typical for a local server)."""
        if self.name:
            return self.name
        try:
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

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[StreamItem]:
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                async for item in self._stream_once(messages, tools):
                    yield item
                return
            except Exception as exc:
                retryable, wait = self._retry_plan(exc, attempt)
                if not retryable:
                    raise self._final_error(exc, attempt) from None
                if attempt == attempts:
                    raise ModelError(
                        f"the model server at {self.endpoint.label} kept failing "
                        f"({attempts} attempts; last: {self._describe(exc)}). Check that it "
                        "is up, or raise %config Agent.max_retries / Agent.request_timeout."
                    ) from None
                yield RetryNotice(self._describe(exc), attempt + 1, attempts, wait)
                await asyncio.sleep(wait)

    async def _stream_once(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[StreamItem]:
        model = await self.resolve_model()
        request: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            request["tools"] = tools
        if self.temperature is not None:
            request["temperature"] = self.temperature
        started = time.perf_counter()
        stream = await self._post_streaming(request)
        reply = ModelReply(model=model)
        text_parts: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        try:
            async for chunk in stream:
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
                    _merge_tool_call(calls, fragment)
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
        yield reply

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

        if isinstance(exc, (AgentConfigError, ModelError)):
            return False, 0.0
        if isinstance(exc, openai.APIStatusError):
            if exc.status_code != 429 and exc.status_code < 500:
                return False, 0.0
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
        if isinstance(exc, openai.APIStatusError):
            return ModelError(f"{where} refused the request: {self._describe(exc)}")
        return ModelError(f"calling {where} failed: {self._describe(exc)}")

    def _describe(self, exc: BaseException) -> str:
        """One line about a failure, with the key and other secrets removed."""
        import openai

        if isinstance(exc, openai.APITimeoutError):
            text = "no answer within the request timeout"
        elif isinstance(exc, openai.APIStatusError):
            message = _server_message(exc)
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


def _merge_tool_call(calls: dict[int, dict[str, str]], fragment: Any) -> None:
    index = fragment.index if fragment.index is not None else len(calls)
    entry = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
    if fragment.id:
        entry["id"] = fragment.id
    function = fragment.function
    if function is not None:
        if function.name:
            entry["name"] += function.name
        if function.arguments:
            entry["arguments"] += function.arguments


def _retry_after_seconds(exc: Any) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else None
    except (AttributeError, ValueError):
        return None


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return str(getattr(exc, "message", "") or "")


def _is_transport_error(exc: BaseException) -> bool:
    """Errors from the HTTP layer below openai (a dropped connection mid-stream)."""
    module = type(exc).__module__ or ""
    return module.split(".")[0] in {"httpx", "httpx2", "httpcore", "h11", "anyio"} or isinstance(
        exc, (ConnectionError, TimeoutError)
    )
