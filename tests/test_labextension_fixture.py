"""The JupyterLab renderer's test document still has the shape `build_trace` gives a trace.

labextension/src/__tests__/trace-fixture.json was made by `build_trace`; the jest tests render
it. If the document gains or loses a field, this fails, so the renderer and its fixture are
updated with the contract rather than drifting from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent_kernel.events import Event
from agent_kernel.ui.trace_document import MIME_TYPE, build_trace

pytestmark = pytest.mark.unit

FIXTURE = Path(__file__).parents[1] / "labextension" / "src" / "__tests__" / "trace-fixture.json"
RENDERER = Path(__file__).parents[1] / "labextension" / "src" / "traceDocument.ts"


def a_run() -> dict[str, Any]:
    usage = {"prompt_tokens": 10, "completion_tokens": 2}
    items: list[tuple[str, dict[str, Any]]] = [
        ("run_started", {"request": "q", "model": "m"}),
        ("model_started", {}),
        ("model_finished", {"model": "m", "tool_calls": [{"name": "sql"}], "usage": usage}),
        ("tool_started", {"tool": "sql", "call_id": "c", "arguments": {"query": "SELECT 1"}}),
        ("tool_finished", {"tool": "sql", "call_id": "c", "ok": True, "content": "1"}),
        ("run_finished", {"status": "answered", "usage": usage}),
    ]
    return build_trace(
        [Event(kind, "run_1", 0, data, 100.0 + i) for i, (kind, data) in enumerate(items)]  # type: ignore[arg-type]
    )


def test_the_fixture_has_the_documents_fields() -> None:
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    built = a_run()
    assert set(fixture) == set(built)
    assert fixture["version"] == built["version"]
    assert set(fixture["usage"]) == set(built["usage"])
    model, tool = built["steps"]
    fixture_model = next(s for s in fixture["steps"] if s["kind"] == "model")
    fixture_tool = next(s for s in fixture["steps"] if s["kind"] == "tool" and "code" in s)
    assert set(model) <= set(fixture_model) | {"text"}
    assert set(tool) <= set(fixture_tool)


def test_the_renderer_reads_the_same_mime_type() -> None:
    assert f"export const MIME_TYPE = '{MIME_TYPE}';" in RENDERER.read_text(encoding="utf-8")
