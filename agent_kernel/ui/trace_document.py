"""A run's trace as a document: built from its events, saved in the notebook, readable anywhere.

The same events feed the live widget, the MIME bundle saved with the cell
(`application/vnd.agent-kernel.trace+json`, rendered by the JupyterLab extension) and
`%agent trace` from the store. `text/html` and `text/plain` fallbacks make a saved notebook
readable in classic Notebook, VS Code, nbviewer and GitHub. Secrets are removed and every
step's text is bounded (about 3 KB per step across the three representations; a cut text
points to `%agent trace RUN`, which shows more), so the saved notebook stays small and safe
to share. `TraceBuilder` takes one event at a time, so the live widget costs O(1) per event.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from agent_kernel.events import Event
from agent_kernel.models.pricing import cost_usd
from agent_kernel.redact import redact

MIME_TYPE = "application/vnd.agent-kernel.trace+json"
VERSION = 1
STEP_TEXT_CHARS = 400  # per code block, arguments, text or result in the saved document
HTML_TEXT_CHARS = 120  # the HTML fallback repeats less: it is for reading, not for tools
HTML_STEPS = 60  # steps the HTML fallback lists (the first and the latest) of a longer run
FULL_TEXT_CHARS = 20_000  # what `%agent trace RUN` shows of each, on request
SUMMARY_CHARS = 200
REQUEST_CHARS = 2_000
ANSWER_CHARS = 2_000  # the answer itself is shown whole, as Markdown, beside the trace
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # JSON writes each as six bytes
CODE_ARGUMENTS = {"code": "python", "query": "sql"}  # arguments shown as code, and how
MARKS = {"done": "✓", "failed": "✗", "denied": "⊘", "running": "…"}


def build_trace(
    events: Iterable[Event],
    *,
    prices: Mapping[str, Any] | None = None,
    secrets: Iterable[str] = (),
    demo: bool = False,
    text_chars: int = STEP_TEXT_CHARS,
) -> dict[str, Any]:
    """The trace document of one run from its events (a run still going has status running).
    `text_chars` bounds each step's code, arguments, text and result."""
    builder = TraceBuilder(prices or {}, text_chars=text_chars)
    for event in events:
        builder.add(event)
    return builder.finished(demo, list(secrets))


