"""Shared fixtures: a real IPython shell with the extension loaded, pointed at a scripted model,
and the test tiers.

Tiers (pytest markers, one per test): `unit` runs in this process with the in-process
`ScriptedModel` (no HTTP, no subprocess, no kernel: enforced below); `wire` talks HTTP to the
`ScriptedServer` through the real `openai` client, or drives the shell (whose runs may start
the memory worker); `kernel` starts real kernels or other processes; `browser` needs
Chromium. `slow` marks a test of a minute or more in any tier. A test file sets its tier with
`pytestmark`, a test in a mixed file with its own marker; an unmarked test is `wire` when it
uses the scripted server or the shell and `kernel` otherwise, so nothing unproven lands in
the unit tier.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.testing import ScriptedModel, ScriptedServer

TEST_KEY = "sk-test-DO-NOT-LEAK-0123456789abcdef"


TIERS = ("unit", "wire", "kernel", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test gets exactly one tier: its own (or its module's) marker, else one judged
    from its fixtures."""
    for item in items:
        tiers = [t for t in TIERS if item.get_closest_marker(t) is not None]
        if len(tiers) > 1:
            raise pytest.UsageError(f"{item.nodeid} is marked {' and '.join(tiers)}: pick one")
        if not tiers:
            fixtures = set(getattr(item, "fixturenames", ()))
            item.add_marker("wire" if fixtures & {"server", "model_env", "shell"} else "kernel")


@pytest.fixture(autouse=True)
def unit_tier_stays_in_process(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit test that opens a connection or starts a process fails, naming what it did."""
    if request.node.get_closest_marker("unit") is None:
        return
    import socket
    import subprocess

    def refuse(what: str) -> Any:
        def refused(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(
                f"a unit test may not {what}; mark it wire or kernel, or use the `model` fixture"
            )

        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("open a network connection"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("start a process"))


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    """The in-process scripted model; a reply left unused fails the test."""
    with ScriptedModel() as m:
        yield m


@pytest.fixture(autouse=True)
def fresh_model_clients() -> Iterator[None]:
    """What a kernel learnt about an endpoint (its client, its dialect) stays in the test
    that learnt it: a later server may get the same port."""
    from agent_kernel.models import clients

    clients.forget_all()
    yield
    clients.forget_all()


@pytest.fixture(autouse=True)
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test works in a fresh project folder, so `.agent/` stores never leak between tests
    (or into the checkout), and user memory goes to a fresh Jupyter data dir."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    return project


@pytest.fixture
def model_env(monkeypatch: pytest.MonkeyPatch, server: ScriptedServer) -> ScriptedServer:
    """Environment as a user would set it: endpoint and key in env vars, nothing in %config."""
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("AGENT_KERNEL_MODEL", "scripted-model")
    return server


@pytest.fixture
def shell(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InteractiveShell]:
    """The process-wide InteractiveShell, reset, with agent_kernel loaded and fresh state.

    Its model: the in-process `model` when the test asks for it; none configured in a unit
    test that does not (the offline demo model still works); else the scripted server."""
    if "model" in request.fixturenames:
        scripted = request.getfixturevalue("model")
        monkeypatch.setattr("agent_kernel.runtime.kernel_agent.openai_model", scripted.factory)
    if "model" in request.fixturenames or request.node.get_closest_marker("unit"):
        for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "AGENT_KERNEL_MODEL"):
            monkeypatch.delenv(name, raising=False)
    else:
        request.getfixturevalue("model_env")
    ip = InteractiveShell.instance()
    ip.reset(new_session=False)
    # %config from an earlier test must not leak into this one.
    ip.config.pop("Agent", None)
    ip.config.pop("Policy", None)
    ip.run_line_magic("load_ext", "agent_kernel")
    magics = ip.magics_manager.registry["AgentMagics"]
    magics._agent = None
    from agent_kernel.magics import configurable_for
    from agent_kernel.policy.settings import Policy

    # Every setting back to its default, whatever an earlier test set (%config or code).
    settings = magics.kernel_agent.settings
    for configurable in (settings, configurable_for(ip, Policy)):
        for name in configurable.trait_names(config=True):
            setattr(configurable, name, configurable.trait_defaults(name))
    settings.max_retries = 2
    settings.request_timeout = 5.0
    magics._agent = None  # a fresh agent for the test, built from these settings
    yield ip
    agent = magics._agent
    if agent is not None and agent._memory is not None:
        agent._memory.worker.close()  # its memory worker process ends with the test
    magics._agent = None


def agent_of(ip: InteractiveShell) -> Any:
    return ip.magics_manager.registry["AgentMagics"].kernel_agent


@pytest.fixture
def effects_allowed(shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> InteractiveShell:
    """An unattended run whose policy lets effects (code, writes) run without a person, as a
    CI job over trusted notebooks would set it. Tests of the permission layer do not use it."""
    monkeypatch.setenv("AGENT_KERNEL_UNATTENDED", "1")
    shell.run_cell('%config Policy.unattended = "allow"')
    return shell


def ingested_store(project: Path) -> Any:
    """The project's store after the journals of kernels that are gone were ingested into it, as
    the next kernel to start would do (a live kernel's journal is its own to ingest)."""
    from agent_kernel.memory.store import Store
    from agent_kernel.memory.writer import StepWriter

    store = Store(project / ".agent" / "agent.duckdb")
    writer = StepWriter(store)
    assert writer.sync(timeout=30), writer.problem()
    writer.close()
    return store
