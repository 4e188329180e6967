"""run_python in the sandbox: what agent code can no longer reach, and what still comes back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.sandbox import landlock, transfer
from agent_kernel.sandbox.fork import SandboxSettings
from agent_kernel.testing import ScriptedServer
from agent_kernel.testing.script import Reply, ToolCall
from agent_kernel.tools.base import ToolContext, ToolError, ToolResult
from agent_kernel.tools.python import run_python
from tests.conftest import TEST_KEY, agent_of

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the sandbox needs fork")


def sandboxed(
    shell: InteractiveShell, code: str, *, taint: tuple[str, ...] = (), confirm: Any = None
) -> tuple[ToolResult, ToolContext]:
    ctx = ToolContext(
        user_ns=shell.user_ns,
        shell=shell,
        sandbox="fork",
        taint=taint,
        confirm=confirm,
        sandbox_settings=SandboxSettings(writable=()),
    )
    result = asyncio.run(run_python.call({"code": code}, ctx))
    assert isinstance(result, ToolResult)
    return result, ctx


@pytest.fixture
def plain_shell() -> InteractiveShell:
    ip = InteractiveShell.instance()
    ip.reset(new_session=False)
    return ip


def test_values_come_back_and_code_and_secrets_do_not(
    plain_shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_notreal")
    plain_shell.user_ns.update(base=20, df=pd.DataFrame({"a": [1, 2, 3]}), gone=1)
    code = (
        "import os, json\n"
        "print(os.environ.get('OPENAI_API_KEY'), os.environ.get('GITHUB_TOKEN'))\n"
        "total = base * 2 + 2\ndoubled = df.assign(b=df.a * 2)\n"
        "def helper(x):\n    return x\n"
        "del gone\ntotal"
    )
    result, _ = sandboxed(plain_shell, code)
    assert result.ok, result.content
    assert "stdout:\nNone None" in result.content
    assert "result:\n42" in result.content
    ns = plain_shell.user_ns
    assert ns["total"] == 42 and list(ns["doubled"]["b"]) == [2, 4, 6]
    assert "gone" not in ns and ns["json"].__name__ == "json"
    assert "helper" not in ns  # code stays in the sandbox, and the result says so
    assert "helper: function (new); not brought back: code stays" in result.content
    assert "doubled: DataFrame 3×2 (new)" in result.content
    assert os.environ["OPENAI_API_KEY"] == TEST_KEY  # only the child lost it


def test_egress_to_a_listener_in_the_kernels_namespace_fails(
    plain_shell: InteractiveShell,
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.settimeout(3)
    accepted: list[Any] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            accepted.append(listener.accept())

    waiter = threading.Thread(target=accept)
    waiter.start()
    code = (
        "import socket\n"
        f"s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        "s.sendall(b'stolen')"
    )
    result, _ = sandboxed(plain_shell, code)
    waiter.join()
    listener.close()
    assert not result.ok
    assert "Error" in result.content or "error" in result.content
    assert accepted == []  # nothing reached the listener
    # The same code outside the sandbox does connect: the check can fail.
    with socket.create_server(("127.0.0.1", 0)) as probe:
        probe_port = probe.getsockname()[1]
        socket.create_connection(("127.0.0.1", probe_port), timeout=2).close()


def test_writes_only_to_the_scratch_folder(
    plain_shell: InteractiveShell, project_dir: Path
) -> None:
    store = project_dir / ".agent"
    store.mkdir()
    (store / "agent.duckdb").write_text("original")
    code = (
        "import tempfile, os\n"
        "p = os.path.join(tempfile.gettempdir(), 'scratch.txt')\n"
        "open(p, 'w').write('fine')\n"
        "kept = open(p).read()\n"
        f"open({str(store / 'agent.duckdb')!r}, 'w').write('tampered')"
    )
    result, _ = sandboxed(plain_shell, code)
    assert not result.ok and "PermissionError" in result.content
    assert (store / "agent.duckdb").read_text() == "original"
    for target in (project_dir / "report.txt", store / "mcp.json", Path.home() / "x.py"):
        attempt, _ = sandboxed(plain_shell, f"open({str(target)!r}, 'w').write('x')")
        assert "PermissionError" in attempt.content and not target.exists(), target
    # A symlink inside the scratch folder pointing at the store does not help either.
    link = (
        "import os, tempfile\nl = os.path.join(tempfile.gettempdir(), 'l')\n"
        f"os.symlink({str(store)!r}, l)\nopen(os.path.join(l, 'agent.duckdb'), 'w').write('t')"
    )
    attempt, _ = sandboxed(plain_shell, link)
    assert "PermissionError" in attempt.content
    assert (store / "agent.duckdb").read_text() == "original"


def test_inherited_files_and_signals_do_not_reach_the_kernel(
    plain_shell: InteractiveShell, tmp_path: Path
) -> None:
    target = tmp_path / "open-in-kernel.db"
    with open(target, "wb") as handle:
        fd = handle.fileno()
        result, _ = sandboxed(plain_shell, f"import os\nos.write({fd}, b'tampered')")
    assert "Bad file descriptor" in result.content
    assert target.read_bytes() == b""
    if landlock.abi_version() >= 6:
        attempt, _ = sandboxed(plain_shell, "import os, signal\nos.kill(os.getppid(), 0)")
        assert "PermissionError" in attempt.content


def test_untrusted_content_in_view_makes_the_diff_a_question(
    plain_shell: InteractiveShell,
) -> None:
    asked: list[tuple[str, dict[str, Any]]] = []

    async def refuse(tool: str, arguments: dict[str, Any], reason: str) -> bool:
        asked.append((tool, arguments))
        return False

    plain_shell.user_ns["answer"] = 1
    result, ctx = sandboxed(plain_shell, "answer = 2\nextra = [1, 2]", taint=("x",), confirm=refuse)
    assert plain_shell.user_ns["answer"] == 1 and "extra" not in plain_shell.user_ns
    assert asked and asked[0][0] == "promote_variables"
    assert "answer: int (changed)" in asked[0][1]["variables"]
    assert "held: the user did not promote them" in result.content
    assert set(ctx.held) == {"answer", "extra"}

    async def approve(tool: str, arguments: dict[str, Any], reason: str) -> bool:
        return True

    sandboxed(plain_shell, "answer = 3", taint=("x",), confirm=approve)
    assert plain_shell.user_ns["answer"] == 3


def test_a_crafted_pickle_cannot_run_code_in_the_kernel(
    plain_shell: InteractiveShell, tmp_path: Path
) -> None:
    marker = tmp_path / "ran-in-kernel"

    class Evil:
        def __reduce__(self) -> Any:
            return (os.system, (f"touch {marker}",))

    with pytest.raises(transfer.RefusedValue):
        transfer.loads(pickle.dumps(Evil()))
    # Agent code that replaces the child's own report writer is refused the same way.
    code = (
        "import pickle, os\nimport agent_kernel.sandbox.fork as f\n"
        "class E:\n"
        f"    def __reduce__(self):\n        return (os.system, ('touch {marker}',))\n"
        "f.dumps = lambda envelope: pickle.dumps(E())"
    )
    with pytest.raises(ToolError, match=r"could not be read: posix\.system is not data"):
        sandboxed(plain_shell, code)
    assert not marker.exists()


def children() -> set[int]:
    """Live child processes of this test process (zombies excluded)."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            text = (task / "children").read_text()
        except OSError:  # the thread ended after the listing: it has no children to count
            continue
        for pid in text.split():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
                    found.add(int(pid))
    return found


