"""`%agent context`: the last model call's messages, section by section, with token counts."""

from __future__ import annotations

import html
import json
from typing import Any

from agent_kernel.runtime.context import BuiltContext


class ContextView:
    """HTML in a notebook (each section and message expandable), plain text in a terminal."""

    def __init__(self, built: BuiltContext) -> None:
        self.built = built

    def headline(self) -> str:
        b = self.built
        return (
            f"Last model call: {b.tokens:,} of {b.budget:,} tokens "
            f"({b.tool_tokens:,} for tool schemas; estimated, calibrated by the server's counts)"
        )

    def rows(self) -> list[tuple[str, str, str, str]]:
        return [
            (s.name, f"{s.tokens:,}", str(s.items), s.note() or "-") for s in self.built.sections
        ]

    def __repr__(self) -> str:
        from agent_kernel.ui.display import Table

        table = Table(["section", "tokens", "items", "trimmed"], self.rows())
        parts = [self.headline(), repr(table), "", "Messages sent:"]
        for message in self.built.messages:
            parts.append(f"--- {_role(message)} ---")
            parts.append(_content(message))
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        from agent_kernel.ui.display import Table

        table = Table(["section", "tokens", "items", "trimmed"], self.rows())._repr_html_()
        messages = "".join(
            f"<details><summary>{html.escape(_role(m))} "
            f"({len(_content(m)):,} characters)</summary>"
            f"<pre style='white-space:pre-wrap'>{html.escape(_content(m))}</pre></details>"
            for m in self.built.messages
        )
        return (
            f"<p><b>{html.escape(self.headline())}</b></p>{table}"
            f"<p>Messages sent, in order:</p>{messages}"
        )


def _role(message: dict[str, Any]) -> str:
    role = str(message.get("role", "?"))
    if message.get("tool_call_id"):
        role += f" ({message['tool_call_id']})"
    return role


def _content(message: dict[str, Any]) -> str:
    text = str(message.get("content") or "")
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        text += f"\n→ {function.get('name')}({function.get('arguments')})"
    from agent_kernel.redact import redact, secret_env_values

    # What is shown is what was sent: redacted (the context keeps the copy from before).
    return redact(text.strip() or json.dumps(message), secret_env_values())
