"""Typing `%%agent` cells in terminal IPython: Enter adds a line until the cell is complete."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "cell, status",
    [
        ("%%agent\n", "incomplete"),  # Enter after %%agent adds a line, as for %%time
        ("%%agent --new\n", "incomplete"),
        ("%%agent\nWhich region sold most?\n", "incomplete"),
        ("%%agent\nWhich region sold most?\n\n", "complete"),  # a blank line ends the cell
        ("%agent approve apr_123\n", "complete"),  # a line magic stays one line
        ("%agent help\n", "complete"),
    ],
)
@pytest.mark.unit
def test_agent_cells_complete_like_other_cell_magics(
    shell: InteractiveShell, cell: str, status: str
) -> None:
    assert shell.input_transformer_manager.check_complete(cell)[0] == status


@pytest.mark.unit
def test_the_cell_still_runs_as_an_awaited_call(shell: InteractiveShell) -> None:
    """check_complete skips the transform; running the cell still uses it."""
    transformed = shell.transform_cell("%%agent\nWhich region sold most?\n")
    assert transformed.startswith("await __import__('agent_kernel.magics'")


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[str]:
    """Terminal IPython in a tmux pane, with the offline demo model."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (apt-get install tmux); .ci/run installs it")
    name = f"agent-kernel-{uuid.uuid4().hex[:8]}"
    # Passed on the command line: a running tmux server would not pass our environment on.
    env = ["env", f"PYTHONPATH={ROOT}", "AGENT_KERNEL_MODEL=demo", f"HOME={tmp_path}"]
    ipython = [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor"]
    command = shlex.join([*env, *ipython])
    size = ["-x", "120", "-y", "50"]
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, *size, "-c", str(tmp_path), command], check=True
    )
    try:
        yield name
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], check=False)


def type_line(pane: str, text: str) -> None:
    if text:
        subprocess.run(["tmux", "send-keys", "-t", pane, "-l", text], check=True)
    subprocess.run(["tmux", "send-keys", "-t", pane, "Enter"], check=True)


def screen_after(pane: str, wanted: str, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        screen = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", pane], capture_output=True, text=True
        ).stdout
        if wanted in screen or time.monotonic() > deadline:
            return screen
        time.sleep(0.3)


@pytest.mark.slow
def test_an_agent_cell_typed_key_by_key_in_terminal_ipython(terminal: str) -> None:
    assert "In [1]:" in screen_after(terminal, "In [1]:")
    type_line(terminal, "%load_ext agent_kernel")
    screen_after(terminal, "In [2]:")
    type_line(terminal, "%%agent")
    screen = screen_after(terminal, "...:", timeout=10)
    assert "In [2]: %%agent\n   ...:" in screen, screen  # Enter added a line
    assert "In [3]:" not in screen
    type_line(terminal, "What variables do I have?")
    type_line(terminal, "")
    type_line(terminal, "")  # as for %%time: an empty line ends the cell
    screen = screen_after(terminal, "In [3]:")
    assert "Your namespace has no variables yet" in screen, screen
    assert "answered by the offline demo model" in screen
