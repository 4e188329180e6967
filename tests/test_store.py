"""The DuckDB store on real files: migrations, another process's lock, step-by-step writes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from agent_kernel.memory import writer as writer_module
from agent_kernel.memory.store import (
    Store,
    StoreVersionError,
    latest_version,
    migrate,
)
from agent_kernel.memory.writer import StepWriter


def hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that opens the store and keeps it open, as a second kernel would."""
    code = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(path)!r})\n"
        "print('locked', flush=True)\n"
        f"time.sleep({seconds})\n"
        "con.close()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "locked"
    return process


def test_a_new_store_has_every_table_at_the_latest_version(tmp_path: Path) -> None:
    store = Store(tmp_path / ".agent" / "agent.duckdb")
    assert store.version() == latest_version() >= 2
    tables = {r[0] for r in store.query("SELECT table_name FROM information_schema.tables")}
    assert {"sessions", "messages", "events", "memories", "notebook_sessions"} <= tables
    assert "runs" in tables  # a view over run_started / run_finished events


def test_a_version_1_store_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "agent.duckdb"
    con = duckdb.connect(str(path))
    assert migrate(con, up_to=1) == [1]
    con.execute(
        "INSERT INTO sessions VALUES ('ses_old', 'a.ipynb', 'ann', now(), 'old work', now())"
    )
    for kind, data in [
        ("run_started", {"request": "what sold most?", "model": "m"}),
        ("run_finished", {"status": "answered", "steps": 2, "answer": "West"}),
    ]:
        con.execute(
            "INSERT INTO events (session_id, run_id, step, kind, data, time) "
            "VALUES ('ses_old', 'run_1', 0, ?, ?, now())",
            [kind, json.dumps(data)],
        )
    con.close()

    store = Store(path)
    assert store.version() == latest_version()
    (run,) = store.query("SELECT id, session_id, request, status, steps, answer FROM runs")
    assert run == ("run_1", "ses_old", "what sold most?", "answered", 2, "West")
    migrations = [r[0] for r in store.query("SELECT version FROM schema_migrations ORDER BY 1")]
    assert migrations == list(range(1, latest_version() + 1))


def test_a_store_from_a_newer_version_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "agent.duckdb"
    Store(path).version()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_migrations VALUES (99, 'future', now())")
    con.close()
    Store._migrated.clear()
    with pytest.raises(StoreVersionError, match=r"schema version 99, newer .* pip install -U"):
        Store(path).version()


def test_a_write_waits_out_another_kernels_lock(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.duckdb")
    store.version()
    holder = hold_lock(store.path, 0.6)
    started = time.monotonic()
    store.write([("INSERT INTO notebook_sessions VALUES ('nb', 'ses_1', now())", [])])
    waited = time.monotonic() - started
    holder.wait(timeout=10)
    assert store.lock_waits > 0 and waited >= 0.3
    assert store.query("SELECT session_id FROM notebook_sessions") == [("ses_1",)]


def test_a_lock_held_too_long_keeps_the_step_for_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "LOCK_NOTICE_SECONDS", 0.3)
    store = Store(tmp_path / "agent.duckdb", lock_wait=0.3)
    store.version()
    writer = StepWriter(store)
    holder = hold_lock(store.path, 2.5)
    writer.add_pointer("nb", "ses_1")
    started = time.monotonic()
    assert writer.flush() is True  # durable in the journal at once, lock or not
    assert time.monotonic() - started < 0.5
    assert writer.sync(timeout=1.5) is False
    deadline = time.monotonic() + 5  # a lock longer than LOCK_NOTICE_SECONDS is said
    while writer.problem() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    problem = writer.problem() or ""
    assert "is locked by another program" in problem and str(writer.journal.path) in problem
    holder.wait(timeout=10)
    assert writer.sync(timeout=10) is True and writer.pending == []
    assert writer.problem() is None
    assert store.query("SELECT session_id FROM notebook_sessions") == [("ses_1",)]


def test_a_failed_transaction_writes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "agent.duckdb")
    with pytest.raises(duckdb.Error):
        store.write(
            [
                ("INSERT INTO notebook_sessions VALUES ('nb', 'ses_1', now())", []),
                ("INSERT INTO no_such_table VALUES (1)", []),
            ]
        )
    assert store.query("SELECT count(*) FROM notebook_sessions") == [(0,)]