class TraceBuilder:
    """The document, built one event at a time; `add` says which step the event touched."""

    def __init__(self, prices: Mapping[str, Any], *, text_chars: int = STEP_TEXT_CHARS) -> None:
        self.prices = prices
        self.text_chars = text_chars
        self.model_steps = 0
        self.live_usage = {"prompt_tokens": 0, "completion_tokens": 0}
        self.live_cost: float | None = 0.0
        self.answer = ""  # whole; the document keeps a bounded copy
        self.doc: dict[str, Any] = {
            "version": VERSION,
            "run_id": "",
            "model": "",
            "request": "",
            "status": "running",
            "message": "",
            "answer": "",
            "started": None,
            "duration_ms": None,
            "usage": {"prompt_tokens": 0, "completion_tokens": 0},
            "cost_usd": None,
            "steps": [],
        }
        self.open_model: dict[str, Any] | None = None
        self.tools: dict[str, dict[str, Any]] = {}
        self.approvals: dict[str, dict[str, Any]] = {}
        self.denied_calls: set[str] = set()  # their approval row stands for them
        self.started_at = 0.0

    def add(self, event: Event) -> dict[str, Any] | None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is None:
            return None
        step: dict[str, Any] | None = handler(event, event.data)
        return step

    def _bounded(self, text: str) -> str:
        more = self.doc["run_id"] if self.text_chars < FULL_TEXT_CHARS else ""
        return bounded(text, self.text_chars, more)

    def _step(self, kind: str, name: str, status: str = "running") -> dict[str, Any]:
        step: dict[str, Any] = {
            "index": len(self.doc["steps"]) + 1,
            "kind": kind,
            "name": name,
            "status": status,
            "duration_ms": None,
            "summary": "",
        }
        self.doc["steps"].append(step)
        return step

    def _on_run_started(self, event: Event, data: dict[str, Any]) -> None:
        self.doc.update(run_id=event.run_id, model=data.get("model") or "")
        self.doc["request"] = _cut(data.get("request", ""), REQUEST_CHARS)
        self.doc["started"] = event.time
        self.started_at = event.time

    def _on_model_started(self, event: Event, data: dict[str, Any]) -> dict[str, Any]:
        self.model_steps += 1
        self.open_model = self._step("model", self.doc["model"] or "model")
        self.open_model["started"] = event.time
        return self.open_model

    def _on_model_retry(self, event: Event, data: dict[str, Any]) -> dict[str, Any] | None:
        if self.open_model is not None:
            self.open_model["retries"] = self.open_model.get("retries", 0) + 1
            self.open_model["summary"] = _cut(f"retrying: {data.get('reason', '')}")
        return self.open_model

    def _on_model_note(self, event: Event, data: dict[str, Any]) -> dict[str, Any] | None:
        """A narrowed request shape or tool calls read from text: said on the model's row."""
        if self.open_model is not None:
            self.open_model.setdefault("notes", []).append(str(data.get("text", "")))
        return self.open_model

    def _on_model_finished(self, event: Event, data: dict[str, Any]) -> dict[str, Any]:
        if self.open_model is None:
            self.model_steps += 1
        step = self.open_model or self._step("model", data.get("model") or "model")
        self.open_model = None
        step.pop("started", None)
        model = data.get("model") or self.doc["model"]
        if model:
            self.doc["model"] = step["name"] = model
        usage = data.get("usage") or {}
        tokens_in, tokens_out = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
        calls = data.get("tool_calls") or []
        cost = cost_usd(model, tokens_in, tokens_out, self.prices) if usage else None
        step.update(
            status="done",
            duration_ms=data.get("duration_ms"),
            tokens_in=tokens_in if usage else None,
            tokens_out=tokens_out if usage else None,
            cost_usd=cost,
            summary=_cut(_calls_summary(calls)) if calls else "answered",
        )
        notes = step.pop("notes", None)
        if notes:  # a narrowed request shape, tool calls read from text: the row says so
            step["summary"] = _cut(step["summary"] + " · " + " · ".join(notes), SUMMARY_CHARS * 2)
        self.live_usage["prompt_tokens"] += tokens_in or 0
        self.live_usage["completion_tokens"] += tokens_out or 0
        self.live_cost = None if cost is None or self.live_cost is None else self.live_cost + cost
        if data.get("text"):
            step["text"] = self._bounded(data["text"])
        return step

    def _on_policy_decision(self, event: Event, data: dict[str, Any]) -> dict[str, Any] | None:
        if data.get("decision") != "deny":
            return None
        step = self._tool_step(data)
        step.update(status="denied", summary=_cut(f"denied: {data.get('reason', '')}"))
        return step

    def _on_approval_requested(self, event: Event, data: dict[str, Any]) -> dict[str, Any]:
        step = self._step("approval", data.get("tool", "?"))
        step.update(approval_id=data.get("approval_id"), started=event.time)
        step["summary"] = _cut(f"waiting for approval: {data.get('reason', '')}")
        self.approvals[data.get("approval_id", "")] = step
        return step

    def _on_approval_decided(self, event: Event, data: dict[str, Any]) -> dict[str, Any]:
        step = self.approvals.get(data.get("approval_id", "")) or self._step(
            "approval", data.get("tool", "?")
        )
        started = step.pop("started", event.time)
        step["duration_ms"] = round((event.time - started) * 1000, 1)
        step["status"] = "done" if data.get("approved") else "denied"
        step["summary"] = _cut(approval_summary(data), SUMMARY_CHARS * 2)
        if not data.get("approved"):
            self.denied_calls.add(data.get("call_id", ""))
        if data.get("edit"):
            step["text"] = self._bounded(data["edit"])
        return step

    def _on_verification(self, event: Event, data: dict[str, Any]) -> dict[str, Any]:
        step = self._step("verification", "check", "done" if data.get("ok") else "failed")
        numbers = data.get("numbers", 0)
        if data.get("ok"):
            step["summary"] = f"{numbers} number{'s' if numbers != 1 else ''} checked, all backed"
        else:
            summary = data.get("note", "").removeprefix("⚠ ")
            if data.get("retry"):
                summary += " (sent back to the model once)"
            step["summary"] = _cut(summary, SUMMARY_CHARS * 2)
        self.doc["verification"] = data.get("note", "")
        return step

    def _on_tool_started(self, event: Event, data: dict[str, Any]) -> dict[str, Any]:
        step = self._tool_step(data)
        step["started"] = event.time
        self._describe_arguments(step, data.get("arguments") or {})
        return step

    def _on_tool_finished(self, event: Event, data: dict[str, Any]) -> dict[str, Any] | None:
        if data.get("call_id") in self.denied_calls and data.get("call_id") not in self.tools:
            return None
        step = self._tool_step(data)
        step.pop("started", None)
        if "arguments" not in step:
            self._describe_arguments(step, data.get("arguments") or {})
        if step["status"] != "denied":
            step["status"] = "done" if data.get("ok") else "failed"
            step["summary"] = _cut(data.get("summary", ""))
        step["duration_ms"] = data.get("duration_ms")
        step["result"] = self._bounded(str(data.get("content", "")))
        if data.get("truncated"):
            step["truncated"] = True
        return step

    def _tool_step(self, data: dict[str, Any]) -> dict[str, Any]:
        call_id = data.get("call_id", "")
        if call_id not in self.tools:
            self.tools[call_id] = self._step("tool", data.get("tool", "?"))
            self.tools[call_id]["call_id"] = call_id
        return self.tools[call_id]

    def _describe_arguments(self, step: dict[str, Any], arguments: dict[str, Any] | str) -> None:
        """The code argument kept once, as code; the others as one bounded JSON object (or,
        when that is too long, as its bounded text)."""
        if isinstance(arguments, str):
            step["arguments"] = self._bounded(arguments)
            return
        shown: dict[str, Any] = {}
        for name, value in arguments.items():
            language = CODE_ARGUMENTS.get(name)
            if language and isinstance(value, str) and "code" not in step:
                step["code"] = {"language": language, "source": self._bounded(value)}
                continue
            shown[name] = value
        text = json.dumps(shown, ensure_ascii=False, default=str)
        step["arguments"] = shown if len(text) <= self.text_chars else self._bounded(text)

    def _on_run_finished(self, event: Event, data: dict[str, Any]) -> None:
        usage = data.get("usage") or {}
        self.answer = data.get("answer", "")
        self.doc.update(
            status=data.get("status", "error"),
            message=data.get("message", ""),
            answer=_cut(data.get("answer", ""), ANSWER_CHARS),
            usage={
                "prompt_tokens": usage.get("prompt_tokens", 0),
                "completion_tokens": usage.get("completion_tokens", 0),
            },
            duration_ms=round((event.time - self.started_at) * 1000, 1),
        )
        costs = [s.get("cost_usd") for s in self.doc["steps"] if s["kind"] == "model"]
        known = [c for c in costs if c is not None]
        self.doc["cost_usd"] = round(sum(known), 6) if known and len(known) == len(costs) else None
        for step in self.doc["steps"]:  # a run that ended leaves nothing running
            if step["status"] == "running":
                step["status"] = "failed"
                step.setdefault("summary", "")
                step["summary"] = step["summary"] or f"not finished: {self.doc['status']}"
            step.pop("started", None)

    def document(self, demo: bool) -> dict[str, Any]:
        self.doc["demo"] = demo
        return self.doc

    def finished(self, demo: bool, secrets: list[str]) -> dict[str, Any]:
        """The document as it is saved: secrets removed."""
        return redacted(self.document(demo), secrets)


