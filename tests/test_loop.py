"""The agent loop over the real openai client and a scripted server: tools, faults, events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from agent_kernel.config import Endpoint
from agent_kernel.errors import ModelError
from agent_kernel.events import Event, EventBus
from agent_kernel.models.base import ChatModel
from agent_kernel.models.openai_chat import OpenAIChatModel
from agent_kernel.policy.decide import Decision, DecisionPoint
from agent_kernel.runtime.conversation import InMemoryConversation
from agent_kernel.runtime.loop import AgentLoop, RunResult
from agent_kernel.testing import Reply, ScriptedModel, ScriptedServer, ToolCall
from agent_kernel.tools.base import Tool, ToolContext, ToolError, tool
from agent_kernel.tools.registry import ToolRegistry


@tool(effects="read", register=False)
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First number.
        b: Second number.
    """
    return a + b


@tool(effects="read", register=False)
def fail(reason: str) -> str:
    """Always fails with a message for the model."""
    raise ToolError(f"cannot do that: {reason}")


@tool(effects="read", register=False)
def crash() -> str:
    """A tool with a bug."""
    return str(1 / 0)


@tool(effects="read", register=False)
def interrupt() -> str:
    """Stands in for a person pressing the kernel's stop button mid-tool."""
    raise KeyboardInterrupt


@tool(effects="read", register=False)
def huge() -> str:
    """Returns far too much text."""
    return "x" * 50_000


def run(
    server: ScriptedServer | ScriptedModel,
    request: str = "question",
    *,
    tools: list[Tool] | None = None,
    max_steps: int = 6,
    max_retries: int = 2,
    timeout: float = 5.0,
    policy: DecisionPoint | None = None,
    conversation: InMemoryConversation | None = None,
    max_result_chars: int = 8000,
    verify: str = "off",
) -> tuple[RunResult, list[Event], InMemoryConversation]:
    events: list[Event] = []
    conversation = conversation or InMemoryConversation()

    async def go() -> RunResult:
        model: ChatModel
        if isinstance(server, ScriptedModel):
            model = server  # in process: the unit tier
        else:
            model = OpenAIChatModel(
                Endpoint(server.base_url, "scripted-model", None, "sk-test"),
                timeout=timeout,
                max_retries=max_retries,
                backoff_base=0.01,
            )
        try:
            loop = AgentLoop(
                model,
                ToolRegistry(tools if tools is not None else [add, fail, crash, huge, interrupt]),
                conversation,
                EventBus([events.append]),
                ToolContext(user_ns={}, max_result_chars=max_result_chars),
                policy=policy,
                max_steps=max_steps,
                verify=verify,
            )
            return await loop.run(request)
        finally:
            await model.aclose()

    return asyncio.run(go()), events, conversation


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def tool_messages(
    server: ScriptedServer | ScriptedModel, request_index: int
) -> list[dict[str, Any]]:
    return [m for m in server.requests[request_index].body["messages"] if m["role"] == "tool"]


@pytest.mark.unit
def test_several_tool_calls_in_one_step_run_in_order(model: ScriptedModel) -> None:
    model.add(
        Reply(
            tool_calls=[
                ToolCall("add", {"a": 1, "b": 2}, id="c1"),
                ToolCall("add", {"a": 10, "b": 20}, id="c2"),
            ],
            usage=(100, 10),
        ),
        Reply(text="3 and 30.", usage=(150, 5)),
    )
    result, events, _ = run(model)
    assert result.status == "answered" and result.answer == "3 and 30."
    assert result.steps == 2
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (250, 15)
    sent = tool_messages(model, 1)
    assert [(m["tool_call_id"], m["content"]) for m in sent] == [("c1", "3"), ("c2", "30")]
    assistant = model.requests[1].body["messages"][-3]
    assert [c["id"] for c in assistant["tool_calls"]] == ["c1", "c2"]
    assert kinds(events) == [
        "run_started",
        "model_started",
        "model_finished",
        "policy_decision",
        "tool_started",
        "tool_finished",
        "policy_decision",
        "tool_started",
        "tool_finished",
        "model_started",
        *["text_delta"] * kinds(events).count("text_delta"),
        "model_finished",
        "run_finished",
    ]
    finished = [e for e in events if e.kind == "model_finished"]
    assert finished[0].data["usage"] == {"prompt_tokens": 100, "completion_tokens": 10}