def test_a_stopped_run_leaves_no_child_behind(plain_shell: InteractiveShell) -> None:
    import time

    before = children()
    ctx = ToolContext(user_ns=plain_shell.user_ns, shell=plain_shell, sandbox="fork")

    async def stop_it() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(run_python.call({"code": "while True: pass"}, ctx), 1.0)

    asyncio.run(stop_it())
    deadline = time.monotonic() + 10  # killed at once, reaped in the background
    while children() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children() - before == set()


def test_the_weaker_guard_stops_python_level_writes_and_sockets(tmp_path: Path) -> None:
    """Where Landlock and namespaces are missing, the audit-hook guard is what holds."""
    from agent_kernel.sandbox.confine import install_guard

    (tmp_path / "keep.txt").write_text("keep")
    (tmp_path / "ok").mkdir()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        outcomes = []
        try:
            install_guard([str(tmp_path / "ok")], writes=True, network=True)
            for attempt in (
                lambda: (tmp_path / "outside.txt").write_text("x"),
                lambda: os.remove(tmp_path / "keep.txt"),
                lambda: socket.create_connection(("127.0.0.1", 9), timeout=1),
                lambda: os.system("true"),
            ):
                try:
                    attempt()
                    outcomes.append("allowed")
                except PermissionError:
                    outcomes.append("blocked")
                except OSError:
                    outcomes.append("other")
            (tmp_path / "ok" / "inside.txt").write_text("fine")
            outcomes.append("inside ok")
        finally:
            os.write(write_fd, ",".join(outcomes).encode())
            os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    text = os.read(read_fd, 1000).decode()
    assert text == "blocked,blocked,blocked,blocked,inside ok", text
    assert not (tmp_path / "outside.txt").exists() and (tmp_path / "keep.txt").exists()


