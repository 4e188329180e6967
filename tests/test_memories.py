"""Project and user memory, and learned files: real DuckDB, real Chroma, the offline embedding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.memory.memories import AgentMemoryError, exact_terms
from agent_kernel.memory.project_files import LearnError
from agent_kernel.testing import Reply, ScriptedServer, ToolCall
from tests.conftest import agent_of


def tool_result(server: ScriptedServer, index: int) -> str:
    return str(server.requests[index].body["messages"][-1]["content"])


def test_a_fact_from_three_sessions_ago_is_recalled(
    shell: InteractiveShell, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic(
        "agent", 'remember "Revenue outliers above 3 sigma are dropped" --kind decision'
    )
    assert "Remembered for this project as mem_" in capsys.readouterr().out
    server.add(Reply(text="a"), Reply(text="b"), Reply(text="c"))
    for request in ("Plot sales by month", "Which products churn?", "Summarise Q2"):
        shell.run_cell(f"%%agent --new\n{request}")
    server.add(
        Reply(tool_calls=[ToolCall("recall", {"query": "what did we decide about outliers?"})]),
        Reply(text="We drop revenue outliers above 3 sigma."),
    )
    shell.run_cell("%%agent --new\nWhat did we decide about outliers last time?")
    found = tool_result(server, 4)
    assert "Revenue outliers above 3 sigma are dropped" in found
    assert "project decision, from user" in found


def test_the_model_remembers_and_a_replaced_memory_is_kept_as_history(
    effects_allowed: InteractiveShell, server: ScriptedServer
) -> None:
    shell = effects_allowed
    server.add(
        Reply(tool_calls=[ToolCall("remember", {"text": "Reports use EUR", "kind": "preference"})]),
        Reply(text="Noted."),
    )
    shell.run_cell("%%agent\nAlways report in EUR.")
    old_id = tool_result(server, 1).split()[2]
    assert old_id.startswith("mem_")
    server.add(
        Reply(
            tool_calls=[
                ToolCall("remember", {"text": "Reports use USD since May", "replaces": old_id})
            ]
        ),
        Reply(text="Updated."),
        Reply(tool_calls=[ToolCall("recall", {"query": "which currency do reports use"})]),
        Reply(text="USD."),
    )
    shell.run_cell("%%agent\nWe switched to USD in May.")
    shell.run_cell("%%agent\nWhich currency?")
    recalled = tool_result(server, 5)
    assert "Reports use USD since May" in recalled and "Reports use EUR" not in recalled
    current = shell.run_line_magic("agent", "memory")
    assert current["text"].tolist() == ["Reports use USD since May"]
    history = shell.run_line_magic("agent", "memory --all").set_index("id")
    assert history.loc[old_id, "superseded_by"] == current["id"].iloc[0]
    assert history.loc[old_id, "source"] == "agent"


def test_forget_takes_a_memory_out_of_recall_but_not_out_of_history(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("agent", 'remember "The fiscal year starts in April"')
    memory_id = capsys.readouterr().out.split()[-1].rstrip(".")
    shell.run_line_magic("agent", f"forget {memory_id}")
    assert "Forgot" in capsys.readouterr().out
    memory = agent_of(shell).require_memory()
    assert memory.recall("when does the fiscal year start?") == []
    history = shell.run_line_magic("agent", "memory --all")
    assert pd.notna(history.set_index("id").loc[memory_id, "forgotten"])
    result = shell.run_cell(f"%agent forget {memory_id}")
    assert isinstance(result.error_in_exec, AgentMemoryError)
    assert "already forgotten" in str(result.error_in_exec)


def test_exact_names_are_found_even_when_meaning_does_not_match(shell: InteractiveShell) -> None:
    shell.run_line_magic("agent", 'remember "cust_ref_7 maps to the billing system account"')
    shell.run_line_magic("agent", 'remember "We present results on Mondays"')
    found = agent_of(shell).require_memory().recall("cust_ref_7", k=1)
    assert [r.text for r in found] == ["cust_ref_7 maps to the billing system account"]
    assert found[0].exact
    assert exact_terms('Where is "net revenue" in sales.csv for Q3, or customer_id?') == [
        "net revenue",
        "sales.csv",
        "Q3",
        "customer_id",
    ]


def test_user_memory_follows_the_person_into_another_project(
    shell: InteractiveShell, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shell.run_line_magic("agent", 'remember "I prefer seaborn for plots" --kind preference --user')
    other = project_dir.parent / "other-project"
    other.mkdir()
    monkeypatch.chdir(other)
    shell.magics_manager.registry["AgentMagics"]._agent = None
    memory = agent_of(shell).require_memory()
    assert memory.paths.project_dir == other.resolve()
    found = memory.recall("which plotting library do I like?")
    assert [(r.text, r.scope) for r in found] == [("I prefer seaborn for plots", "user")]
    assert memory.project_memories.recall("seaborn plots") == []


def test_another_kernel_sees_a_memory_written_after_it_opened_the_index(
    shell: InteractiveShell, project_dir: Path
) -> None:
    memory = agent_of(shell).require_memory()
    shell.run_line_magic("agent", 'remember "Churn means no order in 90 days"')
    assert memory.recall("definition of churn")  # this kernel's index is open now
    code = (
        "from pathlib import Path\n"
        "from agent_kernel.memory.paths import locate\n"
        "from agent_kernel.memory.project import ProjectMemory\n"
        "m = ProjectMemory(locate({}), 'other')\n"
        "m.project_memories.remember('Active customers ordered in the last 30 days')\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=project_dir, check=True)
    found = memory.recall("who counts as an active customer?", k=1)
    assert [r.text for r in found] == ["Active customers ordered in the last 30 days"]


def test_bad_memory_commands_are_one_line(shell: InteractiveShell) -> None:
    for line, message in [
        ("remember", "the following arguments are required: text"),
        ('remember "x" --kind opinion', "argument --kind: invalid choice: 'opinion'"),
        ("forget mem_nope", "no memory 'mem_nope'"),
        ("learn nowhere/", "nothing at 'nowhere/'"),
    ]:
        result = shell.run_cell(f"%agent {line}")
        assert result.error_in_exec is not None, line
        assert message in str(result.error_in_exec), (line, result.error_in_exec)


def write_project(root: Path) -> None:
    import nbformat

    (root / "docs").mkdir()
    (root / "docs" / "churn.md").write_text(
        "# Churn\n\nA customer has churned when they placed no order in 90 days.\n\n"
        "# Regions\n\nThe EMEA region includes the UK since 2024.\n"
    )
    (root / "etl.py").write_text(
        "def load_orders(path):\n    '''Read the orders export.'''\n    return path\n\n\n"
        "def dedupe(frame):\n    return frame.drop_duplicates('order_id')\n"
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## Forecast\nWe forecast weekly demand with ETS."),
        nbformat.v4.new_code_cell("model = ETS(weekly_demand).fit()"),
    ]
    nbformat.write(nb, root / "forecast.ipynb")
    pd.DataFrame({"order_id": [1, 2], "net_amount_eur": [9.5, 12.0]}).to_parquet(
        root / "orders.parquet"
    )
    (root / "skip.bin").write_bytes(b"\0\1")


def test_learn_indexes_files_incrementally_and_search_finds_them(
    shell: InteractiveShell,
    server: ScriptedServer,
    project_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_project(project_dir)
    shell.run_line_magic("agent", "learn .")
    out = capsys.readouterr().out
    assert out.startswith("Learned 4 file(s)")
    shell.run_line_magic("agent", "learn .")
    assert "Learned 0 file(s) (0 chunks), 4 unchanged" in capsys.readouterr().out
    (project_dir / "docs" / "churn.md").write_text(
        "# Churn\n\nChurn is now 60 days without orders.\n"
    )
    (project_dir / "etl.py").unlink()
    shell.run_line_magic("agent", "learn .")
    assert "Learned 1 file(s)" in capsys.readouterr().out

    memory = agent_of(shell).require_memory()
    churn = memory.search_files("when is a customer considered churned?", k=1)
    assert churn[0].source == "file:docs/churn.md" and "60 days" in churn[0].text
    assert churn[0].trust == "untrusted"
    column = memory.search_files("net_amount_eur", k=3)
    assert column[0].source == "file:orders.parquet" and "2 rows" in column[0].text
    assert memory.index.containing("files", "dedupe", 10) == []  # etl.py was deleted
    assert memory.store.query("SELECT path FROM project_files ORDER BY path") == [
        ("docs/churn.md",),
        ("forecast.ipynb",),
        ("orders.parquet",),
    ]
    server.add(
        Reply(tool_calls=[ToolCall("search_project", {"query": "how do we forecast demand"})]),
        Reply(text="With ETS."),
    )
    shell.run_cell("%%agent\nHow do we forecast?")
    result = tool_result(server, 1)
    assert "file:forecast.ipynb" in result and "ETS" in result
    assert "untrusted data" in result


def test_learn_refuses_paths_outside_the_project(
    shell: InteractiveShell, project_dir: Path
) -> None:
    outside = project_dir.parent / "secret.md"
    outside.write_text("# private")
    with pytest.raises(LearnError, match="outside the project folder"):
        agent_of(shell).require_memory().learn(str(outside))
