"""Text that is not valid UTF-8 (lone surrogates) never reaches the model, the store or the
cell, and never breaks later calls of the session (issue 17, "text is text")."""

from __future__ import annotations

import json
from pathlib import Path

from agent_kernel.memory.store import Store
from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from agent_kernel.text import clean_data, clean_text
from tests.test_kernel import ALLOW_UNATTENDED, execute, kernel_env, notebook, texts

__all__ = ["kernel_env"]  # the fixture, imported for its use here

SURROGATE_FRAME = r"""
import pandas as pd
raw = b"caf\xe9".decode("utf-8", "surrogateescape")  # bytes that were not UTF-8
frame = pd.DataFrame({"city": pd.Series([raw, "x\ud800", "ok"], dtype=object), "n": [1, 2, 3]})
frame.columns = pd.Index(["city\udcff", "n"], dtype=object)
frame.index = pd.Index(["r\udc80", "b", "c"], dtype=object)
label = "half an emoji \ud83d"
"""


def test_clean_text_joins_pairs_and_replaces_lone_surrogates() -> None:
    assert clean_text("plain ascii") == ("plain ascii", 0)
    assert clean_text("caf\udce9 x\ud800") == ("caf\ufffd x\ufffd", 2)
    # A high and a low surrogate side by side are one character: joined, not replaced.
    assert clean_text("\ud83d\ude00 ok") == ("\U0001f600 ok", 0)
    # A replacement character that was already there is not counted.
    assert clean_text("\ufffd\udcff") == ("\ufffd\ufffd", 1)
    message = {"role": "tool", "content": ["a\udc80", ("b", "c\ud800")], "k\udcff": 1}
    cleaned, count = clean_data(message)
    assert count == 3 and json.dumps(cleaned, ensure_ascii=False).encode("utf-8")
    same = {"role": "user", "content": "fine"}
    assert clean_data(same)[0] is same  # nothing to replace: the same object, no copy


def test_surrogates_in_a_dataframe_do_not_poison_the_session(
    kernel_env: ScriptedServer, project_dir: Path
) -> None:
    server = kernel_env
    server.add(
        Reply(tool_calls=[ToolCall("describe_dataframe", {"name": "frame"})]),
        Reply(tool_calls=[ToolCall("sql", {"query": "SELECT * FROM frame"})]),
        Reply(tool_calls=[ToolCall("list_variables", {})]),
        # The model's own text can carry a lone surrogate too (JSON allows "\udcff").
        Reply(text="The first city is caf\udce9."),
        Reply(tool_calls=[ToolCall("run_python", {"code": "print(frame.index[0] + label)"})]),
        Reply(text="Second answer."),
        Reply(text="Third answer."),
    )
    nb = execute(
        notebook(
            "%load_ext agent_kernel",
            ALLOW_UNATTENDED,
            SURROGATE_FRAME,
            "%%agent\nDescribe frame.",
            "%%agent\nAnd the first label?",
            "%%agent\nAnything else?",
        ),
        timeout=120,
    )
    assert "The first city is caf\ufffd." in texts(nb.cells[3])
    assert "Second answer." in texts(nb.cells[4])
    assert "Third answer." in texts(nb.cells[5])
    assert len(server.requests) == 7  # every call reached the server: none failed to encode
    # Each tool result as the model first read it (the request right after the call).
    results = [server.requests[i].body["messages"][-1] for i in (1, 2, 3, 5)]
    assert all(m["role"] == "tool" for m in results)
    described = results[0]["content"]
    assert "city\ufffd" in described and "caf\ufffd" in described
    assert "not valid UTF-8" in described and "replaced with U+FFFD" in described
    # SQL cannot read such a frame; it says so in one line and what to do.
    assert "not valid UTF-8" in results[1]["content"] and "run_python" in results[1]["content"]
    assert "r\ufffdhalf an emoji \ufffd" in results[3]["content"]
    # Everything was recorded: the three requests, the answers and every tool result.
    store = Store(project_dir / ".agent" / "agent.duckdb")
    users = store.query(
        "SELECT message ->> 'content' FROM messages WHERE role = 'user' ORDER BY seq"
    )
    assert [u[0] for u in users] == ["Describe frame.", "And the first label?", "Anything else?"]
    finished = store.query("SELECT count(*) FROM events WHERE kind = 'tool_finished'")
    assert finished == [(4,)]
    statuses = store.query("SELECT status FROM runs ORDER BY started")
    assert [s[0] for s in statuses] == ["answered", "answered", "answered"]
