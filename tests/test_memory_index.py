"""Project memory's index under damage and on a server: real Chroma, the real memory worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from tests.conftest import agent_of

FACT = "Revenue outliers above 3 sigma are dropped"


def fresh_agent(shell: InteractiveShell) -> None:
    """A new kernel agent, as after a restart (its old worker is told to go)."""
    magics = shell.magics_manager.registry["AgentMagics"]
    if magics._agent is not None and magics._agent._memory is not None:
        magics._agent._memory.worker.close()
    magics._agent = None


def remember_and_index(shell: InteractiveShell) -> None:
    shell.run_line_magic("agent", f'remember "{FACT}" --kind decision')
    assert agent_of(shell).require_memory().wait_indexed(120)


def test_a_deleted_chroma_folder_is_rebuilt_from_the_store(
    shell: InteractiveShell, project_dir: Path
) -> None:
    remember_and_index(shell)
    fresh_agent(shell)
    import shutil

    shutil.rmtree(project_dir / ".agent" / "chroma")
    for path in (project_dir / ".agent").glob("recall.sqlite*"):  # only DuckDB is left
        path.unlink()
    found = agent_of(shell).require_memory().recall("what did we decide about outliers?")
    assert [r.text for r in found] == [FACT]
    assert not found[0].exact  # found by meaning: the vectors were rebuilt


def test_a_damaged_chroma_database_is_one_line_and_reindex_repairs_it(
    shell: InteractiveShell,
    server: ScriptedServer,
    project_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    remember_and_index(shell)
    fresh_agent(shell)
    database = project_dir / ".agent" / "chroma" / "chroma.sqlite3"
    database.write_bytes(os.urandom(4096) * 8)
    server.add(
        Reply(tool_calls=[ToolCall("recall", {"query": 'outliers above "3 sigma"'})]),
        Reply(text="We drop them."),
    )
    result = shell.run_cell("%%agent\nWhat about outliers?")
    assert result.error_in_exec is None
    out = capsys.readouterr().out
    assert "We drop them." in out
    assert FACT in str(server.requests[1].body["messages"][-1]["content"])  # exact terms
    notes = [line for line in out.splitlines() if "semantic memory is off" in line]
    assert len(notes) == 1 and "%agent memory --reindex" in notes[0]
    assert "Traceback" not in out
    shell.run_line_magic("agent", "memory --reindex --wait")
    out = capsys.readouterr().out
    assert "the damaged index was moved to" in out and "Everything is indexed." in out
    assert list((project_dir / ".agent").glob("chroma.damaged-*"))  # kept, never deleted
    found = agent_of(shell).require_memory().recall("what did we decide about outliers?")
    assert [r.text for r in found] == [FACT] and not found[0].exact


def test_a_damaged_text_index_is_one_line_and_the_memory_is_kept(
    shell: InteractiveShell, project_dir: Path
) -> None:
    (project_dir / ".agent").mkdir()
    (project_dir / ".agent" / "recall.sqlite").write_bytes(os.urandom(8192))
    result = shell.run_cell(f'%agent remember "{FACT}"')
    error = str(result.error_in_exec)
    assert result.error_in_exec is not None and "\n" not in error
    assert "recall.sqlite" in error
    assert agent_of(shell).require_memory().store.query("SELECT text FROM memories") == [(FACT,)]


# -- a Chroma server shared by two users --------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    """`chroma run` on 127.0.0.1, as a team would start it."""
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    log = (tmp_path / "chroma-server.log").open("w")
    proc = subprocess.Popen(
        [
            str(chroma),
            "run",
            "--path",
            str(tmp_path / "server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma run did not start: " + (tmp_path / "chroma-server.log").read_text())
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def test_two_users_share_memories_through_a_chroma_server(
    shell: InteractiveShell, chroma_server: str, tmp_path: Path
) -> None:
    shell.run_line_magic("agent", 'remember "Churn means no order in 90 days"')  # local
    shell.run_line_magic("config", f'Agent.chroma_url = "{chroma_server}"')
    shell.run_line_magic("config", 'Agent.project_name = "churn-study"')
    fresh_agent(shell)
    remember_and_index(shell)
    assert not (Path(".agent") / "chroma").exists()  # nothing went to the local folder
    shell.run_line_magic("agent", "memory --sync --wait")  # the local memory, copied once
    other = tmp_path / "other-user"
    other.mkdir()
    code = (
        "from agent_kernel.memory.paths import locate\n"
        "from agent_kernel.memory.project import ProjectMemory\n"
        f"m = ProjectMemory(locate({{}}), 'bob', chroma_url={chroma_server!r}, "
        "project_name='churn-study')\n"
        "print([r.text for r in m.recall('what did we decide about outliers?', k=1)])\n"
        "print([r.text for r in m.recall('how is churn defined?', k=1)])\n"
    )
    env = {**os.environ, "JUPYTER_DATA_DIR": str(other / "data")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=other,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    assert out.splitlines() == [repr([FACT]), repr(["Churn means no order in 90 days"])]


def test_a_script_exits_without_waiting_and_the_next_one_indexes_what_it_left(
    project_dir: Path,
) -> None:
    code = (
        "from agent_kernel.memory.paths import locate\n"
        "from agent_kernel.memory.project import ProjectMemory\n"
        "m = ProjectMemory(locate({}), 'ann')\n"
        f"m.project_memories.remember({FACT!r}, 'decision')\n"
        "print(m.index.terms.count_state('pending'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    assert out.strip() == "1"  # it exited with its memory not yet embedded
    from agent_kernel.memory.paths import locate
    from agent_kernel.memory.project import ProjectMemory
    from agent_kernel.memory.terms import PENDING

    later = ProjectMemory(locate({}), "ann")
    try:
        assert later.index.terms.count_state(PENDING) == 1  # kept for the next process
        found = later.recall("what did we decide about outliers?")
        assert [r.text for r in found] == [FACT] and not found[0].exact
        assert later.index.terms.count_state(PENDING) == 0
    finally:
        later.worker.close()
