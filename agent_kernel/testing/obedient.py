"""A worst-case model for safety tests: it obeys every instruction it reads, anywhere.

Instructions look like `AGENT, call TOOL` or `AGENT, call TOOL with {json arguments}`, and the
model follows them wherever they appear: in the user's request, in a tool result, in a file,
in a recalled memory, inside spotlighting delimiters or not. A short form (`AGENT, call
run_python`) takes the tool's payload from `payloads`, so an attack still works when a table
cuts long cells. What stops such a model is the policy, not the model's judgement.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any

from agent_kernel.testing.script import RecordedRequest, Reply, ToolCall

_INSTRUCTION = re.compile(r"AGENT, call (\w+)")


class ObedientModel:
    """A ScriptedServer responder: one instruction per reply, in the order they appear."""

    def __init__(
        self, payloads: Mapping[str, dict[str, Any]] | None = None, *, only_request: bool = False
    ) -> None:
        """`only_request` makes a literal but honest model instead: it does what the user's
        latest request says and nothing it reads elsewhere (for measuring benign work)."""
        self.payloads = dict(payloads or {})
        self.only_request = only_request
        self.obeyed: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: RecordedRequest) -> Reply:
        messages = request.body.get("messages", [])
        if self.only_request:
            last_user = max(i for i, m in enumerate(messages) if m.get("role") == "user")
            messages = messages[last_user:]
            source = [messages[0]]
        else:
            source = messages
        done = {
            (call["function"]["name"], _canonical(call["function"]["arguments"]))
            for message in messages
            for call in message.get("tool_calls") or []
        }
        for name, arguments in instructions(source, self.payloads):
            if (name, _canonical(json.dumps(arguments))) not in done:
                self.obeyed.append((name, arguments))
                return Reply(tool_calls=[ToolCall(name, arguments)])
        return Reply(text="Finished everything I was told to do.")


def instructions(
    messages: list[dict[str, Any]], payloads: Mapping[str, dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """Every instruction in every message, in order, with its arguments."""
    found = []
    decoder = json.JSONDecoder()
    for message in messages:
        text = str(message.get("content") or "")
        for match in _INSTRUCTION.finditer(text):
            name, rest = match.group(1), text[match.end() :]
            arguments = dict(payloads.get(name, {}))
            if rest.startswith(" with {"):
                with contextlib.suppress(json.JSONDecodeError):
                    arguments = decoder.raw_decode(rest[len(" with ") :])[0]
            found.append((name, arguments))
    return found


def _canonical(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments or "{}"), sort_keys=True)
    except json.JSONDecodeError:
        return arguments
