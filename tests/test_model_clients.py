"""One `openai` client per kernel and endpoint (issue 19): cells reuse it; a change of
endpoint, key or timeout builds a new one."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.models import clients
from agent_kernel.testing import Reply, ScriptedServer


def current_client() -> Any:
    live = [entry.client for entry in clients._clients.values()]
    assert len(live) == 1, live
    return live[0]


def test_agent_cells_share_one_client_until_a_setting_changes(
    shell: InteractiveShell, model_env: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_env.add(Reply(text="one"), Reply(text="two"), Reply(text="three"), Reply(text="four"))
    assert shell.run_cell("%%agent\nfirst").success
    first = current_client()
    assert shell.run_cell("%%agent\nsecond").success
    assert current_client() is first
    shell.run_cell("%config Agent.request_timeout = 7.0")
    assert shell.run_cell("%%agent\nthird").success
    rebuilt = current_client()
    assert rebuilt is not first and rebuilt.timeout == 7.0
    monkeypatch.setenv("OPENAI_API_KEY", "sk-another-key-0123456789")
    assert shell.run_cell("%%agent\nfourth").success
    assert current_client() is not rebuilt
    assert current_client().api_key == "sk-another-key-0123456789"
    assert [r.body["messages"][-1]["content"] for r in model_env.requests][-1] == "fourth"


def test_what_a_kernel_learnt_about_a_server_is_kept_per_endpoint(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dialect detected at the first cell is remembered for the endpoint and kernel."""
    with ScriptedServer([Reply(text="a"), Reply(text="b")], dialect="ollama") as other:
        monkeypatch.setenv("OPENAI_BASE_URL", other.base_url)
        assert shell.run_cell("%%agent\none").success
        assert shell.run_cell("%%agent\ntwo").success
        learnt = clients.remembered_dialect(other.base_url, "auto")
    assert learnt is not None and learnt.name == "ollama"
    assert len(other.requests) == 2