def approval_summary(data: dict[str, Any]) -> str:
    """Who decided and how; for a rule or a timeout, also how to allow it next time."""
    by = data.get("by") or "someone"
    if data.get("approved"):
        edited = " (edited)" if data.get("edit") else ""
        always = "; always allowed in this session" if data.get("always") else ""
        return f"approved by {by}{edited}{always}"
    text = f"denied by {by}: {data.get('reason') or 'no reason given'}"
    if data.get("how") == "unattended":
        tool = data.get("tool", "TOOL")
        text += (
            ". To allow it in unattended runs: %config Policy.unattended = 'allow', "
            f"or a rule: %agent policy allow {tool}"
        )
    elif data.get("how") == "timeout":
        text += ". Raise %config Policy.approval_timeout, or answer sooner"
    return text


def _calls_summary(calls: list[dict[str, Any]]) -> str:
    names = ", ".join(
        c.get("name", "?") + (" (written as text)" if c.get("from_text") else "") for c in calls
    )
    return f"{len(calls)} tool call{'s' if len(calls) != 1 else ''}: {names}"


def bounded(text: str, limit: int = STEP_TEXT_CHARS, run_id: str = "") -> str:
    """`text` cut to `limit` characters, saying how much was left out and where to see more."""
    text = _CONTROL.sub("\ufffd", text)
    if len(text) <= limit:
        return text
    where = f"%agent trace {run_id} shows more" if run_id else "not kept in the trace"
    return text[:limit] + f"\n[… {len(text) - limit:,} more characters; {where}]"


