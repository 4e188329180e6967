"""The verifier: numbers, code said to have run, and things said to have been made."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.runtime.verify import Record, verify
from agent_kernel.testing import Reply, ScriptedModel, ScriptedServer, ToolCall
from tests.conftest import agent_of

TABLE = (
    "4 rows × 2 columns\n| region | revenue |\n| West | 1450.0 |\n| East | 1200.5 |\n"
    "| share | 0.3529 |"
)


def record(**changes: object) -> Record:
    values: dict[str, object] = {
        "sources": [TABLE, "Which region sold most in 2024?"],
        "code_ran": False,
    }
    values.update(changes)
    return Record(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "answer",
    [
        "**West** sold most: 1,450.00, ahead of East (1,200.5).",
        "West leads with 1450 and East follows with about 1,200.",
        "West's share is 35%, or 35.3% exactly.",
        "In 2024, the top 3 regions were West, East and North.",  # the user's year; small counts
        "```sql\nSELECT 999 AS x\n```\nWest: 1,450.",  # numbers in code are not claims
        "1. West: 1,450\n2. East: 1,200.50",  # list numbering is not a claim
    ],
)
@pytest.mark.unit
def test_backed_answers_pass(answer: str) -> None:
    verdict = verify(answer, record())
    assert verdict.ok, verdict.findings
    assert verdict.numbers >= 1 or "2024" in answer


@pytest.mark.parametrize(
    "answer, flagged",
    [
        ("West sold 1,540 in March.", ["1,540"]),
        ("West grew by 12.5% over the year.", ["12.5%"]),
        ("Revenue reached 1.2 million.", ["1.2 million"]),
        ("West: 1,450; North: 980.", ["980"]),
    ],
)
@pytest.mark.unit
def test_unbacked_numbers_are_flagged(answer: str, flagged: list[str]) -> None:
    verdict = verify(answer, record())
    assert [f.text for f in verdict.findings] == flagged
    assert verdict.note().startswith("⚠ Check before you rely on it: not backed by a tool result:")


@pytest.mark.unit
def test_code_claims_need_code_that_ran(tmp_path: Path) -> None:
    claim = "I ran the cleaning code and created `clean_sales`."
    verdict = verify(claim, record(user_ns={}))
    assert [f.kind for f in verdict.findings] == ["code", "missing"]
    assert verify(claim, record(code_ran=True, user_ns={"clean_sales": 1})).ok
    (tmp_path / "report.md").write_text("x")
    assert verify("I saved it to `report.md`.", record(project_dir=tmp_path)).ok
    missing = verify("I wrote the file `out/summary.csv`.", record(project_dir=tmp_path))
    assert missing.findings[0].detail == "`out/summary.csv` does not exist"
    chart = verify("I saved the chart to `charts/revenue.png`.", record(project_dir=tmp_path))
    assert [f.text for f in chart.findings] == ["charts/revenue.png"]
    # A column in backticks is not a claim that something was made.
    assert verify("I plotted `revenue` by `region`.", record(code_ran=True)).ok


def test_a_backed_answer_gets_a_clean_check_in_the_trace(
    shell: InteractiveShell, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["sales"] = __import__("pandas").DataFrame(
        {"region": ["West", "East"], "revenue": [1450.0, 1200.0]}
    )
    server.add(
        Reply(tool_calls=[ToolCall("sql", {"query": "SELECT * FROM sales"})]),
        Reply(text="West sold most: 1,450 against 1,200 for East."),
    )
    shell.run_cell("%%agent\nWho sold most?")
    assert "⚠" not in capsys.readouterr().out
    (check,) = [e for e in agent_of(shell).last_events if e.kind == "verification"]
    assert check.data["ok"] and check.data["numbers"] == 2


def test_an_unbacked_number_gets_a_note_under_the_answer(
    shell: InteractiveShell, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.add(Reply(text="Revenue grew 17% last year."))
    shell.run_cell("%%agent\nHow did revenue grow?")
    out = capsys.readouterr().out
    note = "⚠ Check before you rely on it: not backed by a tool result: 17%."
    assert f"Revenue grew 17% last year.\n{note}" in out


def test_retry_mode_sends_the_finding_back_once(
    shell: InteractiveShell, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_cell('%config Agent.verify = "retry"')
    server.add(
        Reply(text="Revenue grew 17%."), Reply(text="I cannot tell the growth without data.")
    )
    shell.run_cell("%%agent\nHow did revenue grow?")
    check = server.requests[1].body["messages"][-1]
    assert check["role"] == "user"
    assert check["content"].startswith(
        "(Automatic check of your answer) ⚠ Check before you rely on it"
    )
    assert agent_of(shell).last_result.answer == "I cannot tell the growth without data."
    assert len(server.requests) == 2


def test_verify_off_checks_nothing(shell: InteractiveShell, model: ScriptedModel) -> None:
    """(With the in-process model: the shell fixture wires it into the kernel's agent.)"""
    shell.run_cell('%config Agent.verify = "off"')
    model.add(Reply(text="Revenue grew 17%."))
    shell.run_cell("%%agent\nHow did revenue grow?")
    assert agent_of(shell).last_result.answer == "Revenue grew 17%."
    assert model.requests[0].body["messages"][-1]["content"].endswith("How did revenue grow?")
    assert not [e for e in agent_of(shell).last_events if e.kind == "verification"]


def test_the_demo_models_query_answers_pass_the_code_check(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An answer ending "The query I ran:" after a `sql` call is backed: a query is code."""
    from palmerpenguins import load_penguins

    shell.run_cell('%config Agent.model = "demo"')
    shell.user_ns["penguins"] = load_penguins()
    for request in (
        "Which species has the heaviest penguins on average?",
        "Which island has the most penguins?",
    ):
        shell.run_cell(f"%%agent\n{request}")
        agent = agent_of(shell)
        assert "The query I ran:" in agent.last_result.answer
        (check,) = [e for e in agent.last_events if e.kind == "verification"]
        assert check.data["ok"], check.data["findings"]
    assert "it says code ran" not in capsys.readouterr().out


def test_a_failed_query_is_not_code_that_ran(
    shell: InteractiveShell, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.add(
        Reply(tool_calls=[ToolCall("sql", {"query": "SELECT nope FROM missing_table"})]),
        Reply(text="I ran the query and it is done."),
    )
    shell.run_cell("%%agent\nRun it")
    (check,) = [e for e in agent_of(shell).last_events if e.kind == "verification"]
    assert [f["kind"] for f in check.data["findings"]] == ["code"]