def test_streamed_text_arrives_in_pieces_and_reassembles(server: ScriptedServer) -> None:
    text = "The East region had the highest revenue in March: 1,234.50."
    server.add(Reply(text=text, chunk_chars=5))
    result, events, _ = run(server)
    deltas = [e.data["text"] for e in events if e.kind == "text_delta"]
    assert len(deltas) > 5
    assert "".join(deltas) == text == result.answer


@pytest.mark.parametrize(
    "call, expected",
    [
        (ToolCall("add", '{"a": 1, "b": '), "are not valid JSON"),
        (ToolCall("add", "[1, 2]"), "must be a JSON object"),
        (ToolCall("add", {"a": "one", "b": 2}), "invalid arguments for add: a: Input should be"),
        (ToolCall("add", {"a": 1, "b": 2, "c": 3}), "c: Extra inputs are not permitted"),
        (ToolCall("nope", {}), "there is no tool named 'nope'; available: add"),
        (ToolCall("fail", {"reason": "no data"}), "Error: cannot do that: no data"),
        (ToolCall("crash", {}), "the tool crash failed: ZeroDivisionError"),
    ],
)
@pytest.mark.unit
def test_bad_calls_go_back_to_the_model_as_tool_errors(
    model: ScriptedModel, call: ToolCall, expected: str
) -> None:
    model.add(Reply(tool_calls=[call]), Reply(text="Recovered."))
    result, events, _ = run(model)
    assert result.status == "answered" and result.answer == "Recovered."
    (message,) = tool_messages(model, 1)
    assert expected in message["content"]
    finished = next(e for e in events if e.kind == "tool_finished")
    assert finished.data["ok"] is False


@pytest.mark.unit
def test_tool_results_are_bounded(model: ScriptedModel) -> None:
    model.add(Reply(tool_calls=[ToolCall("huge", {})]), Reply(text="ok"))
    run(model, max_result_chars=1000)
    (message,) = tool_messages(model, 1)
    assert len(message["content"]) <= 1000
    assert "more characters not shown" in message["content"]


def test_rate_limit_is_retried_after_the_servers_delay(server: ScriptedServer) -> None:
    server.add(Reply.error(429, "slow down", retry_after=0.2), Reply(text="Done."))
    result, events, _ = run(server)
    assert result.answer == "Done."
    (retry,) = [e for e in events if e.kind == "model_retry"]
    assert "HTTP 429: slow down" in retry.data["reason"]
    assert retry.data["wait_seconds"] == 0.2
    assert len(server.requests) == 2


def test_server_errors_are_retried_then_reported_clearly(server: ScriptedServer) -> None:
    server.add(*[Reply.error(503, "overloaded") for _ in range(3)])
    result, events, conversation = run(server, max_retries=2)
    assert result.status == "error"
    assert isinstance(result.error, ModelError)
    assert "kept failing (3 attempts; last: HTTP 503: overloaded)" in str(result.error)
    assert kinds(events).count("model_retry") == 2
    assert events[-1].kind == "run_finished" and events[-1].data["status"] == "error"
    assert conversation.messages()[-1] == {"role": "user", "content": "question"}


def test_client_errors_are_not_retried(server: ScriptedServer) -> None:
    server.add(Reply.error(400, "tools are not supported by this model"))
    result, events, _ = run(server)
    assert result.status == "error"
    assert "refused the request: HTTP 400: tools are not supported" in str(result.error)
    assert "model_retry" not in kinds(events)


def test_a_slow_server_times_out_and_is_retried(server: ScriptedServer) -> None:
    server.add(Reply.slow(2.0, "late"), Reply(text="On time."))
    result, events, _ = run(server, timeout=0.5)
    assert result.answer == "On time."
    (retry,) = [e for e in events if e.kind == "model_retry"]
    assert "no answer within the request timeout" in retry.data["reason"]


def test_a_stream_cut_midway_is_retried_without_duplicating_text(
    server: ScriptedServer,
) -> None:
    server.add(Reply.cut("The answer is forty-two, as computed.", after=3), Reply(text="Whole."))
    result, events, conversation = run(server)
    assert result.answer == "Whole."
    assert kinds(events).count("model_retry") == 1
    assert conversation.messages()[-1]["content"] == "Whole."


