"""The agent loop: context -> model -> tools -> model ... until an answer or the step limit.

It is a coroutine so a step can await a person (an approval click) without blocking the
kernel, and it only emits events: rendering and storage are observers. Before a tool runs,
the decision point rules on it with the run's taint (untrusted content the model has seen);
an "ask" waits on the approver, whose answer is recorded like everything else.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent_kernel.errors import AgentError
from agent_kernel.events import Event, EventBus, EventKind, new_id
from agent_kernel.models.base import (
    ChatModel,
    ModelNotice,
    ModelReply,
    RetryNotice,
    TextDelta,
    ToolCallRequest,
    Usage,
)
from agent_kernel.policy import spotlight
from agent_kernel.policy.decide import Decision, DecisionPoint
from agent_kernel.redact import MessageRedactor
from agent_kernel.runtime.approval import ApprovalDecision, ApprovalRequest, Approver, edit_diff
from agent_kernel.runtime.context import BuiltContext, ContextBuilder
from agent_kernel.runtime.conversation import Conversation, Message
from agent_kernel.text import clean_text, replacement_note
from agent_kernel.tools.base import Tool, ToolContext, ToolError, ToolResult, bound_text
from agent_kernel.tools.registry import ToolRegistry

WRAPPER_CHARS = 120  # what spotlight.wrap adds around untrusted content
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


class DenyingApprover:
    """Where no one can be asked: every approval is denied, and says how to allow it."""

    async def request(self, request: ApprovalRequest) -> ApprovalDecision:
        return ApprovalDecision(False, "no approver", "unattended", "no one could be asked")


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
        policy: DecisionPoint | None = None,
        approver: Approver | None = None,
        max_steps: int = 12,
        instructions: str = "",
        context: ContextBuilder | None = None,
        secrets: Sequence[str] = (),
        verify: str = "off",
        vision: bool = False,
        max_images: int = 3,
        image_max_side: int = 1024,
    ) -> None:
        self.model = model
        self.tools = tools
        self.conversation = conversation
        self.bus = bus
        self.tool_context = tool_context
        self.policy = policy or DecisionPoint()
        self.approver: Approver = approver or DenyingApprover()
        self.max_steps = max(1, max_steps)
        self.context = context or ContextBuilder(instructions=instructions, budget=10**9)
        self.secrets = list(secrets)
        self._redactor = MessageRedactor(self.secrets)  # each message redacted once
        self.verify_mode = verify  # off | note | retry (Agent.verify)
        self.vision = vision  # images from tools go to the model (see runtime/vision.py)
        self.max_images = max_images
        self.image_max_side = image_max_side
        self._code_ran = False
        self._retried = False
        self.run_id = tool_context.run_id or new_id("run_")
        tool_context.run_id = self.run_id
        tool_context.confirm = self._confirm
        self._call: ToolCallRequest | None = None  # the call running now (for _confirm)
        self._step = 0
        self._seen: BuiltContext | None = None  # what the model saw when it chose its calls

    def _emit(self, kind: EventKind, **data: Any) -> None:
        self.bus.emit(Event(kind, self.run_id, self._step, data))

    # -- a run ------------------------------------------------------------------------------
    async def run(self, request: str) -> RunResult:
        """Answer a new request."""
        refusal = self._oversized(request)
        if refusal is not None:
            # Refused before it joins the conversation, so it cannot crowd out later turns.
            shown = bound_text(request, 2000, "the request was refused as too long")[0]
            self._emit("run_started", request=shown, model=self.model.name, refused=True)
            result = RunResult(self.run_id, "error", message=str(refusal), error=refusal)
            self._finish(result)
            return result
        # Each message is appended before the event that ends its step, so an observer that
        # records steps (the store) records the message with it.
        self.conversation.append({"role": "user", "content": request})
        self._emit("run_started", request=request, model=self.model.name, max_steps=self.max_steps)
        return await self._drive([], {})

    def _oversized(self, request: str) -> AgentError | None:
        """An error when the request alone does not fit the context budget with the
        instructions and tool schemas: sending it whole would overflow the model's window,
        and cutting it would silently change what was asked."""
        budget, counter = self.context.budget, self.context.counter
        tokens = counter.text(request)
        if tokens <= budget // 2:  # the common case, without measuring the schemas
            return None
        fixed = counter.text(self.context.system)
        fixed += counter.text(json.dumps(self.tools.openai_schemas()))
        if tokens + fixed <= budget:
            return None
        return AgentError(
            f"this request is about {tokens:,} tokens ({len(request):,} characters) and the "
            f"context budget is {budget:,} tokens ({fixed:,} of them for instructions and "
            "tools): shorten it, or put the text in a variable or file for the agent to read, "
            "or raise %config Agent.context_tokens"
        )

    async def resume(
        self, calls: list[ToolCallRequest], decided: dict[str, ApprovalDecision]
    ) -> RunResult:
        """Carry on a run stopped at `calls` (recorded before a restart): run them, with the
        decisions already made, then continue with the model."""
        self._emit("run_started", request="", resumed=True, model=self.model.name)
        self._seen = self.context.build(self.conversation.messages(), [])
        return await self._drive(calls, decided)

    async def _drive(
        self, pending: list[ToolCallRequest], decided: dict[str, ApprovalDecision]
    ) -> RunResult:
        result = RunResult(self.run_id, "error")
        schemas = self.tools.openai_schemas()
        try:
            await self._run_calls(pending, decided)
            while self._step < self.max_steps:
                self._step += 1
                reply = await self._call_model(schemas, result.usage)
                if not reply.tool_calls:
                    if self._check(reply.text):
                        continue  # the finding went back to the model once (retry mode)
                    result.status, result.answer = "answered", clean_text(reply.text)[0]
                    break
                pending[:] = reply.tool_calls
                await self._run_calls(pending, {})
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

    async def _run_calls(
        self, pending: list[ToolCallRequest], decided: dict[str, ApprovalDecision]
    ) -> None:
        while pending:
            await self._run_tool(pending[0], decided.get(pending[0].id))
            pending.pop(0)

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

    # -- the model --------------------------------------------------------------------------
    async def _call_model(self, schemas: list[dict[str, Any]], total: Usage) -> ModelReply:
        built = self.context.build(self.conversation.messages(), schemas)
        self._seen = built
        # Nothing secret leaves the kernel, whatever a tool printed or the user pasted.
        messages = self._redactor.messages(built.messages)
        images = self._image_message()
        if images is not None:
            from agent_kernel.runtime.vision import IMAGE_SOURCE

            built.untrusted.append(IMAGE_SOURCE)  # an image can carry text: it taints
            messages.append(images)
        self._emit(
            "model_started", messages=len(messages), tools=len(schemas), context=built.summary()
        )
        started = time.perf_counter()
        try:
            reply = await self._stream(messages, schemas)
        except AgentError as exc:
            if images is None:
                raise
            # The server refused the image parts: say so in one line, go on without images.
            self.vision = False
            self._emit(
                "model_retry",
                reason=f"the model did not accept images ({exc}); continuing without them",
                attempt=1,
                max_attempts=1,
                wait_seconds=0,
            )
            reply = await self._stream(messages[:-1], schemas)
        total.add(reply.usage)
        if reply.usage is not None:
            self.context.counter.calibrate(built.tokens, reply.usage.prompt_tokens)
        self.conversation.append(reply.assistant_message())
        self._model_finished(reply, started)
        return reply

    def _image_message(self) -> Message | None:
        """The newest images tools produced in this run, when the model can see them."""
        images = self.tool_context.state.get("images")
        if not self.vision or not images:
            return None
        from agent_kernel.runtime.vision import image_message

        return image_message(images, self.max_images, self.image_max_side)

    async def _stream(self, messages: list[Message], schemas: list[dict[str, Any]]) -> ModelReply:
        reply: ModelReply | None = None
        async for item in self.model.stream(messages, schemas):
            if isinstance(item, TextDelta):
                self._emit("text_delta", text=item.text)
            elif isinstance(item, ModelNotice):
                self._emit("model_note", about=item.kind, text=item.text)
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
        return reply

    def _model_finished(self, reply: ModelReply, started: float) -> None:
        self._emit(
            "model_finished",
            text=reply.text,
            tool_calls=[
                {"id": c.id, "name": c.name, "arguments": c.arguments}
                | ({"from_text": True} if c.from_text else {})
                for c in reply.tool_calls
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

    # -- tools ------------------------------------------------------------------------------
    async def _run_tool(self, call: ToolCallRequest, decided: ApprovalDecision | None) -> None:
        """Authorise and run one call; its result (or why it did not run) joins the
        conversation, as untrusted data when it carries text from data."""
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
            arguments = await self._authorise(call, tool, arguments, decided)
            self._call = call
            self._emit("tool_started", tool=call.name, call_id=call.id, arguments=arguments)
            outcome = _as_result(await tool.call(arguments, self.tool_context), tool)
        except ToolError as exc:
            outcome = ToolResult(
                content=f"Error: {exc}", ok=False, summary=str(exc), trusted=exc.trusted
            )
        except (KeyboardInterrupt, asyncio.CancelledError):
            raise
        except Exception as exc:  # a tool bug is the model's problem to route around
            outcome = ToolResult(
                content=f"Error: the tool {call.name} failed: {type(exc).__name__}: {exc}",
                ok=False,
                summary=f"{type(exc).__name__}: {exc}",
                trusted=False,  # an unexpected message may echo whatever the tool read
            )
        outcome = _valid_text(outcome)
        # The cap holds for what is sent, wrapper included.
        limit = self.tool_context.max_result_chars - (0 if outcome.trusted else WRAPPER_CHARS)
        content, truncated = bound_text(outcome.content, limit, "ask for less")
        sent = content if outcome.trusted else spotlight.wrap(content, f"result of {call.name}")
        if tool is not None and tool.runs_code and outcome.ok:
            self._code_ran = True
        self.conversation.append({"role": "tool", "tool_call_id": call.id, "content": sent})
        self._emit(
            "tool_finished",
            tool=call.name,
            call_id=call.id,
            arguments=arguments if arguments else call.arguments,
            ok=outcome.ok,
            trusted=outcome.trusted,
            summary=outcome.summary or _first_line(content),
            content=content,
            data=outcome.data,
            truncated=truncated or outcome.truncated,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def _authorise(
        self,
        call: ToolCallRequest,
        tool: Tool,
        arguments: dict[str, Any],
        decided: ApprovalDecision | None,
    ) -> dict[str, Any]:
        """The arguments to run with, once the policy (and a person, if asked) allow the call;
        raises ToolError with the reason the model reads when the call may not run."""
        taint = self.taint()
        self.tool_context.taint = taint
        decision = self.policy.decide(tool, arguments, taint)
        self._emit(
            "policy_decision",
            tool=call.name,
            call_id=call.id,
            decision=decision.action,
            reason=decision.reason,
            source=decision.source,
            rule=decision.rule,
            taint=list(decision.taint),
        )
        if decision.action == "deny":
            raise ToolError(f"not allowed: {decision.reason}")
        if decision.action == "allow":
            return arguments
        answer = decided or await self._ask(call, arguments, decision)
        if not answer.approved:
            why = f": {answer.reason}" if answer.reason else ""
            raise ToolError(f"the user did not approve this call{why}")
        if answer.always:
            from agent_kernel.policy.rules import Rule

            self.policy.add_rule(Rule(tool.name, "allow", source="approval card"))
        if answer.arguments is not None:
            return tool.validate(answer.arguments)
        return arguments

    async def _ask(
        self, call: ToolCallRequest, arguments: dict[str, Any], decision: Decision
    ) -> ApprovalDecision:
        tool = self.tools.get(call.name)
        detail = ""
        if tool is not None and tool.preview is not None:
            detail = await tool.preview(arguments, self.tool_context)  # ToolError: refused
        request = ApprovalRequest(
            tool=call.name,
            call_id=call.id,
            arguments=arguments,
            reason=decision.reason,
            run_id=self.run_id,
            taint=decision.taint,
            from_data=self._from_data(call.name, arguments),
            timeout=self.policy.approval_timeout,
            detail=detail,
        )
        self._emit(
            "approval_requested",
            approval_id=request.id,
            tool=call.name,
            call_id=call.id,
            arguments=arguments,
            reason=decision.reason,
            taint=list(decision.taint),
            from_data=request.from_data,
            timeout=request.timeout,
            detail=detail,
        )
        try:
            answer = await asyncio.wait_for(self.approver.request(request), request.timeout)
        except asyncio.TimeoutError:
            answer = ApprovalDecision(
                False, "timeout", "timeout", f"no one answered within {request.timeout:.0f} s"
            )
        edited = answer.arguments is not None and answer.arguments != arguments
        self._emit(
            "approval_decided",
            approval_id=request.id,
            tool=call.name,
            call_id=call.id,
            approved=answer.approved,
            by=answer.by,
            how=answer.how,
            reason=answer.reason,
            always=answer.always,
            edit=edit_diff(arguments, answer.arguments or {}) if edited else "",
        )
        return answer

    def _from_data(self, name: str, arguments: dict[str, Any]) -> list[dict[str, str]]:
        """For a call whose arguments leave the kernel: which values came from the data."""
        from agent_kernel.policy.provenance import argument_sources, untrusted_blocks

        tool = self.tools.get(name)
        if tool is None or not tool.leaves_the_kernel or self._seen is None:
            return []
        texts = [str(m.get("content") or "") for m in self._seen.messages]
        return argument_sources(arguments, untrusted_blocks(texts))

    async def _confirm(self, action: str, arguments: dict[str, Any], reason: str) -> bool:
        """A tool asks a person about a consequence of its call (the sandbox's diff), through
        the same approver, record and timeout as a call; the run's taint goes on the card."""
        call = self._call
        ask = ToolCallRequest(id=call.id if call else new_id("call_"), name=action, arguments="")
        taint = self.tool_context.taint
        decision = Decision("ask", reason, "taint" if taint else "mode", "", taint)
        answer = await self._ask(ask, arguments, decision)
        return answer.approved

    def _check(self, answer: str) -> bool:
        """Verify the answer against the run's record; True when it goes back for a retry."""
        if self.verify_mode == "off" or not answer.strip():
            return False
        from agent_kernel.runtime.verify import Record, verify

        seen = self._seen.messages if self._seen is not None else self.conversation.messages()
        memory = self.tool_context.memory
        record = Record(
            sources=[str(m.get("content") or "") for m in seen],
            code_ran=self._code_ran,
            user_ns=self.tool_context.user_ns,
            project_dir=memory.paths.project_dir if memory is not None else None,
        )
        verdict = verify(answer, record)
        retry = self.verify_mode == "retry" and not verdict.ok and not self._retried
        self._emit("verification", **verdict.as_data(), retry=retry)
        if retry:
            self._retried = True
            self.conversation.append(
                {
                    "role": "user",
                    "content": f"(Automatic check of your answer) {verdict.note()} Back each "
                    "claim with a tool call, or correct the answer.",
                }
            )
        return retry

    def taint(self) -> tuple[str, ...]:
        """What untrusted content the model had in view when it chose the current calls."""
        return tuple(self._seen.untrusted) if self._seen is not None else ()

    def _close_pending(self, pending: list[ToolCallRequest], why: str) -> None:
        """Answer calls that never ran, so the next request is a valid conversation."""
        for call in pending:
            self.conversation.append(
                {"role": "tool", "tool_call_id": call.id, "content": f"Error: {why}"}
            )
        pending.clear()


def _valid_text(outcome: ToolResult) -> ToolResult:
    """The result with text that is not valid UTF-8 replaced, and a line saying so."""
    content, replaced = clean_text(outcome.content)
    if not replaced:
        return outcome
    outcome.content = f"{content}\n{replacement_note(replaced)}"
    outcome.summary = clean_text(outcome.summary)[0]
    return outcome


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


def _as_result(value: Any, tool: Tool) -> ToolResult:
    """A tool's return value as a result; plain values are trusted when they are numbers."""
    if isinstance(value, ToolResult):
        return value
    if value is None:
        return ToolResult(content="done")
    trusted = tool.trusted_output if tool.trusted_output is not None else _is_numeric(value)
    if isinstance(value, str):
        return ToolResult(content=value, trusted=trusted)
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return ToolResult(content=text, trusted=trusted)


def _is_numeric(value: Any) -> bool:
    """Numbers, booleans and flat lists or dicts of them carry no instructions."""
    if isinstance(value, (bool, int, float)) or value is None:
        return True
    if isinstance(value, (list, tuple)):
        return all(isinstance(v, (bool, int, float)) or v is None for v in value)
    if isinstance(value, dict):
        return all(
            isinstance(k, (int, float)) or (isinstance(k, str) and k.isidentifier() and len(k) < 40)
            for k in value
        ) and all(isinstance(v, (bool, int, float)) or v is None for v in value.values())
    return (
        type(value).__module__ == "numpy"
        and getattr(value, "dtype", None) is not None
        and (value.dtype.kind in "biuf")
    )


def _first_line(text: str, limit: int = 100) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"