LOOSEN = (
    "ka = get_ipython().magics_manager.registry['AgentMagics'].kernel_agent\n"
    "from agent_kernel.policy.rules import Rule\n"
    "outcomes = []\n"
    "for attempt in (lambda: ka.policy.set_mode('auto'),\n"
    "                lambda: ka.policy.add_rule(Rule('*', 'allow')),\n"
    "                lambda: setattr(ka.settings, 'base_url', 'http://attacker.invalid/v1'),\n"
    "                lambda: setattr(ka.policy.settings, 'rules',\n"
    "                                [dict(tool='*', action='allow')])):\n"
    "    try:\n"
    "        attempt()\n"
    "        outcomes.append('done')\n"
    "    except Exception as exc:\n"
    "        outcomes.append(type(exc).__name__)\n"
    "print(outcomes)\n"
)


def assert_safety_net_intact(agent: Any) -> None:
    assert agent.policy.mode == "ask" and agent.policy.session_rules == []
    assert agent.settings.base_url is None
    assert list(agent.policy.settings.rules) == []


def test_agent_code_cannot_loosen_the_kernels_safety_net(
    effects_allowed: InteractiveShell, server: ScriptedServer, project_dir: Path
) -> None:
    shell = effects_allowed
    agent = agent_of(shell)
    shell.run_cell('%config Policy.unattended = "allow"')
    attack = (
        LOOSEN + "import os\nos.environ['AGENT_KERNEL_UNATTENDED'] = '0'\n"
        "import duckdb\n"
        f"duckdb.connect({str(project_dir / '.agent' / 'agent.duckdb')!r}).execute("
        "'DELETE FROM events')"
    )
    server.add(Reply(tool_calls=[ToolCall("run_python", {"code": attack})]), Reply(text="ok"))
    shell.run_cell("%%agent\nTidy up.")
    finished = [e for e in agent.last_events if e.kind == "tool_finished"][-1]
    # Whatever the attempts did to the child's copy (its own run guard refuses most), none
    # reached the kernel.
    assert "stdout:\n['" in finished.data["content"]
    assert_safety_net_intact(agent)
    assert os.environ["AGENT_KERNEL_UNATTENDED"] == "1"
    assert "Error" in finished.data["content"]  # the store could not be written


