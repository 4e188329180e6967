"""The audit log: every decision is an event, events are hash-chained, tampering is found."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.memory.audit import verify
from agent_kernel.memory.store import Store, migrate
from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from tests.conftest import agent_of


@pytest.fixture
def recorded(effects_allowed: InteractiveShell, server: ScriptedServer, project_dir: Path) -> Store:
    """Two runs on record: one with a rule decision, one with an approval."""
    shell = effects_allowed
    shell.run_line_magic("agent", "policy allow sql")
    server.add(
        Reply(tool_calls=[ToolCall("sql", {"query": "SELECT 1 AS one"})]),
        Reply(text="One."),
        Reply(tool_calls=[ToolCall("run_python", {"code": "audited = 1"})]),
        Reply(text="Done."),
    )
    shell.run_cell("%%agent\nCount.")
    shell.run_cell("%%agent\nSet it.")
    return agent_of(shell).require_memory().store


def test_decisions_are_in_the_audit_table_with_who_and_why(
    recorded: Store, effects_allowed: InteractiveShell
) -> None:
    audit = effects_allowed.run_line_magic("agent", "audit")
    rows = audit.sort_values("id")[["kind", "tool", "decision", "by", "reason"]]
    asked = "run_python has effects (execute); ask mode"
    assert rows.values.tolist() == [  # what an event does not say is empty, never NaN
        ["policy_decision", "sql", "allow", "", "rule: allow sql"],
        ["policy_decision", "run_python", "ask", "", asked],
        ["approval_requested", "run_python", "waiting", "", asked],
        ["approval_decided", "run_python", "approved", "unattended rule", ""],
    ]
    assert not audit.isna().any().any()
    assert set(audit.user.dropna()) == {audit.user.dropna().iloc[0]} and audit.user.notna().all()
    everything = effects_allowed.run_line_magic("agent", "audit --all")
    assert len(everything) > len(audit) and "tool_finished" in set(everything.kind)


def test_the_audit_table_shows_this_notebooks_decisions_unless_all(
    recorded: Store,
    effects_allowed: InteractiveShell,
    server: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
    project_dir: Path,
) -> None:
    """Another notebook of the same project (02 after 01) sees its own decisions only."""
    mine = effects_allowed.run_line_magic("agent", "audit")
    monkeypatch.setenv("JPY_SESSION_NAME", str(project_dir / "02-other.ipynb"))
    agent_of(effects_allowed).__init__(effects_allowed, agent_of(effects_allowed).settings)
    assert effects_allowed.run_line_magic("agent", "audit").empty
    server.add(Reply(tool_calls=[ToolCall("sql", {"query": "SELECT 2 AS two"})]), Reply("Two."))
    effects_allowed.run_cell("%%agent\nCount again.")
    other = effects_allowed.run_line_magic("agent", "audit")
    assert other.kind.tolist() == ["policy_decision"] and other.tool.tolist() == ["sql"]
    assert set(other.session).isdisjoint(mine.session)
    everything = effects_allowed.run_line_magic("agent", "audit --all")
    assert set(mine.id) | set(other.id) <= set(everything.id)
    assert not everything.isna().any().any()


def test_an_untouched_chain_verifies(
    recorded: Store, effects_allowed: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    effects_allowed.run_line_magic("agent", "audit --verify")
    out = capsys.readouterr().out
    count = recorded.query("SELECT count(*) FROM events")[0][0]
    assert out.startswith(f"Audit chain intact: {count:,} events. Head: ")


def tamper(store: Store, sql: str) -> None:
    con = duckdb.connect(str(store.path))
    con.execute(sql)
    con.close()


def test_a_changed_event_breaks_the_chain_there(recorded: Store) -> None:
    target = recorded.query("SELECT id FROM events WHERE kind = 'approval_decided'")[0][0]
    tamper(
        recorded,
        "UPDATE events SET data = replace(CAST(data AS VARCHAR), 'unattended rule', 'ann')::JSON "
        f"WHERE id = {target}",
    )
    report = verify(recorded)
    assert not report.intact and report.broken_at == target
    assert "changed after it was recorded" in report.summary()


def test_a_removed_event_breaks_the_chain_at_the_next(recorded: Store) -> None:
    ids = [r[0] for r in recorded.query("SELECT id FROM events ORDER BY id")]
    tamper(recorded, f"DELETE FROM events WHERE id = {ids[3]}")
    report = verify(recorded)
    assert report.broken_at == ids[4] and "removed, added or reordered" in report.problem


def test_a_forged_event_without_the_chain_is_found(recorded: Store) -> None:
    tamper(
        recorded,
        "INSERT INTO events (session_id, run_id, step, kind, data, time, prev_hash, hash) "
        "VALUES ('s', 'r', 0, 'approval_decided', '{}', now(), 'x', 'y')",
    )
    assert not verify(recorded).intact


def test_events_from_before_the_chain_are_counted_not_failed(tmp_path: Path) -> None:
    path = tmp_path / "agent.duckdb"
    con = duckdb.connect(str(path))
    migrate(con, up_to=3)
    con.execute(
        "INSERT INTO events (session_id, run_id, step, kind, data, time) "
        "VALUES ('s', 'r', 0, 'run_started', '{}', now())"
    )
    con.close()
    store = Store(path)
    import datetime as dt

    from agent_kernel.memory.audit import EventRow
    from agent_kernel.memory.writer import StepWriter

    writer = StepWriter(store)
    writer.add_event(EventRow("s", "r", 1, "run_finished", "{}", dt.datetime.now(dt.timezone.utc)))
    assert writer.sync()  # chained when the background writer ingests it
    report = verify(store)
    assert report.intact and (report.checked, report.unchained) == (1, 1)
    assert "1 older events predate the chain" in report.summary()


def test_removing_the_newest_events_is_found_by_the_anchor(recorded: Store) -> None:
    ids = [r[0] for r in recorded.query("SELECT id FROM events ORDER BY id")]
    tamper(recorded, f"DELETE FROM events WHERE id >= {ids[-3]}")
    report = verify(recorded)
    assert not report.intact
    assert "newest events were removed, or the chain was rewritten" in report.summary()


def test_a_rewritten_and_rechained_table_is_found_by_the_anchor(recorded: Store) -> None:
    """Delete an approval and recompute every later hash: the chain alone says intact."""
    from agent_kernel.memory.audit import GENESIS, EventRow

    tamper(recorded, "DELETE FROM events WHERE kind = 'approval_decided'")
    con = duckdb.connect(str(recorded.path))
    rows = con.execute(
        "SELECT id, session_id, run_id, step, kind, CAST(data AS VARCHAR), time FROM events "
        "ORDER BY id"
    ).fetchall()
    prev = GENESIS
    for event_id, *fields in rows:
        current = EventRow(*fields).digest(prev)
        con.execute(
            "UPDATE events SET prev_hash = ?, hash = ? WHERE id = ?", [prev, current, event_id]
        )
        prev = current
    con.close()
    report = verify(recorded)
    assert not report.intact and "chain was rewritten" in report.problem
    # Without the anchor the rewrite would have passed: the check can fail.
    (recorded.path.parent / "audit-anchor.jsonl").unlink()
    assert verify(recorded).intact