@pytest.mark.unit
def test_policy_is_consulted_for_every_call(model: ScriptedModel) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    class DenyAdds(DecisionPoint):
        def decide(
            self, tool: Tool, arguments: Mapping[str, Any], taint: Sequence[str] = ()
        ) -> Decision:
            seen.append((tool.name, arguments))
            return Decision("deny", "adding is forbidden today")

    model.add(Reply(tool_calls=[ToolCall("add", {"a": 1, "b": 1})]), Reply(text="Understood."))
    _, events, _ = run(model, policy=DenyAdds())
    assert seen == [("add", {"a": 1, "b": 1})]
    (message,) = tool_messages(model, 1)
    assert message["content"] == "Error: not allowed: adding is forbidden today"
    assert "tool_started" not in kinds(events)
    decision = next(e for e in events if e.kind == "policy_decision")
    assert decision.data["decision"] == "deny"


@pytest.mark.unit
def test_max_steps_ends_the_run_and_says_so(model: ScriptedModel) -> None:
    model.add(*[Reply(tool_calls=[ToolCall("add", {"a": 1, "b": 1})]) for _ in range(3)])
    result, _, _ = run(model, max_steps=3)
    assert result.status == "max_steps"
    assert "Stopped after 3 steps" in result.message
    assert len(model.requests) == 3


@pytest.mark.unit
def test_an_interrupt_ends_the_run_cleanly_and_keeps_the_conversation_valid(
    model: ScriptedModel,
) -> None:
    model.add(
        Reply(
            tool_calls=[
                ToolCall("add", {"a": 1, "b": 1}, id="c1"),
                ToolCall("interrupt", {}, id="c2"),
                ToolCall("add", {"a": 2, "b": 2}, id="c3"),
            ]
        ),
        Reply(text="Next turn works."),
    )
    result, events, conversation = run(model)
    assert result.status == "interrupted"
    assert events[-1].data["status"] == "interrupted"
    answered = [m["tool_call_id"] for m in conversation.messages() if m["role"] == "tool"]
    assert answered == ["c1", "c2", "c3"]
    # The next request is accepted as a valid conversation (every call has its answer).
    result2, _, _ = run(model, "go on", conversation=conversation)
    assert result2.answer == "Next turn works."
    sent = model.requests[1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "tool"][1:] == [
        "Error: interrupted by the user before this call ran",
        "Error: interrupted by the user before this call ran",
    ]


@pytest.mark.unit
def test_tool_schemas_are_sent_once_per_step(model: ScriptedModel) -> None:
    model.add(Reply(text="hi"))
    run(model)
    (schema,) = model.requests[0].body["tools"][:1]
    assert schema == {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two integers.",
            "parameters": {
                "type": "object",
                "properties": {
                    "a": {"type": "integer", "description": "First number."},
                    "b": {"type": "integer", "description": "Second number."},
                },
                "required": ["a", "b"],
                "additionalProperties": False,
            },
        },
    }
    assert json.loads(json.dumps(model.requests[0].body["tools"]))


@tool(effects="read", runs_code=True, register=False)
def evaluate_formula(formula: str) -> str:
    """Evaluate a spreadsheet formula."""
    return "42"


@tool(effects="read", register=False)
def run_report(name: str) -> str:
    """Look up a report by name (despite its name, it runs nothing)."""
    return "report text"


@pytest.mark.parametrize(
    "call, backed",
    [
        (ToolCall("evaluate_formula", {"formula": "=6*7"}), True),
        (ToolCall("run_report", {"name": "q3"}), False),
        (ToolCall("evaluate_formula", {"formula": 7}), False),  # invalid: nothing ran
    ],
)
@pytest.mark.unit
def test_code_ran_is_what_the_tool_declares_not_its_name(
    model: ScriptedModel, call: ToolCall, backed: bool
) -> None:
    model.add(Reply(tool_calls=[call]), Reply(text="I ran it; all good."))
    _, events, _ = run(model, tools=[evaluate_formula, run_report], verify="note")
    (check,) = [e for e in events if e.kind == "verification"]
    assert check.data["ok"] is backed, check.data
