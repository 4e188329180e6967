"""The live trace: one widget per run, fed only by the run's events.

A header with the run's totals, what is happening now and a Stop button; one row per step
(model call, tool call, approval) with status, duration, tokens and cost, each expanding to
its arguments (code highlighted) and bounded result; the reply as it streams. When the run
ends the widget's display is replaced, in place, by the trace document and the answer is shown
as Markdown, so the saved notebook carries a trace that renders without a kernel.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from typing import Any

from agent_kernel.events import Event
from agent_kernel.redact import redact
from agent_kernel.ui.text import Markdown
from agent_kernel.ui.trace_document import (
    MARKS,
    TraceBundle,
    build_trace,
    format_duration,
    totals_line,
)

UPDATE_INTERVAL_SECONDS = 0.08
KIND_ICONS = {"model": "✦", "tool": "⚙", "approval": "⚑", "verification": "✔"}


class TraceWidget:
    """An event observer that draws the run in the cell while it goes."""

    def __init__(
        self,
        *,
        prices: dict[str, Any] | None = None,
        secrets: list[str] | None = None,
        on_stop: Callable[[], None] | None = None,
        demo: bool = False,
    ) -> None:
        import ipywidgets as w

        self.prices = prices or {}
        self.secrets = secrets or []
        self.demo = demo
        self._events: list[Event] = []
        self._text: list[str] = []
        self._last_text_update = 0.0
        self._started = time.time()
        self._rows: dict[int, _StepRow] = {}
        self.header = w.HTML(_header_html("starting…", ""))
        self.header.layout = w.Layout(flex="1 1 auto")
        self.stop = w.Button(
            description="Stop",
            icon="stop",
            tooltip="End the run cleanly",
            layout=w.Layout(width="auto", flex="0 0 auto"),
        )
        self.stop.on_click(lambda _: self._stop(on_stop))
        self.steps = w.VBox([])
        self.reply = w.HTML("")
        self.widget = w.VBox(
            [w.HBox([self.header, self.stop]), self.steps, self.reply],
            layout=w.Layout(border_left="3px solid var(--jp-brand-color1)", padding="0 0 0 8px"),
        )
        self.widget.add_class("agent-kernel-live-trace")
        self.handle: Any = None
        self.document: dict[str, Any] | None = None

    # -- display ----------------------------------------------------------------------------
    def show(self) -> None:
        from IPython.display import display

        self.handle = display(self.widget, display_id=True)

    def __call__(self, event: Event) -> None:
        if event.kind == "text_delta":
            self._text.append(event.data["text"])
            now = time.perf_counter()
            if now - self._last_text_update >= UPDATE_INTERVAL_SECONDS:
                self._show_text()
                self._last_text_update = now
            return
        if event.kind == "model_started":
            self._text = []
            self.reply.value = ""
        self._events.append(event)
        self._redraw(event)
        if event.kind == "run_finished":
            self._finish()

    def _redraw(self, event: Event) -> None:
        doc = build_trace(self._events, prices=self.prices, secrets=self.secrets, demo=self.demo)
        for step in doc["steps"]:
            row = self._rows.get(step["index"])
            if row is None:
                row = self._rows[step["index"]] = _StepRow(step)
                self.steps.children = (*self.steps.children, row.widget)
            else:
                row.update(step)
        self.header.value = _header_html(_activity(doc, event), _live_totals(doc, self._started))

    def _show_text(self) -> None:
        text = redact("".join(self._text), self.secrets)
        self.reply.value = (
            "<div style='white-space:pre-wrap'>" + html.escape(text, quote=False) + "</div>"
        )

    def _stop(self, on_stop: Callable[[], None] | None) -> None:
        self.stop.disabled = True
        self.stop.description = "Stopping…"
        if on_stop is not None:
            on_stop()

    def _finish(self) -> None:
        doc = build_trace(self._events, prices=self.prices, secrets=self.secrets, demo=self.demo)
        self.document = doc
        self.stop.layout.display = "none"
        if self.handle is None:
            return
        from IPython.display import display

        # The static document replaces the widget in place; a saved notebook keeps it.
        self.handle.update(TraceBundle(doc))
        answer = doc.get("answer") or ""
        if answer:  # (the demo model labels its own answers)
            display(Markdown(answer))
        if answer and doc.get("verification"):
            display(Markdown(f"<sub>{doc['verification']}</sub>", plain=doc["verification"]))
        if doc.get("message") and doc.get("status") != "error":
            display(Markdown(doc["message"]))


class _StepRow:
    """One step: a line that opens onto its details."""

    def __init__(self, step: dict[str, Any]) -> None:
        import ipywidgets as w

        self.toggle = w.ToggleButton(
            value=False,
            icon="chevron-right",
            tooltip="Details",
            layout=w.Layout(width="28px", height="24px", padding="0"),
        )
        self.line = w.HTML()
        self.details = w.HTML(layout=w.Layout(display="none", margin="0 0 0 40px"))
        self.toggle.observe(self._toggled, "value")
        self.widget = w.VBox([w.HBox([self.toggle, self.line]), self.details])
        self.step: dict[str, Any] = {}
        self.update(step)

    def update(self, step: dict[str, Any]) -> None:
        if step == self.step:
            return
        self.step = step
        self.line.value = _row_html(step)
        if self.toggle.value:
            self.details.value = _details_html(step)

    def _toggled(self, change: dict[str, Any]) -> None:
        opened = bool(change["new"])
        self.toggle.icon = "chevron-down" if opened else "chevron-right"
        if opened:
            self.details.value = _details_html(self.step)
        self.details.layout.display = "block" if opened else "none"


def _activity(doc: dict[str, Any], event: Event) -> str:
    if doc["status"] != "running":
        return {"answered": "done", "max_steps": "stopped at the step limit"}.get(
            doc["status"], str(doc["status"])
        )
    if event.kind == "approval_requested":
        return f"⚑ waiting for your approval of {event.data.get('tool')}"
    running = [s for s in doc["steps"] if s["status"] == "running"]
    if running and running[-1]["kind"] == "tool":
        return f"⚙ running {running[-1]['name']}…"
    return "✦ thinking…"


def _live_totals(doc: dict[str, Any], started: float) -> str:
    if doc.get("duration_ms") is None:
        doc = {**doc, "duration_ms": (time.time() - started) * 1000}
    return totals_line(doc)


def _header_html(activity: str, totals: str) -> str:
    return (
        f"<b>Agent</b> <span style='color:var(--jp-ui-font-color2)'>{html.escape(totals)}</span>"
        f" — <i>{html.escape(activity)}</i>"
    )


def _row_html(step: dict[str, Any]) -> str:
    mark = MARKS.get(step["status"], "?")
    color = {
        "done": "var(--jp-success-color1)",
        "failed": "var(--jp-error-color1)",
        "denied": "var(--jp-warn-color1)",
    }.get(step["status"], "var(--jp-ui-font-color2)")
    parts = [
        f"<span style='color:{color}'>{mark}</span>",
        KIND_ICONS.get(step["kind"], "•"),
        f"<b>{html.escape(step['name'])}</b>",
    ]
    if step.get("summary"):
        parts.append(html.escape(step["summary"][:160]))
    meta = []
    if step.get("duration_ms") is not None:
        meta.append(format_duration(step["duration_ms"]))
    if step.get("tokens_in") is not None:
        meta.append(f"{step['tokens_in']:,} in / {step.get('tokens_out') or 0:,} out")
    if step.get("cost_usd") is not None:
        meta.append(f"${step['cost_usd']:.4f}")
    if meta:
        parts.append(f"<span style='color:var(--jp-ui-font-color2)'>{' · '.join(meta)}</span>")
    return " ".join(parts)


def _details_html(step: dict[str, Any]) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import JsonLexer, PythonLexer, SqlLexer

    formatter = HtmlFormatter(noclasses=True, nobackground=True)
    blocks = []
    if step.get("code"):
        code = step["code"]
        lexer = PythonLexer() if code["language"] == "python" else SqlLexer()
        blocks.append(highlight(code["source"], lexer, formatter))
    if step.get("arguments"):
        arguments = json.dumps(step["arguments"], indent=1, ensure_ascii=False, default=str)
        blocks.append(highlight(arguments, JsonLexer(), formatter))
    for label in ("text", "result"):
        if step.get(label):
            body = html.escape(step[label], quote=False)
            blocks.append(
                f"<div><i>{label}</i></div><pre style='white-space:pre-wrap'>{body}</pre>"
            )
    return "".join(blocks) or "<i>no details</i>"
