"""The side panel's endpoints, on a real Jupyter Server in its own process, over a real store."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

import agent_kernel
from agent_kernel.memory.store import Store

TOKEN = "agent-kernel-test-token"
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


@dataclass
class Server:
    url: str
    root: Path
    log: Path

    def get(self, route: str, path: str | None, *, token: str | None = TOKEN) -> Any:
        """(status, decoded JSON body) of `GET /agent-kernel/<route>?path=...`."""
        query = "" if path is None else "?" + urllib.parse.urlencode({"path": path})
        request = urllib.request.Request(f"{self.url}agent-kernel/{route}{query}")
        if token:
            request.add_header("Authorization", f"token {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def write_store(folder: Path) -> Path:
    """A project store as kernels leave it: two sessions with runs, memories, one replaced."""
    path = folder / ".agent" / "agent.duckdb"
    store = Store(path)
    runs = [("ses_a", "run_1", 1), ("ses_a", "run_2", 2), ("ses_b", "run_3", 30)]
    statements: list[tuple[str, list[Any]]] = [
        (
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
            ["ses_a", "sales.ipynb", "ada", at(0), "Which region sold most?", at(2)],
        ),
        (
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
            ["ses_b", "costs.ipynb", "ada", at(30), "Plot the costs", at(31)],
        ),
    ]
    for session, run, minute in runs:
        for kind, data in (
            ("run_started", {"request": "q", "model": "m"}),
            ("run_finished", {"status": "answered", "steps": 2}),
        ):
            statements.append(
                (
                    "INSERT INTO events (session_id, run_id, step, kind, data, time) "
                    "VALUES (?, ?, 0, ?, ?, ?)",
                    [session, run, kind, json.dumps(data), at(minute)],
                )
            )
    memories = [
        ("mem_old", "fact", "Revenue is in dollars", at(3), "mem_new"),
        ("mem_new", "fact", "Revenue is in euros since 2024", at(10), None),
        ("mem_rule", "decision", "Use fiscal quarters", at(5), None),
    ]
    for memory_id, kind, text, created, superseded_by in memories:
        statements.append(
            (
                "INSERT INTO memories (id, scope, kind, text, source, trust, created, "
                "session_id, superseded_by) VALUES (?, 'project', ?, ?, 'user', 'trusted', ?, "
                "'ses_a', ?)",
                [memory_id, kind, text, created, superseded_by],
            )
        )
    store.write(statements)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("jupyter")
    root = base / "root"
    (root / "project" / "sub").mkdir(parents=True)
    (root / "empty").mkdir()
    outside = base / "outside"
    outside.mkdir()
    write_store(root / "project")
    write_store(outside)
    (root / "escape").symlink_to(outside, target_is_directory=True)

    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
    }
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.open_browser=False",
        f"--IdentityProvider.token={TOKEN}",
        # Enabled here so the test does not depend on how the package was installed.
        "--ServerApp.jpserver_extensions={'agent_kernel': True}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = base / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    running = Server(f"http://127.0.0.1:{port}/", root, log)
    try:
        wait_until_up(running, process)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter server exited:\n{server.log.read_text()}")
        try:
            status, _ = server.get("sessions", "")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"jupyter server did not answer in 60 s:\n{server.log.read_text()}")


def test_sessions_of_a_folder_most_recent_first_with_their_turns(server: Server) -> None:
    status, sessions = server.get("sessions", "project")
    assert status == 200
    assert [(s["id"], s["title"], s["notebook"], s["turns"]) for s in sessions] == [
        ("ses_b", "Plot the costs", "costs.ipynb", 1),
        ("ses_a", "Which region sold most?", "sales.ipynb", 2),
    ]
    assert dt.datetime.fromisoformat(sessions[0]["last_active"]) == at(31)


def test_memories_newest_first_with_replaced_ones_flagged(server: Server) -> None:
    status, memories = server.get("memories", "/project/")  # leading/trailing slashes are fine
    assert status == 200
    assert [m["id"] for m in memories] == ["mem_new", "mem_rule", "mem_old"]
    old = memories[2]
    assert old["superseded_by"] == "mem_new" and old["superseded"] and not old["current"]
    assert memories[0]["current"] and memories[0]["superseded_by"] is None
    assert {k: memories[1][k] for k in ("scope", "kind", "text", "source", "trust")} == {
        "scope": "project",
        "kind": "decision",
        "text": "Use fiscal quarters",
        "source": "user",
        "trust": "trusted",
    }
    assert dt.datetime.fromisoformat(memories[1]["created"]) == at(5)


def test_a_folder_without_a_store_lists_nothing_and_gets_no_store(server: Server) -> None:
    for folder in ("empty", "project/sub", ""):
        assert server.get("sessions", folder) == (200, [])
        assert server.get("memories", folder) == (200, [])
    assert not (server.root / "empty" / ".agent").exists()
    assert not (server.root / ".agent").exists()


@pytest.mark.parametrize("path", ["..", "project/../..", "../outside", "escape", "escape/"])
def test_folders_outside_the_root_are_refused(server: Server, path: str) -> None:
    status, body = server.get("memories", path)
    assert status == 403
    assert body["message"] == f"{path!r} is outside the server's root folder; not listed"


def test_missing_and_hidden_folders_are_not_found(server: Server) -> None:
    status, body = server.get("sessions", "nowhere")
    assert (status, body["message"]) == (404, "no folder 'nowhere' under the server's root")
    # An absolute path is taken as relative to the root, as the contents API does.
    assert server.get("sessions", "/etc")[0] == 404
    status, body = server.get("sessions", "project/.agent")
    assert status == 404 and "hidden folder" in body["message"]


def test_requests_need_jupyters_authentication(server: Server) -> None:
    assert server.get("sessions", "project", token=None)[0] == 403
    assert server.get("memories", "project", token="wrong")[0] == 403


def test_a_kernel_holding_the_store_is_waited_out(server: Server) -> None:
    """DuckDB lets one process open the file at a time; the endpoint retries, like kernels do."""
    path = server.root / "project" / ".agent" / "agent.duckdb"
    holder = duckdb.connect(str(path))  # this test process plays a kernel mid-write
    result: list[Any] = []
    reader = threading.Thread(target=lambda: result.append(server.get("sessions", "project")))
    started = time.monotonic()
    reader.start()
    time.sleep(0.5)
    holder.close()
    reader.join(timeout=30)
    status, sessions = result[0]
    assert status == 200 and len(sessions) == 2
    assert time.monotonic() - started >= 0.5


def test_the_package_declares_both_extensions() -> None:
    assert agent_kernel._jupyter_server_extension_points() == [{"module": "agent_kernel.server"}]
    assert agent_kernel._jupyter_labextension_paths() == [
        {"src": "labextension", "dest": "agent-kernel"}
    ]
    config = Path(__file__).parents[1] / "jupyter-config" / "jupyter_server_config.d"
    enabled = json.loads((config / "agent_kernel.json").read_text())
    assert enabled == {"ServerApp": {"jpserver_extensions": {"agent_kernel": True}}}