def _cut(text: str, limit: int = SUMMARY_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redacted(value: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    """A document or one step with secrets removed from every text it carries."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    cleaned = redact(text, secrets)
    return value if cleaned == text else dict(json.loads(cleaned))


# -- fallbacks --------------------------------------------------------------------------------


def totals_line(doc: dict[str, Any], steps: int | None = None) -> str:
    """`gpt-4o-mini · 4 steps · 3,912 tokens in / 161 out · $0.0008 · 4.2 s`. `steps`, when
    known, saves counting the model calls (the live widget keeps the count)."""
    parts = [doc.get("model") or "model"]
    if doc.get("demo"):
        parts[0] += " (offline demo model)"
    if steps is None:
        steps = sum(1 for s in doc["steps"] if s["kind"] == "model")
    parts.append(f"{steps} step{'s' if steps != 1 else ''}")
    usage = doc.get("usage") or {}
    if usage.get("prompt_tokens") or usage.get("completion_tokens"):
        tokens_in, tokens_out = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
        parts.append(f"{tokens_in:,} tokens in / {tokens_out:,} out")
    if doc.get("cost_usd") is not None:
        parts.append(f"${doc['cost_usd']:.4f}")
    if doc.get("duration_ms") is not None:
        parts.append(format_duration(doc["duration_ms"]))
    if doc.get("status") not in (None, "answered", "running"):
        parts.append(str(doc["status"]).replace("_", " "))
    elif doc.get("status") == "answered" and only_denied(doc):
        parts.append("answered, but its action was denied")
    return " · ".join(parts)


def only_denied(doc: dict[str, Any]) -> bool:
    """True when the run asked to act, was denied, and did nothing else: its answer is then
    not a success to show in green."""
    steps = doc.get("steps") or []
    denied = any(s.get("status") == "denied" for s in steps)
    acted = any(s.get("kind") == "tool" and s.get("status") == "done" for s in steps)
    return denied and not acted


def format_duration(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def step_line(step: dict[str, Any]) -> str:
    mark = MARKS.get(step["status"], "?")
    label = "model" if step["kind"] == "model" else step["name"]
    pieces = [f"{step['index']:>2}. {mark} {label}"]
    if step.get("summary"):
        pieces.append(step["summary"])
    if step.get("tokens_in") is not None:
        pieces.append(f"{step['tokens_in']:,} in / {step.get('tokens_out') or 0:,} out")
    if step.get("duration_ms") is not None:
        pieces.append(format_duration(step["duration_ms"]))
    return " · ".join(pieces)


def trace_text(doc: dict[str, Any]) -> str:
    lines = [f"Agent trace: {totals_line(doc)}"]
    if doc.get("request"):
        lines.append(f"Request: {doc['request'].splitlines()[0][:200]}")
    lines += [step_line(s) for s in doc["steps"]]
    if doc.get("message"):
        lines.append(doc["message"])
    return "\n".join(lines)


def _pre(label: str, text: str, run_id: str) -> str:
    shown = bounded(text, HTML_TEXT_CHARS, run_id)
    return f"<div><b>{html.escape(label)}</b></div><pre>{html.escape(shown, quote=False)}</pre>"


def trace_html(doc: dict[str, Any]) -> str:
    """Plain HTML (details/summary, pre): what nbviewer and GitHub keep after sanitising."""
    rows = []
    run_id = doc.get("run_id") or ""
    steps = doc["steps"]
    if len(steps) > HTML_STEPS:  # a long run: its first and latest steps, and where the rest are
        first, last = steps[: HTML_STEPS // 3], steps[-(HTML_STEPS - HTML_STEPS // 3) :]
        left_out = len(steps) - len(first) - len(last)
        rows.append("")  # where the note goes, after the first steps
        steps = [*first, *last]
    for step in steps:
        body = []
        if step.get("code"):
            body.append(_pre(step["code"]["language"], step["code"]["source"], run_id))
        if step.get("arguments"):
            arguments = step["arguments"]
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments, ensure_ascii=False, default=str)
            body.append(_pre("arguments", arguments, run_id))
        for label in ("text", "result"):
            if step.get(label):
                body.append(_pre(label, step[label], run_id))
        summary = html.escape(step_line(step))
        rows.append(f"<details><summary>{summary}</summary>{''.join(body)}</details>")
    if rows and rows[0] == "":
        note = (
            f"<p>… {left_out:,} more steps: JupyterLab with agent-kernel shows them all, and "
            f"<code>%agent trace {html.escape(run_id)}</code> rebuilds the trace.</p>"
        )
        rows = [*rows[1 : HTML_STEPS // 3 + 1], note, *rows[HTML_STEPS // 3 + 1 :]]
    head = html.escape(totals_line(doc))
    message = f"<p>{html.escape(doc['message'])}</p>" if doc.get("message") else ""
    return (
        f"<div class='agent-kernel-trace'><details><summary><b>Agent trace</b>: {head}"
        f"</summary>{''.join(rows)}{message}</details></div>"
    )


class TraceBundle:
    """A trace as a display object: the extension's MIME type plus HTML and text fallbacks."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def __repr__(self) -> str:  # terminal IPython shows the text version
        return trace_text(self.document)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {
            MIME_TYPE: self.document,
            "text/html": trace_html(self.document),
            "text/plain": trace_text(self.document),
        }
