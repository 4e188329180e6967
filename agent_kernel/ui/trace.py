"""The live trace: one widget per run, fed only by the run's events, at O(1) cost per event.

A header with the run's totals, what is happening now and a Stop button; the latest
LIVE_ROWS steps (model call, tool call, approval), each a line that opens onto its arguments
and bounded result; the tail of the reply as it streams. Each event touches one step of an
incrementally built document and patches only that row; what changed is sent together, at
most every UPDATE_INTERVAL_SECONDS. Rows are a fixed pool of widgets reused as the run goes,
so a 1000-step run opens as many widgets as a 12-step one. When the run ends the display is
replaced, in place, by the trace document, the answer is shown as Markdown, and every widget
the trace opened is closed, so the saved notebook carries a compact trace and no widget state.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import Callable
from typing import Any

from agent_kernel.events import Event
from agent_kernel.redact import StreamRedactor, redact
from agent_kernel.ui.text import Markdown
from agent_kernel.ui.trace_document import (
    MARKS,
    TraceBuilder,
    TraceBundle,
    format_duration,
    redacted,
    totals_line,
)

UPDATE_INTERVAL_SECONDS = 0.75
REPLY_INTERVAL_SECONDS = 0.1  # the streaming reply: one small message, drawn more often
HEADER_INTERVAL_SECONDS = 2.0  # the totals; a new activity kind or an approval goes at once
LIVE_ROWS = 12  # the whole trace is saved when the run ends; `%agent trace` shows it later
LIVE_TEXT_CHARS = 240  # per block of a live row; the saved trace keeps more
REPLY_TAIL_CHARS = 2_000  # of the streaming reply; the whole answer is shown at the end
KIND_ICONS = {"model": "✦", "tool": "⚙", "approval": "⚑", "verification": "✔"}
# Sent once with the widget, so that each row patch carries class names, not styles. Code
# keeps its lines (scrolls sideways; a query never wraps mid-token); text wraps at words.
STYLESHEET = """<style>
.akt-dim{color:var(--jp-ui-font-color2)}
.akt-done{color:var(--jp-success-color1)}
.akt-failed{color:var(--jp-error-color1)}
.akt-denied{color:var(--jp-warn-color1)}
.akt-d{margin-left:2em}
.akt-code,.akt-text{max-height:20em;overflow:auto;margin:2px 0}
.akt-code{white-space:pre}
.akt-text{white-space:pre-wrap;overflow-wrap:break-word}
</style>"""


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

        self.secrets = secrets or []
        self.demo = demo
        self._builder = TraceBuilder(prices or {})
        self._reply = StreamRedactor(self.secrets)
        self._reply_tail = ""
        self._reply_chars = 0
        self._started = time.time()
        self._activity = "starting…"
        self._dirty: dict[int, dict[str, Any]] = {}  # step index -> step, not yet drawn
        self._dirty_header = self._dirty_reply = False
        self._header_drawn = 0.0
        self._draw_now = False  # no event loop to draw later: every change is drawn at once
        self._timer: asyncio.TimerHandle | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._reply_timer: asyncio.TimerHandle | None = None
        self._slots: dict[int, Any] = {}  # step index -> the row widget showing it
        self.header = w.HTML(_header_html(self._activity, ""))
        self.stylesheet = w.HTML(STYLESHEET)
        self.header.layout.flex = "1 1 auto"
        self.stop = w.Button(description="Stop", icon="stop", tooltip="End the run cleanly")
        self.stop.layout.width, self.stop.layout.flex = "auto", "0 0 auto"
        self.stop.on_click(lambda _: self._stop(on_stop))
        self.steps = w.VBox([])
        self.reply = w.HTML("")
        top = w.HBox([self.header, self.stop])
        self.widget = w.VBox([self.stylesheet, top, self.steps, self.reply])
        self.widget.layout.border_left = "3px solid var(--jp-brand-color1)"
        self.widget.layout.padding = "0 0 0 8px"
        self.widget.add_class("agent-kernel-live-trace")
        self.handle: Any = None
        self.document: dict[str, Any] | None = None

    # -- display ----------------------------------------------------------------------------
    def show(self) -> None:
        from IPython.display import display

        self.handle = display(self.widget, display_id=True)

    def __call__(self, event: Event) -> None:
        if event.kind == "text_delta":
            self._stream(event.data["text"])
            return
        if event.kind == "model_started":
            self._reply = StreamRedactor(self.secrets)
            self._reply_tail, self._reply_chars = "", 0
            self._dirty_reply = True
        elif event.kind == "model_finished":
            self._reply_tail = (self._reply_tail + self._reply.flush())[-REPLY_TAIL_CHARS:]
            self._dirty_reply = True
            self._draw_reply()  # the reply's last words, now, not when the run ends
        step = self._builder.add(event)
        if step is not None:
            self._dirty[step["index"]] = step
        self._activity = _activity(event, self._builder.doc["status"])
        self._dirty_header = True
        if event.kind == "run_finished":
            self._finish()
        elif event.kind == "approval_requested":
            self._header_drawn = 0.0  # the header says what the run waits for, at once
            self.flush()
        else:
            self._schedule()

    def _stream(self, piece: str) -> None:
        shown = self._reply.feed(piece)
        if shown:
            self._reply_tail = (self._reply_tail + shown)[-REPLY_TAIL_CHARS:]
        self._reply_chars += len(piece)
        self._dirty_reply = True
        if self._reply_timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a plain call): draw now
            self._draw_reply()
            return
        self._reply_timer = loop.call_later(REPLY_INTERVAL_SECONDS, self._draw_reply)

    def _draw_reply(self) -> None:
        if self._reply_timer is not None:
            self._reply_timer.cancel()
            self._reply_timer = None
        if self._dirty_reply:
            self._dirty_reply = False
            self.reply.value = _reply_html(self._reply_tail, self._reply_chars)

    # -- drawing, throttled -----------------------------------------------------------------
    def _schedule(self) -> None:
        """Draw once, UPDATE_INTERVAL_SECONDS after the first change not yet drawn, so that
        the events of a step (model call, tool start, tool end) go out as one patch."""
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a plain call): draw now
            self._draw_now = True
            self.flush()
            return
        self._timer = loop.call_later(UPDATE_INTERVAL_SECONDS, self.flush)

    def flush(self) -> None:
        """Send what changed since the last draw: the header, changed rows, the reply tail."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        dirty, self._dirty = self._dirty, {}
        moved = False
        for index in sorted(dirty)[-LIVE_ROWS:]:
            moved = self._draw_row(index, dirty[index]) or moved
        if moved:  # one message puts the reused rows last, however many moved
            order = sorted(self._slots)
            self.steps.children = tuple(self._slots[i] for i in order)
        self._draw_header()
        self._draw_reply()

    def _draw_header(self) -> None:
        """The header at most every HEADER_INTERVAL_SECONDS (the rows show what runs now);
        a change held back is drawn when its time comes."""
        if not self._dirty_header:
            return
        wait = HEADER_INTERVAL_SECONDS - (time.perf_counter() - self._header_drawn)
        if wait > 0 and not self._draw_now:
            if self._header_timer is None:
                loop = asyncio.get_running_loop()  # only reached from a timer or an event
                self._header_timer = loop.call_later(wait, self._header_due)
            return
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self._dirty_header, self._header_drawn = False, time.perf_counter()
        totals = totals_line(self._live_doc(), self._builder.model_steps)
        hidden = min(self._slots) - 1 if self._slots else 0
        self.header.value = _header_html(self._activity, totals, hidden)

    def _header_due(self) -> None:
        self._header_timer = None
        self._draw_header()

    def _draw_row(self, index: int, step: dict[str, Any]) -> bool:
        """Patch the row showing this step; a new step takes a new row, or the oldest row
        once LIVE_ROWS are shown. True when the rows' order must be sent again."""
        import ipywidgets as w

        slot = self._slots.get(index)
        moved = False
        if slot is None:
            if self._slots and index < min(self._slots):
                return False  # an older step than any shown: it is in the saved trace
            slot = w.HTML() if len(self._slots) < LIVE_ROWS else self._slots.pop(min(self._slots))
            self._slots[index] = slot
            moved = True
        slot.value = _row_html(redacted(step, self.secrets))
        return moved

    def _live_doc(self) -> dict[str, Any]:
        doc = self._builder.doc
        return {
            **doc,
            "steps": (),
            "usage": self._builder.live_usage,
            "cost_usd": self._builder.live_cost if self._builder.model_steps else None,
            "duration_ms": (time.time() - self._started) * 1000,
            "demo": self.demo,
        }

    def _stop(self, on_stop: Callable[[], None] | None) -> None:
        self.stop.disabled = True
        self.stop.description = "Stopping…"
        if on_stop is not None:
            on_stop()

    def _finish(self) -> None:
        self._draw_now = True
        self.flush()
        for timer in (self._header_timer, self._reply_timer):
            if timer is not None:
                timer.cancel()
        doc = self._builder.finished(self.demo, self.secrets)
        self.document = doc
        if self.handle is not None:
            from IPython.display import display

            # The static document replaces the widget in place; a saved notebook keeps it.
            self.handle.update(TraceBundle(doc))
            answer = doc.get("answer") or ""
            if answer:  # the whole answer (the document keeps a bounded copy), redacted once
                display(Markdown(redact(self._builder.answer, self.secrets) or answer))
            if answer and doc.get("verification"):
                display(Markdown(f"<sub>{doc['verification']}</sub>", plain=doc["verification"]))
            if doc.get("message") and doc.get("status") != "error":
                display(Markdown(doc["message"]))
        close_tree(self.widget)