def test_without_the_sandbox_the_run_guard_refuses_loosening(
    effects_allowed: InteractiveShell, server: ScriptedServer
) -> None:
    shell = effects_allowed
    agent = agent_of(shell)
    shell.run_cell('%config Agent.sandbox = "off"')
    server.add(Reply(tool_calls=[ToolCall("run_python", {"code": LOOSEN})]), Reply(text="ok"))
    shell.run_cell("%%agent\nTidy up.")
    finished = [e for e in agent.last_events if e.kind == "tool_finished"][-1]
    assert (
        "['PolicyLockedError', 'PolicyLockedError', 'TraitError', 'TraitError']"
        in (finished.data["content"])
    )
    assert_safety_net_intact(agent)
    # After the run the user may change them again, and tightening is never refused.
    shell.run_cell("%agent policy mode auto")
    assert agent.policy.mode == "auto"
    agent.policy.session_mode = None
    # What the guard cannot stop without the sandbox: code that writes the fields directly.
    raw = "ka = get_ipython().magics_manager.registry['AgentMagics'].kernel_agent\n"
    raw += "ka.policy.session_mode = 'auto'"
    server.add(Reply(tool_calls=[ToolCall("run_python", {"code": raw})]), Reply(text="ok"))
    shell.run_cell("%%agent\nTidy up.")
    assert agent.policy.mode == "auto"
    agent.policy.session_mode = None


def test_policy_shows_the_sandbox_state(shell: InteractiveShell) -> None:
    from agent_kernel.commands.safety import policy_table

    table = policy_table(agent_of(shell))
    text = repr(table)
    assert "Sandbox: fork" in text and "no network" in text
    shell.run_cell('%config Agent.sandbox = "off"')
    table = policy_table(agent_of(shell))
    text = repr(table)
    assert "Sandbox: off" in text


@pytest.mark.parametrize(
    "path",
    [
        ".agent/mcp.json",
        ".AGENT/mcp.json",
        "sub/../.agent/agent.duckdb",
        "ipython_config.py",
        "IPython_Kernel_Config.py",
        "jupyter_server_config.json",
        "profile_default/startup/00-x.py",
        "agent_kernel_policy.json",
    ],
)
def test_tools_may_not_write_the_agents_own_configuration(
    plain_shell: InteractiveShell, project_dir: Path, path: str
) -> None:
    from agent_kernel.tools.base import ToolError as Refused
    from agent_kernel.tools.files import write_file

    (project_dir / ".agent").mkdir(exist_ok=True)
    (project_dir / "sub").mkdir(exist_ok=True)
    ctx = ToolContext(user_ns={})
    with pytest.raises(Refused, match="may not be written by the agent"):
        asyncio.run(write_file.call({"path": path, "content": "x"}, ctx))
    allowed = ToolContext(user_ns={}, config_writes="allow")
    asyncio.run(write_file.call({"path": "notes/" + Path(path).name, "content": "x"}, allowed))


def test_links_to_configuration_are_refused_too(project_dir: Path) -> None:
    from agent_kernel.tools.base import ToolError as Refused
    from agent_kernel.tools.files import write_file

    (project_dir / ".agent").mkdir()
    (project_dir / ".agent" / "mcp.json").write_text("{}")
    (project_dir / "innocent.txt").symlink_to(project_dir / ".agent" / "mcp.json")
    os.link(project_dir / ".agent" / "mcp.json", project_dir / "also.txt")
    ctx = ToolContext(user_ns={})
    for name in ("innocent.txt", "also.txt"):
        with pytest.raises(Refused, match="may not be written"):
            asyncio.run(write_file.call({"path": name, "content": "x", "overwrite": True}, ctx))
    assert (project_dir / ".agent" / "mcp.json").read_text() == "{}"
    asyncio.run(write_file.call({"path": "report.md", "content": "fine"}, ctx))
    assert (project_dir / "report.md").read_text() == "fine"
