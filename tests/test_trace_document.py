"""The trace document built from a run's events: what a saved notebook shows without a kernel."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_kernel.events import Event
from agent_kernel.ui.trace_document import MIME_TYPE, TraceBundle, build_trace, trace_text

KEY = "sk-proj-abcdefghijklmnopqrstuvwx"


def events(*items: tuple[str, dict[str, Any]], start: float = 1000.0) -> list[Event]:
    return [Event(kind, "run_1", 0, data, start + i) for i, (kind, data) in enumerate(items)]  # type: ignore[arg-type]


def model_step(model: str = "gpt-4o-mini", calls: int = 1) -> list[tuple[str, dict[str, Any]]]:
    tool_calls = [{"id": f"c{i}", "name": "sql", "arguments": "{}"} for i in range(calls)]
    return [
        ("model_started", {}),
        (
            "model_finished",
            {
                "model": model,
                "text": "",
                "tool_calls": tool_calls,
                "usage": {"prompt_tokens": 1000, "completion_tokens": 100},
                "duration_ms": 800.0,
            },
        ),
    ]


@pytest.mark.unit
def test_a_run_becomes_steps_with_costs_and_code() -> None:
    query = "SELECT region, sum(revenue) FROM sales GROUP BY 1"
    trace = build_trace(
        events(
            ("run_started", {"request": "Which region?", "model": "gpt-4o-mini"}),
            *model_step(),
            ("tool_started", {"tool": "sql", "call_id": "c0", "arguments": {"query": query}}),
            (
                "tool_finished",
                {
                    "tool": "sql",
                    "call_id": "c0",
                    "ok": True,
                    "summary": "4 rows",
                    "content": "| West |",
                    "duration_ms": 9.0,
                },
            ),
            (
                "run_finished",
                {
                    "status": "answered",
                    "answer": "West.",
                    "usage": {"prompt_tokens": 1000, "completion_tokens": 100},
                },
            ),
        )
    )
    assert [s["kind"] for s in trace["steps"]] == ["model", "tool"]
    model, tool = trace["steps"]
    assert model["cost_usd"] == (1000 * 0.15 + 100 * 0.60) / 1e6
    assert trace["cost_usd"] == round(model["cost_usd"], 6)
    assert tool["code"] == {"language": "sql", "source": query}
    assert tool["status"] == "done" and tool["result"] == "| West |"
    assert trace["duration_ms"] == 5000.0 and trace["answer"] == "West."
    assert "$0.0002" in trace_text(trace)


@pytest.mark.unit
def test_unknown_models_have_no_cost_and_custom_prices_apply() -> None:
    run = events(("run_started", {"model": "llama3.2"}), *model_step("llama3.2", 0))
    assert build_trace(run)["steps"][0]["cost_usd"] is None
    priced = build_trace(run, prices={"llama3.2": [1.0, 2.0]})
    assert priced["steps"][0]["cost_usd"] == (1000 * 1.0 + 100 * 2.0) / 1e6


@pytest.mark.unit
def test_denied_and_unfinished_steps_say_so() -> None:
    trace = build_trace(
        events(
            ("run_started", {"model": "m"}),
            *model_step("m", 2),
            (
                "policy_decision",
                {
                    "tool": "run_python",
                    "call_id": "c0",
                    "decision": "deny",
                    "reason": "read-only mode",
                },
            ),
            (
                "tool_finished",
                {
                    "tool": "run_python",
                    "call_id": "c0",
                    "ok": False,
                    "summary": "not allowed",
                    "content": "Error",
                },
            ),
            ("tool_started", {"tool": "sql", "call_id": "c1", "arguments": {"query": "SELECT 1"}}),
            (
                "run_finished",
                {"status": "interrupted", "message": "Run interrupted; nothing more was run."},
            ),
        )
    )
    denied, cut = trace["steps"][1:]
    assert denied["status"] == "denied" and "read-only mode" in denied["summary"]
    assert cut["status"] == "failed" and cut["summary"] == "not finished: interrupted"
    assert trace["status"] == "interrupted"


@pytest.mark.unit
def test_secrets_are_removed_and_long_results_bounded() -> None:
    trace = build_trace(
        events(
            ("run_started", {"model": "m", "request": f"use {KEY}"}),
            (
                "tool_started",
                {"tool": "run_python", "call_id": "c", "arguments": {"code": "print(k)"}},
            ),
            (
                "tool_finished",
                {"tool": "run_python", "call_id": "c", "ok": True, "content": KEY + "x" * 10_000},
            ),
        ),
        secrets=[KEY],
    )
    text = json.dumps(trace)
    assert KEY not in text and "[REDACTED]" in text
    assert len(trace["steps"][0]["result"]) < 600
    assert "more characters; %agent trace run_1 shows more" in trace["steps"][0]["result"]


@pytest.mark.unit
def test_a_fifty_step_run_stays_under_3_kb_per_step_in_the_notebook() -> None:
    """Each step as long as it can be in every field (code, other arguments, the model's text,
    the result), with the characters that grow most when escaped for JSON and HTML."""
    noisy = '<td class="x">a & b</td>\n\t\x01\\'
    items: list[tuple[str, dict[str, Any]]] = [("run_started", {"model": "gpt-4o-mini"})]
    for i in range(50):
        items += model_step()
        items[-1][1]["text"] = noisy * 1000
        code = "df.groupby('region').revenue.sum()  # \"<&>\"\n" * 100
        arguments = {"code": code, "note": noisy * 100, "n": list(range(500))}
        items.append(
            ("tool_started", {"tool": "run_python", "call_id": f"c{i}", "arguments": arguments})
        )
        items.append(
            (
                "tool_finished",
                {"tool": "run_python", "call_id": f"c{i}", "ok": True, "content": noisy * 1000},
            )
        )
    items.append(("run_finished", {"status": "answered", "answer": "y" * 1_000_000}))
    bundle = TraceBundle(build_trace(events(*items)))._repr_mimebundle_()
    # As nbformat writes it: JSON, non-ASCII kept as UTF-8.
    size = len(json.dumps(bundle, ensure_ascii=False).encode())
    assert set(bundle) == {MIME_TYPE, "text/html", "text/plain"}
    assert size < 100 * 3_000, f"{size:,} bytes for 100 steps"
    assert "%agent trace run_1 shows more" in bundle[MIME_TYPE]["steps"][1]["result"]
    print(f"50-step trace: {size:,} bytes in the notebook ({size / 100:,.0f} per step)")


def test_agent_trace_rebuilds_past_runs_from_the_store(
    shell: Any, server: Any, capsys: Any
) -> None:
    from agent_kernel.memory.store import Store
    from agent_kernel.testing import Reply, ToolCall

    server.add(
        Reply(tool_calls=[ToolCall("list_variables", {})], usage=(100, 5)),
        Reply(text="First answer.", usage=(120, 6)),
        Reply(text="Second answer."),
    )
    shell.run_cell("%%agent\nFirst question")
    shell.run_cell("%%agent\nSecond question")
    shell.magics_manager.registry["AgentMagics"]._agent = None  # after a restart
    latest = shell.run_line_magic("agent", "trace").document
    assert (latest["request"], latest["answer"]) == ("Second question", "Second answer.")
    store = Store(shell.magics_manager.registry["AgentMagics"].kernel_agent.memory.paths.database)
    first_id = store.query("SELECT id FROM runs WHERE request = 'First question'")[0][0]
    first = shell.run_line_magic("agent", f"trace {first_id[:10]}")
    assert [s["name"] for s in first.document["steps"]] == [
        "scripted-model",
        "list_variables",
        "scripted-model",
        "check",
    ]
    assert first.document["usage"] == {"prompt_tokens": 220, "completion_tokens": 11}
    assert repr(first).startswith("Agent trace: scripted-model · 2 steps · 220 tokens in")
    result = shell.run_cell("%agent trace run_nope")
    assert "no run 'run_nope' in this project" in str(result.error_in_exec)


@pytest.mark.unit
def test_the_html_fallback_of_a_long_run_lists_its_first_and_latest_steps() -> None:
    items: list[tuple[str, dict[str, Any]]] = [("run_started", {"model": "m"})]
    for i in range(100):
        call = {"tool": "sql", "call_id": f"c{i}", "arguments": {"n": i}}
        finished = {**call, "ok": True, "content": f"r{i}!"}
        items += [("tool_started", call), ("tool_finished", finished)]
    items.append(("run_finished", {"status": "answered"}))
    trace = build_trace(events(*items))
    page = TraceBundle(trace)._repr_mimebundle_()["text/html"]
    assert len(trace["steps"]) == 100  # the document keeps every step
    assert "r19!" in page and "r60!" in page and "r99!" in page and "r20!" not in page
    assert "… 40 more steps" in page and "%agent trace run_1" in page
