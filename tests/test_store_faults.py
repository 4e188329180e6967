"""The store's faults in real kernels: killed kernels, another program's lock, a damaged file, a
full disk and a read-only mount. Each: the agent answers, one line says what happened and what
was kept, and every finished step reaches the store in the end."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from agent_kernel.memory.audit import verify
from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from tests.conftest import TEST_KEY, ingested_store

pytestmark = pytest.mark.kernel

STEPS = 50


class Kernel:
    """A real kernel in `cwd` talking to `server`; cells run one at a time, text collected."""

    def __init__(self, cwd: Path, server: ScriptedServer) -> None:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": TEST_KEY,
            "AGENT_KERNEL_MODEL": "scripted-model",
            "AGENT_KERNEL_UNATTENDED": "1",
        }
        env.pop("JPY_SESSION_NAME", None)  # a notebook with no name, as nbclient runs one
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(cwd=str(cwd), env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.run("%load_ext agent_kernel")

    def run(self, code: str, timeout: float = 120) -> str:
        """What the cell shows, as text (errors as `Name: value`)."""
        texts: list[str] = []

        def keep(msg: dict[str, Any]) -> None:
            content = msg["content"]
            if msg["msg_type"] == "stream":
                texts.append(content["text"])
            elif msg["msg_type"] in ("display_data", "update_display_data", "execute_result"):
                data = content["data"]
                texts.append(data.get("text/markdown") or data.get("text/plain", ""))
            elif msg["msg_type"] == "error":
                texts.append(f"{content['ename']}: {content['evalue']}")
                texts.extend(content.get("traceback") or [])

        self.client.execute_interactive(code, timeout=timeout, output_hook=keep)
        return "".join(t if t.endswith("\n") else t + "\n" for t in texts)

    def kill(self) -> None:
        process = self.manager.provisioner.process  # type: ignore[union-attr]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def close(self) -> None:
        self.client.stop_channels()
        if self.manager.is_alive():
            self.manager.shutdown_kernel(now=False)


@contextlib.contextmanager
def kernel_in(cwd: Path, server: ScriptedServer) -> Iterator[Kernel]:
    kernel = Kernel(cwd, server)
    try:
        yield kernel
    finally:
        kernel.close()


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


def steps_script(server: ScriptedServer, steps: int) -> None:
    server.add(*(Reply(tool_calls=[ToolCall("list_variables", {})]) for _ in range(steps)))
    server.add(Reply(text="All steps done."))


# -- killed kernels ---------------------------------------------------------------------------
def test_two_killed_kernels_on_one_unnamed_folder_lose_no_finished_step(
    project_dir: Path,
) -> None:
    """Two kernels of one unnamed folder, each SIGKILLed at a random step of a 50-step run:
    every step each finished is in the store after the next kernel ingests their journals."""
    rng = random.Random(int(time.time()))
    servers = [ScriptedServer().__enter__() for _ in range(2)]
    kernels: list[Kernel] = []
    try:
        kill_at = [rng.randint(5, STEPS - 5) for _ in servers]
        for name, server in zip("AB", servers, strict=True):
            steps_script(server, STEPS)
            kernel = Kernel(project_dir, server)
            kernel.client.execute(f"%%agent --max-steps {STEPS + 1}\nkernel {name}: go")
            kernels.append(kernel)
        seen = []
        for kernel, server, at in zip(kernels, servers, kill_at, strict=True):
            deadline = time.monotonic() + 120
            while len(server.requests) < at and time.monotonic() < deadline:
                time.sleep(0.005)
            kernel.kill()
            seen.append(len(server.requests))
        assert all(n >= at for n, at in zip(seen, kill_at, strict=True)), (seen, kill_at)

        store = ingested_store(project_dir)  # what the next kernel to start does first
        for name, requests in zip("AB", seen, strict=True):
            (session,) = store.query(
                "SELECT session_id FROM events WHERE kind = 'run_started' "
                "AND data ->> 'request' = ?",
                [f"kernel {name}: go"],
            )
            finished = store.query(
                "SELECT count(*), count(DISTINCT step) FROM events "
                "WHERE kind = 'tool_finished' AND session_id = ?",
                [session[0]],
            )[0]
            # Model call n was made only after tool step n-1 finished, and at most the step in
            # flight may be missing; no step is stored twice.
            assert requests - 1 <= finished[0] <= requests, (name, requests, finished)
            assert finished[0] == finished[1]
            roles = [
                r[0]
                for r in store.query(
                    "SELECT role FROM messages WHERE session_id = ? ORDER BY seq", [session[0]]
                )
            ]
            assert roles.count("tool") >= requests - 1
        sessions = store.query("SELECT count(DISTINCT session_id) FROM events")[0][0]
        assert sessions == 2  # one session per kernel: no collision
        assert verify(store).intact
        # Ingesting again (a third kernel) adds nothing.
        before = store.query("SELECT count(*) FROM events")[0][0]
        assert ingested_store(project_dir).query("SELECT count(*) FROM events")[0][0] == before
    finally:
        for kernel in kernels:
            kernel.close()
        for server in servers:
            server.__exit__(None, None, None)


# -- another program's lock -------------------------------------------------------------------
def hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    code = (
        "import duckdb, time\n"
        f"con = duckdb.connect({str(path)!r})\n"
        "print('locked', flush=True)\n"
        f"time.sleep({seconds})\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "locked"
    return process


def test_a_long_lock_at_kernel_start_keeps_runs_and_stores_them_after(
    project_dir: Path, server: ScriptedServer
) -> None:
    database = project_dir / ".agent" / "agent.duckdb"
    database.parent.mkdir()
    holder = hold_lock(database, 60)
    try:
        server.add(Reply(text="First, while locked."), Reply(text="Second, still locked."))
        with kernel_in(project_dir, server) as kernel:
            started = time.monotonic()
            first = kernel.run("%%agent\nfirst")
            assert "First, while locked." in first
            assert time.monotonic() - started < 15  # the run did not wait for the store
            time.sleep(4)  # longer than a short write by another kernel
            second = kernel.run("%%agent\nsecond")
            assert "Second, still locked." in second
            (note,) = lines_with(second, "Note: recording:")
            assert "locked by another program" in note and ".agent/journal/" in note
            assert "Traceback" not in first + second
            holder.kill()
            holder.wait(timeout=10)
            table = kernel.run("_t = %agent sessions\nprint(_t.to_string())")
            assert "first" in table and "Traceback" not in table
            third = kernel.run("%agent store")
            assert "in use" in third
        store = ingested_store(project_dir)
        answers = [r[0] for r in store.query("SELECT answer FROM runs ORDER BY started")]
        assert answers == ["First, while locked.", "Second, still locked."]
        assert verify(store).intact
    finally:
        holder.kill()


# -- a damaged file ---------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["random bytes", "cut short"])
def test_a_damaged_store_is_one_line_and_repair_moves_it_aside(
    project_dir: Path, server: ScriptedServer, damage: str
) -> None:
    database = project_dir / ".agent" / "agent.duckdb"
    if damage == "random bytes":
        database.parent.mkdir()
        database.write_bytes(os.urandom(300_000))
    else:
        server.add(Reply(text="Recorded before."))
        with kernel_in(project_dir, server) as kernel:
            kernel.run("%%agent\nbefore")
        data = database.read_bytes()
        database.write_bytes(data[: len(data) // 3])
    damaged = database.read_bytes()
    server.add(Reply(text="Answered anyway."), Reply(text="After repair."))
    with kernel_in(project_dir, server) as kernel:
        shown = kernel.run("%%agent\nhello")
        assert "Answered anyway." in shown
        (note,) = lines_with(shown, "Note: recording:")
        assert str(database) in note and "%agent store repair" in note
        assert "Traceback" not in shown
        listing = kernel.run("%agent sessions")
        assert "%agent store repair" in listing and "Traceback" not in listing
        assert len(listing.strip().splitlines()) <= 2

        repaired = kernel.run("%agent store repair")
        assert "Moved the damaged store to" in repaired and "EXPORT DATABASE" in repaired
        (aside,) = database.parent.glob("agent.duckdb.damaged-*")
        assert aside.read_bytes() == damaged  # kept as it was, never deleted

        after = kernel.run("%%agent\nagain")
        assert "After repair." in after and "Note: recording:" not in after
    store = ingested_store(project_dir)
    answers = [r[0] for r in store.query("SELECT answer FROM runs ORDER BY started")]
    assert answers == ["Answered anyway.", "After repair."]  # the journal kept the first
    assert verify(store).intact


# -- a full disk, a read-only mount -----------------------------------------------------------
def mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here ({result.stderr.strip() or 'not permitted'})")


def unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path) -> Path:
    """Fill the filesystem holding `folder` until the disk refuses."""
    filler = folder / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as out:
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


def test_a_full_disk_keeps_the_runs_and_stores_them_when_space_returns(
    tmp_path: Path, server: ScriptedServer
) -> None:
    disk = tmp_path / "small-disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk))
    try:
        project = disk / "project"
        project.mkdir()
        server.add(Reply(text="Room to spare."), Reply(text="Disk full."), Reply(text="Freed."))
        with kernel_in(project, server) as kernel:
            assert "Room to spare." in kernel.run("%%agent\nfirst")
            filler = fill(disk)
            full = kernel.run("%%agent\nsecond")
            assert "Disk full." in full and "Traceback" not in full
            (note,) = lines_with(full, "Note: recording:")
            assert "memory" in note or "full" in note  # what was kept, and where
            filler.unlink()
            freed = kernel.run("%%agent\nthird")
            assert "Freed." in freed
            kernel.run("%agent store")
        store = ingested_store(project)
        answers = [r[0] for r in store.query("SELECT answer FROM runs ORDER BY started")]
        assert answers == ["Room to spare.", "Disk full.", "Freed."]
        assert verify(store).intact
    finally:
        unmount(disk)


def test_a_read_only_mount_answers_reads_and_says_what_to_do(
    project_dir: Path, server: ScriptedServer
) -> None:
    server.add(Reply(text="Writable then."), Reply(text="Read-only now."))
    with kernel_in(project_dir, server) as kernel:
        kernel.run("%%agent\nbefore")
    folder = project_dir / ".agent"
    mount("--bind", str(folder), str(folder))
    try:
        mount("-o", "remount,bind,ro", str(folder))
        with kernel_in(project_dir, server) as kernel:
            shown = kernel.run("%%agent\nnow")
            assert "Read-only now." in shown and "Traceback" not in shown
            (note,) = lines_with(shown, "Note: recording:")
            assert "Agent.store_dir" in note and "memory" in note
            listing = kernel.run("_t = %agent sessions\nprint(_t.to_string())")
            assert "before" in listing  # reading still works
    finally:
        unmount(folder)


def test_an_observer_failure_is_one_line_per_run(project_dir: Path, server: ScriptedServer) -> None:
    server.add(Reply(text="Still answered."))
    with kernel_in(project_dir, server) as kernel:
        kernel.run(
            "agent = get_ipython().magics_manager.registry['AgentMagics'].kernel_agent\n"
            "def broken(event):\n    raise ValueError('observer bug')\n"
            "agent.observers.append(broken)"
        )
        shown = kernel.run("%%agent\nhello")
        assert "Still answered." in shown
        (line,) = lines_with(shown, "failed on a")
        assert "broken" in line and "observer bug" in line and "the run goes on" in line
        assert "Traceback" not in shown


def test_a_full_disk_during_memory_use_is_one_line_and_memories_still_read(
    tmp_path: Path, server: ScriptedServer
) -> None:
    disk = tmp_path / "small-disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk))
    try:
        project = disk / "project"
        project.mkdir()
        with kernel_in(project, server) as kernel:
            kept = kernel.run('%agent remember "Revenue is in euros"')
            assert "Traceback" not in kept
            filler = fill(disk)
            full = kernel.run('%agent remember "Fiscal year starts in April"')
            assert "Traceback" not in full and full.strip()
            assert len(full.strip().splitlines()) <= 2, full  # one line that says what to do
            assert "full" in full.lower() or "space" in full.lower(), full
            listed = kernel.run("%agent memory")
            assert "Traceback" not in listed and "euros" in listed
            filler.unlink()
            again = kernel.run('%agent remember "Fiscal year starts in April"')
            assert "Traceback" not in again
            assert "April" in kernel.run("%agent memory")
    finally:
        unmount(disk)
