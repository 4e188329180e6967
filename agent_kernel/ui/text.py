"""Render a run's events as plain text, for terminal IPython (a notebook gets the live trace
widget in ui/trace.py instead). The renderer only observes events; it never drives the run.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from agent_kernel.events import Event
from agent_kernel.redact import StreamRedactor, redact
from agent_kernel.ui.terminal_markdown import MarkdownStream
from agent_kernel.ui.trace_document import approval_summary, format_duration

ARGUMENT_PREVIEW_CHARS = 80


class Markdown:
    """Markdown with itself as the plain-text fallback (IPython's own shows an object repr)."""

    def __init__(self, text: str, plain: str | None = None) -> None:
        self.text = text
        self.plain = text if plain is None else plain

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/markdown": self.text, "text/plain": self.plain}


def is_notebook(shell: Any) -> bool:
    """True in a Jupyter kernel (rich display), False in terminal IPython or plain Python."""
    return shell is not None and getattr(shell, "kernel", None) is not None


class TextRenderer:
    """Prints a run as it goes: tool calls and their outcomes, the reply as it streams, a
    footer with the totals."""

    def __init__(self, model_label: str = "", *, secrets: list[str] | None = None) -> None:
        self.model_label = model_label
        self.secrets = secrets or []
        self._reply = StreamRedactor(self.secrets)
        self._markdown = MarkdownStream()  # rendered a block at a time on a terminal
        self._printed = False  # anything of the current reply printed yet
        self._started = time.perf_counter()
        self._started_calls: set[str] = set()

    def __call__(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            # What the cell shows passes the same redaction as what is stored or sent.
            handler(_redacted(event.data, self.secrets))

    def _on_run_started(self, data: dict[str, Any]) -> None:
        self.model_label = data.get("model") or self.model_label

    # -- model text -------------------------------------------------------------------------
    def _on_model_started(self, data: dict[str, Any]) -> None:
        self._new_reply()

    def _new_reply(self) -> None:
        """A reply starts (again, after a retry or a note): end the line of the last one."""
        if self._printed and not self._markdown.render:
            sys.stdout.write("\n")
        self._reply = StreamRedactor(self.secrets)
        self._markdown = MarkdownStream()
        self._printed = False

    def _write(self, text: str) -> None:
        if text:
            self._markdown.feed(text)
            self._printed = True

    def _on_text_delta(self, data: dict[str, Any]) -> None:
        # What is safe to show now: a tail that could be the start of a secret waits, since
        # a secret can arrive split across chunks. Each chunk costs its own length, not the
        # reply's so far.
        self._write(self._reply.feed(data["text"]))

    def _on_model_retry(self, data: dict[str, Any]) -> None:
        self._new_reply()
        print(
            f"Model call failed ({data['reason']}); retrying in {data['wait_seconds']:.1f} s "
            f"(attempt {data['attempt']} of {data['max_attempts']}).",
            flush=True,
        )

    def _on_model_note(self, data: dict[str, Any]) -> None:
        self._new_reply()
        print(f"Note: {data['text']}", flush=True)

    def _on_model_finished(self, data: dict[str, Any]) -> None:
        self.model_label = data.get("model") or self.model_label
        self._write(self._reply.flush())
        self._markdown.close()
        if self._printed and not self._markdown.render:
            sys.stdout.write("\n")
            sys.stdout.flush()
        self._printed = False

    # -- tools ------------------------------------------------------------------------------
    def _on_tool_started(self, data: dict[str, Any]) -> None:
        self._started_calls.add(data["call_id"])
        print(f"{describe_call(data['tool'], data.get('arguments') or {})} …", flush=True)

    def _on_tool_finished(self, data: dict[str, Any]) -> None:
        mark = "✓" if data["ok"] else "✗"
        outcome = f"{mark} {data['summary']} ({format_duration(data['duration_ms'])})"
        if data.get("call_id") in self._started_calls:  # its line is printed above
            print(f"  {outcome}", flush=True)
        else:  # never started: bad arguments, unknown tool, not allowed or not approved
            arguments = data.get("arguments")
            shown = arguments if isinstance(arguments, (dict, str)) else {}
            print(f"{describe_call(data['tool'], shown)} {outcome}", flush=True)

    # -- approvals and checks ---------------------------------------------------------------
    def _on_approval_decided(self, data: dict[str, Any]) -> None:
        # A prompt shows its own outcome; a rule or a timeout decided unseen.
        if data.get("how") in ("unattended", "timeout"):
            mark = "⏵" if data.get("approved") else "⊘"
            print(f"{mark} {data['tool']}: {approval_summary(data)}.", flush=True)

    def _on_verification(self, data: dict[str, Any]) -> None:
        if data.get("note") and not data.get("retry"):
            print(data["note"], flush=True)

    # -- end of run -------------------------------------------------------------------------
    def _on_run_finished(self, data: dict[str, Any]) -> None:
        # A failed run's message is the error the cell raises; showing it here too would
        # print it twice.
        if data.get("message") and data.get("status") != "error":
            print(data["message"], flush=True)
        usage = data.get("usage") or {}
        parts = [p for p in (self.model_label,) if p]
        parts.append(f"{data['steps']} step{'s' if data['steps'] != 1 else ''}")
        if usage.get("prompt_tokens") or usage.get("completion_tokens"):
            parts.append(
                f"{usage.get('prompt_tokens', 0):,} tokens in / "
                f"{usage.get('completion_tokens', 0):,} out"
            )
        parts.append(format_duration((time.perf_counter() - self._started) * 1000))
        print(f"-- {' · '.join(parts)}", flush=True)


def describe_call(tool: str, arguments: dict[str, Any] | str) -> str:
    """`→ name(arg=value, ...)`, each value cut to a short preview."""
    if isinstance(arguments, str):
        return f"→ {tool}({_preview(arguments)})"
    shown = [
        f"{name}={_preview(json.dumps(value, default=str, ensure_ascii=False))}"
        for name, value in arguments.items()
    ]
    return f"→ {tool}({', '.join(shown)})"


def _preview(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > ARGUMENT_PREVIEW_CHARS:
        return text[: ARGUMENT_PREVIEW_CHARS - 1] + "…"
    return text


def _redacted(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, secrets) for v in value]
    return value
