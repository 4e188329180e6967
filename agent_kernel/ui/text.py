"""Render a run's events into the cell as readable output.

In a notebook the answer streams as live Markdown (display handles, updated in place) and each
tool call is a line that turns from running to done. In terminal IPython the same events print
as plain text. The renderer only observes events; it never drives the run.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from agent_kernel.events import Event
from agent_kernel.redact import redact

UPDATE_INTERVAL_SECONDS = 0.08
HOLD_BACK_CHARS = 64  # longer than the longest key shape redact() recognises by its prefix
ARGUMENT_PREVIEW_CHARS = 80
CODE_ARGUMENTS = {"code": "python", "query": "sql"}


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


class CellRenderer:
    """Turns events into cell output; `rich` picks display handles over plain printing."""

    def __init__(
        self,
        rich: bool,
        model_label: str = "",
        *,
        prices: dict[str, Any] | None = None,
        secrets: list[str] | None = None,
    ) -> None:
        self.rich = rich
        self.model_label = model_label
        self.prices = prices or {}
        self.secrets = secrets or []
        self._events: list[Event] = []
        self._text: list[str] = []
        self._text_handle: Any = None
        self._last_update = 0.0
        self._tool_handles: dict[str, Any] = {}
        self._tool_lines: dict[str, tuple[str, str]] = {}
        self._started = time.perf_counter()
        self._printed_any_text = False
        self._printed = 0  # characters of the current reply already printed (terminal)

    def __call__(self, event: Event) -> None:
        if self.rich and event.kind != "text_delta":
            self._events.append(event)
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            # What the cell shows passes the same redaction as what is stored or sent.
            handler(_redacted(event.data, self.secrets))

    def _on_run_started(self, data: dict[str, Any]) -> None:
        self.model_label = data.get("model") or self.model_label

    # -- model text -------------------------------------------------------------------------
    def _on_model_started(self, data: dict[str, Any]) -> None:
        self._text = []
        self._text_handle = None
        self._printed = 0

    def _clean_text(self) -> str:
        """The reply so far, redacted whole: a secret can arrive split across chunks."""
        return redact("".join(self._text), self.secrets)

    def _print_text(self, *, final: bool) -> None:
        """Print what is new, keeping back a tail that could be the start of a secret."""
        text = self._clean_text()
        end = len(text) if final else max(self._printed, len(text) - HOLD_BACK_CHARS)
        if end > self._printed:
            sys.stdout.write(text[self._printed : end])
            sys.stdout.flush()
            self._printed = end
            self._printed_any_text = True

    def _on_text_delta(self, data: dict[str, Any]) -> None:
        self._text.append(data["text"])
        if not self.rich:
            self._print_text(final=False)
            return
        now = time.perf_counter()
        if now - self._last_update >= UPDATE_INTERVAL_SECONDS:
            self._show_text()
            self._last_update = now

    def _on_model_retry(self, data: dict[str, Any]) -> None:
        had_text = bool(self._text)
        self._text = []
        if self.rich and self._text_handle is not None:
            self._text_handle.update(Markdown(""))
        elif had_text:
            sys.stdout.write("\n")
        self._line(
            f"Model call failed ({data['reason']}); retrying in {data['wait_seconds']:.1f} s "
            f"(attempt {data['attempt']} of {data['max_attempts']})."
        )

    def _on_model_finished(self, data: dict[str, Any]) -> None:
        self.model_label = data.get("model") or self.model_label
        if self.rich:
            if self._text:
                self._show_text()
        elif self._text:
            self._print_text(final=True)
            sys.stdout.write("\n")
            sys.stdout.flush()

    def _show_text(self) -> None:
        from IPython.display import display

        markdown = Markdown(self._clean_text())
        if self._text_handle is None:
            self._text_handle = display(markdown, display_id=True)
        else:
            self._text_handle.update(markdown)

    # -- tools ------------------------------------------------------------------------------
    def _on_tool_started(self, data: dict[str, Any]) -> None:
        head, block = describe_call(data["tool"], data.get("arguments") or {}, rich=self.rich)
        self._tool_lines[data["call_id"]] = (head, block)
        if self.rich:
            from IPython.display import display

            self._tool_handles[data["call_id"]] = display(
                Markdown(f"{head} … running{block}"), display_id=True
            )
        else:
            print(f"{head} …", flush=True)

    def _on_tool_finished(self, data: dict[str, Any]) -> None:
        call_id = data["call_id"]
        started = self._tool_lines.pop(call_id, None)
        mark = "✓" if data["ok"] else "✗"
        outcome = f"{mark} {data['summary']} ({_duration(data['duration_ms'])})"
        if started is None:  # never started: bad arguments, unknown tool or not allowed
            head, block = describe_call(data["tool"], _arguments_for_display(data), rich=self.rich)
            self._line(f"{head} {outcome}{block}")
            return
        head, block = started
        handle = self._tool_handles.pop(call_id, None)
        if handle is not None:
            handle.update(Markdown(f"{head} {outcome}{block}"))
        else:
            print(f"  {outcome}", flush=True)

    # -- approvals --------------------------------------------------------------------------
    def _on_approval_decided(self, data: dict[str, Any]) -> None:
        # A card or a prompt shows its own outcome; a rule or a timeout decided unseen.
        if data.get("how") not in ("unattended", "timeout"):
            return
        from agent_kernel.ui.trace_document import approval_summary

        mark = "⏵" if data.get("approved") else "⊘"
        self._line(f"{mark} {data['tool']}: {approval_summary(data)}.")

    def _on_verification(self, data: dict[str, Any]) -> None:
        if data.get("note") and not data.get("retry"):
            self._line(data["note"])

    # -- end of run -------------------------------------------------------------------------
    def _on_run_finished(self, data: dict[str, Any]) -> None:
        # A failed run's message is the error the cell raises; showing it here too would
        # print it twice.
        if data.get("message") and data.get("status") != "error":
            self._line(data["message"])
        usage = data.get("usage") or {}
        parts = [p for p in (self.model_label,) if p]
        parts.append(f"{data['steps']} step{'s' if data['steps'] != 1 else ''}")
        if usage.get("prompt_tokens") or usage.get("completion_tokens"):
            parts.append(
                f"{usage.get('prompt_tokens', 0):,} tokens in / "
                f"{usage.get('completion_tokens', 0):,} out"
            )
        parts.append(_duration((time.perf_counter() - self._started) * 1000))
        footer = " · ".join(parts)
        if self.rich:
            from IPython.display import display

            from agent_kernel.ui.trace_document import TraceBundle, build_trace

            # The saved trace heads with the same totals the footer would show.
            trace = build_trace(self._events, prices=self.prices, secrets=self.secrets)
            display(TraceBundle(trace))
        else:
            print(f"-- {footer}", flush=True)

    def _line(self, text: str) -> None:
        if self.rich:
            from IPython.display import display

            display(Markdown(text))
        else:
            print(text, flush=True)


def describe_call(tool: str, arguments: dict[str, Any] | str, *, rich: bool) -> tuple[str, str]:
    """`name(arg=value, ...)` and, in a notebook, long code or queries as a fenced block."""
    if isinstance(arguments, str):
        return f"→ {tool}({_preview(arguments)})", ""
    block = ""
    shown: list[str] = []
    for name, value in arguments.items():
        language = CODE_ARGUMENTS.get(name)
        if rich and language and isinstance(value, str) and ("\n" in value or len(value) > 60):
            block = f"\n```{language}\n{value.rstrip()}\n```\n"
            shown.append(f"{name}=…")
        else:
            shown.append(f"{name}={_preview(json.dumps(value, default=str, ensure_ascii=False))}")
    head = f"→ **{tool}**({', '.join(shown)})" if rich else f"→ {tool}({', '.join(shown)})"
    return head, block


def _arguments_for_display(data: dict[str, Any]) -> dict[str, Any] | str:
    arguments = data.get("arguments")
    return arguments if isinstance(arguments, (dict, str)) else {}


def _preview(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > ARGUMENT_PREVIEW_CHARS:
        return text[: ARGUMENT_PREVIEW_CHARS - 1] + "…"
    return text


def _duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _redacted(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, secrets) for v in value]
    return value
