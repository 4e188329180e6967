"""The agent loop: context -> model -> tools -> model ... until an answer or the step limit.

It is a coroutine so a step can await a person (an approval click) without blocking the
kernel, and it only emits events: rendering and storage are observers.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from agent_kernel.errors import AgentError
from agent_kernel.events import Event, EventBus, EventKind, new_id
from agent_kernel.models.base import (
    ChatModel,
    ModelReply,
    RetryNotice,
    TextDelta,
    ToolCallRequest,
    Usage,
)
from agent_kernel.policy.decide import Policy
from agent_kernel.runtime.context import ContextBuilder
from agent_kernel.runtime.conversation import Conversation
from agent_kernel.tools.base import ToolContext, ToolError, ToolResult, bound_text
from agent_kernel.tools.registry import ToolRegistry

RunStatus = Literal["answered", "max_steps", "interrupted", "error"]


@dataclass
class RunResult:
    run_id: str
    status: RunStatus
    answer: str = ""
    steps: int = 0
    usage: Usage = field(default_factory=Usage)
    message: str = ""
    error: AgentError | None = None


class AgentLoop:
    """Runs one request against a model with tools, recording every step as an event."""

    def __init__(
        self,
        model: ChatModel,
        tools: ToolRegistry,
        conversation: Conversation,
        bus: EventBus,
        tool_context: ToolContext,
        *,
        policy: Policy | None = None,
        max_steps: int = 12,
        instructions: str = "",
        context: ContextBuilder | None = None,
    ) -> None:
        self.model = model
        self.tools = tools
        self.conversation = conversation
        self.bus = bus
        self.tool_context = tool_context
        self.policy = policy or Policy()
        self.max_steps = max(1, max_steps)
        self.context = context or ContextBuilder(instructions=instructions, budget=10**9)
        self.run_id = tool_context.run_id or new_id("run_")
        tool_context.run_id = self.run_id
        self._step = 0

    def _emit(self, kind: EventKind, **data: Any) -> None:
        self.bus.emit(Event(kind, self.run_id, self._step, data))

    async def run(self, request: str) -> RunResult:
        result = RunResult(self.run_id, "error")
        # Each message is appended before the event that ends its step, so an observer that
        # records steps (the store) records the message with it.
        self.conversation.append({"role": "user", "content": request})
        self._emit("run_started", request=request, model=self.model.name, max_steps=self.max_steps)
        schemas = self.tools.openai_schemas()
        pending: list[ToolCallRequest] = []
        try:
            while self._step < self.max_steps:
                self._step += 1
                reply = await self._call_model(schemas, result.usage)
                if not reply.tool_calls:
                    result.status, result.answer = "answered", reply.text
                    break
                pending = list(reply.tool_calls)
                while pending:
                    await self._run_tool(pending[0])
                    pending.pop(0)
            else:
                result.status = "max_steps"
                result.message = (
                    f"Stopped after {self.max_steps} steps without a final answer. Ask a "
                    "narrower question, or allow more: %%agent --max-steps N."
                )
        except (KeyboardInterrupt, asyncio.CancelledError) as exc:
            # A kernel interrupt arrives as KeyboardInterrupt in synchronous tool code and as
            # a cancelled cell coroutine otherwise; either way the run ends cleanly, recorded.
            if isinstance(exc, asyncio.CancelledError):
                _uncancel_current_task()
            self._close_pending(pending, "interrupted by the user before this call ran")
            result.status, result.message = "interrupted", "Run interrupted; nothing more was run."
        except AgentError as exc:
            self._close_pending(pending, "not run: the run failed")
            result.status, result.message, result.error = "error", str(exc), exc
        result.steps = self._step
        self._finish(result)
        return result

    def _finish(self, result: RunResult) -> None:
        self._emit(
            "run_finished",
            status=result.status,
            answer=result.answer,
            steps=self._step,
            usage={
                "prompt_tokens": result.usage.prompt_tokens,
                "completion_tokens": result.usage.completion_tokens,
            },
            message=result.message,
        )

    async def _call_model(self, schemas: list[dict[str, Any]], total: Usage) -> ModelReply:
        built = self.context.build(self.conversation.messages(), schemas)
        messages = built.messages
        self._emit(
            "model_started", messages=len(messages), tools=len(schemas), context=built.summary()
        )
        started = time.perf_counter()
        reply: ModelReply | None = None
        async for item in self.model.stream(messages, schemas):
            if isinstance(item, TextDelta):
                self._emit("text_delta", text=item.text)
            elif isinstance(item, RetryNotice):
                self._emit(
                    "model_retry",
                    reason=item.reason,
                    attempt=item.attempt,
                    max_attempts=item.max_attempts,
                    wait_seconds=round(item.wait_seconds, 2),
                )
            else:
                reply = item
        if reply is None:  # a ChatModel must end with a reply; treat silence as a failure
            raise AgentError("the model returned nothing")
        total.add(reply.usage)
        if reply.usage is not None:
            self.context.counter.calibrate(built.tokens, reply.usage.prompt_tokens)
        self.conversation.append(reply.assistant_message())
        self._emit(
            "model_finished",
            text=reply.text,
            tool_calls=[
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in reply.tool_calls
            ],
            usage=(
                {
                    "prompt_tokens": reply.usage.prompt_tokens,
                    "completion_tokens": reply.usage.completion_tokens,
                }
                if reply.usage
                else None
            ),
            finish_reason=reply.finish_reason,
            model=reply.model,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            first_token_ms=reply.first_token_ms,
        )
        return reply

    async def _run_tool(self, call: ToolCallRequest) -> None:
        """Run one call through policy and the tool; its result joins the conversation."""
        started = time.perf_counter()
        arguments: dict[str, Any] = {}
        tool = self.tools.get(call.name)
        try:
            arguments = _parse_arguments(call)
            if tool is None:
                raise ToolError(
                    f"there is no tool named {call.name!r}; available: "
                    + ", ".join(self.tools.names())
                )
            decision = self.policy.decide(tool, arguments)
            self._emit(
                "policy_decision",
                tool=call.name,
                call_id=call.id,
                decision=decision.action,
                reason=decision.reason,
            )
            if not decision.allowed:
                raise ToolError(f"not allowed: {decision.reason}")
            self._emit("tool_started", tool=call.name, call_id=call.id, arguments=arguments)
            outcome = _as_result(await tool.call(arguments, self.tool_context))
        except ToolError as exc:
            outcome = ToolResult(content=f"Error: {exc}", ok=False, summary=str(exc))
        except (KeyboardInterrupt, asyncio.CancelledError):
            raise
        except Exception as exc:  # a tool bug is the model's problem to route around
            outcome = ToolResult(
                content=f"Error: the tool {call.name} failed: {type(exc).__name__}: {exc}",
                ok=False,
                summary=f"{type(exc).__name__}: {exc}",
            )
        limit = self.tool_context.max_result_chars
        content, truncated = bound_text(outcome.content, limit, "ask for less")
        self.conversation.append({"role": "tool", "tool_call_id": call.id, "content": content})
        self._emit(
            "tool_finished",
            tool=call.name,
            call_id=call.id,
            arguments=arguments if arguments else call.arguments,
            ok=outcome.ok,
            summary=outcome.summary or _first_line(content),
            content=content,
            data=outcome.data,
            truncated=truncated or outcome.truncated,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    def _close_pending(self, pending: list[ToolCallRequest], why: str) -> None:
        """Answer calls that never ran, so the next request is a valid conversation."""
        for call in pending:
            self.conversation.append(
                {"role": "tool", "tool_call_id": call.id, "content": f"Error: {why}"}
            )
        pending.clear()


def _uncancel_current_task() -> None:
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):  # Python 3.11+
        task.uncancel()


def _parse_arguments(call: ToolCallRequest) -> dict[str, Any]:
    text = call.arguments.strip() or "{}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError(
            f"the arguments for {call.name} are not valid JSON ({exc.msg} at character "
            f"{exc.pos}); send the call again with a JSON object"
        ) from None
    if not isinstance(value, dict):
        raise ToolError(
            f"the arguments for {call.name} must be a JSON object, not {type(value).__name__}"
        )
    return value


def _as_result(value: Any) -> ToolResult:
    if isinstance(value, ToolResult):
        return value
    if value is None:
        return ToolResult(content="done")
    if isinstance(value, str):
        return ToolResult(content=value)
    try:
        return ToolResult(content=json.dumps(value, default=str, ensure_ascii=False))
    except (TypeError, ValueError):
        return ToolResult(content=repr(value))


def _first_line(text: str, limit: int = 100) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"