def close_tree(widget: Any) -> None:
    """Close a widget, its children, and the layout and style models each one opened."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    for part in ("layout", "style"):
        model = getattr(widget, part, None)
        if model is not None and hasattr(model, "close"):
            model.close()
    widget.close()


def _activity(event: Event, status: str) -> str:
    if status != "running":
        return {"answered": "done", "max_steps": "stopped at the step limit"}.get(status, status)
    if event.kind == "approval_requested":
        return f"⚑ waiting for your approval of {event.data.get('tool')}"
    if event.kind == "tool_started":
        return f"⚙ running {event.data.get('tool')}…"
    return "✦ thinking…"


def _header_html(activity: str, totals: str, hidden: int = 0) -> str:
    earlier = (
        f"<div class='akt-dim'>… {hidden:,} earlier "
        f"step{'s' if hidden != 1 else ''} above (the whole trace is saved when the run ends)"
        "</div>"
        if hidden
        else ""
    )
    return (
        f"<b>Agent</b> <span class='akt-dim'>{html.escape(totals)}</span>"
        f" — <i>{html.escape(activity)}</i>{earlier}"
    )


def _reply_html(tail: str, total_chars: int) -> str:
    if not tail:
        return ""
    cut = total_chars - len(tail)
    more = f"<div class='akt-dim'>… {cut:,} characters above</div>" if cut > 0 else ""
    return f"{more}<div class='akt-text'>{html.escape(tail, quote=False)}</div>"


def _row_html(step: dict[str, Any]) -> str:
    """One step as a line that opens (HTML details) onto its code, arguments and result."""
    mark = MARKS.get(step["status"], "?")
    status = step["status"] if step["status"] in ("done", "failed", "denied") else "dim"
    parts = [
        f"<span class='akt-{status}'>{mark}</span>",
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
        parts.append(f"<span class='akt-dim'>{' · '.join(meta)}</span>")
    line = " ".join(parts)
    details = _details_html(step)
    if not details:
        return f"<div>{line}</div>"
    body = f"<div class='akt-d'>{details}</div>"
    return f"<details><summary>{line}</summary>{body}</details>"


def _details_html(step: dict[str, Any]) -> str:
    blocks = []
    if step.get("code"):
        code = step["code"]
        blocks.append(_block(code["language"], code["source"], "code"))
    arguments = step.get("arguments")
    if arguments:
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, indent=1, ensure_ascii=False, default=str)
        blocks.append(_block("arguments", arguments, "code"))
    for label in ("text", "result"):
        if step.get(label):
            blocks.append(_block(label, step[label], "text"))
    return "".join(blocks)


def _block(label: str, text: str, kind: str) -> str:
    if len(text) > LIVE_TEXT_CHARS:
        text = text[:LIVE_TEXT_CHARS] + "\n[… more in the trace saved when the run ends]"
    body = html.escape(text, quote=False)
    return f"<div><i>{html.escape(label)}</i></div><pre class='akt-{kind}'>{body}</pre>"
