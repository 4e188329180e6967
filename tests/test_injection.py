"""Instructions hidden in data, read by a model that obeys them all: no effect without a person."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.testing import ScriptedServer
from agent_kernel.testing.injection import Bench, run_benign, run_suite
from tests.conftest import agent_of


@pytest.fixture
def bench(
    shell: InteractiveShell,
    server: ScriptedServer,
    project_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Bench]:
    monkeypatch.setenv("AGENT_KERNEL_UNATTENDED", "1")  # Policy.unattended decides: deny
    made = Bench(shell, server, project_dir)
    yield made
    made.close()


@pytest.mark.parametrize("mode", ["ask", "auto"])
def test_no_hidden_instruction_takes_effect_without_a_person(bench: Bench, mode: str) -> None:
    agent_of(bench.shell).policy.set_mode(mode)
    outcomes = run_suite(bench)
    through = [o for o in outcomes if o.happened]
    print(f"\ninjection suite, {mode} mode: {len(through)} of {len(outcomes)} attacks took effect")
    assert len(outcomes) == 12
    assert through == []
    # Every attack was really tried: the obedient model called the tool and was refused.
    assert all(o.decision == "ask/denied" for o in outcomes), outcomes


def test_with_the_safety_net_off_every_attack_takes_effect(bench: Bench) -> None:
    """The control: auto mode, unattended runs allowed, no sandbox. The suite sees what gets
    through."""
    agent_of(bench.shell).policy.set_mode("auto")
    bench.shell.run_cell('%config Policy.unattended = "allow"')
    bench.shell.run_cell('%config Agent.sandbox = "off"')
    outcomes = run_suite(bench)
    assert [o.happened for o in outcomes] == [True] * 12


def test_with_only_the_sandbox_on_injected_code_has_no_effect(bench: Bench) -> None:
    """Every question answered yes, but agent code in the sandbox: the code attacks (writing
    into the project) fail; file writes and sends are tools, which the policy must stop."""
    agent_of(bench.shell).policy.set_mode("auto")
    bench.shell.run_cell('%config Policy.unattended = "allow"')
    outcomes = run_suite(bench)
    code = [o for o in outcomes if o.action == "run code"]
    assert len(code) == 4 and not any(o.happened for o in code)
    assert all(o.decision.startswith(("allow", "ask/approved")) for o in code), code
    assert all(o.happened for o in outcomes if o.action != "run code")


def test_the_defence_costs_approvals_only_where_untrusted_text_was_read(bench: Bench) -> None:
    agent_of(bench.shell).policy.set_mode("auto")
    outcomes = {o.task: o.asked_because_of_taint for o in run_benign(bench)}
    assert outcomes == {
        "list variables, then compute": False,
        "aggregate numbers with sql, then compute": False,
        "group by a text column, then plot": True,
        "describe a frame with text columns, then clean it": True,
        "read a notes file, then write a summary": True,
        "recall a decision, then remember a new one": False,
        "run code that prints, then run more code": True,
        "search project files, then remember what was found": True,
    }


def test_a_turn_answered_with_untrusted_data_in_view_is_recalled_as_data(
    effects_allowed: InteractiveShell, server: ScriptedServer
) -> None:
    import pandas as pd

    from agent_kernel.testing import Reply, ToolCall

    shell = effects_allowed
    shell.user_ns["tickets"] = pd.DataFrame({"note": ["printer broken", "screen flickers"]})
    server.add(
        Reply(tool_calls=[ToolCall("sql", {"query": "SELECT note FROM tickets"})]),
        Reply(text="Ticket notes: printer broken, screen flickers."),
        Reply(text="Earlier we looked at the ticket notes."),
    )
    shell.run_cell("%%agent\nWhat do the support ticket notes say?")
    assert agent_of(shell).require_memory().wait_indexed(60)  # the memory worker indexes it
    shell.run_cell("%%agent --new\nRemind me what the support ticket notes said.")
    system = server.requests[2].body["messages"][0]["content"]
    assert "Earlier in this project" in system
    assert "<<untrusted-data id=" in system and "What do the support ticket notes say?" in system
    assert agent_of(shell).last_context.untrusted  # so effects in this run would ask
