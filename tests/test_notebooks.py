"""The demo notebooks, top to bottom in a real kernel with no model configured: the offline demo
model answers, unattended (approvals decided by the rule), in a copy of notebooks/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from agent_kernel.memory.store import Store

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TRACE_MIME = "application/vnd.agent-kernel.trace+json"
DEMO_LABEL = "answered by the offline demo model"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AGENT_KERNEL_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AGENT_KERNEL_UNATTENDED", "1")
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    copy = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, copy)
    yield copy


def run(folder: Path, name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(folder / name, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    return nb


def shown(cell: Any) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif "data" in out:
            parts.append(out.data.get("text/markdown") or out.data.get("text/plain", ""))
    return "\n".join(parts)


def agent_cells(nb: nbformat.NotebookNode) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%agent")]


def traces(cell: Any) -> list[dict[str, Any]]:
    return [o.data[TRACE_MIME] for o in cell.outputs if TRACE_MIME in o.get("data", {})]


def store(folder: Path) -> Store:
    return Store(folder / ".agent" / "agent.duckdb")


def test_01_quickstart_answers_from_the_sales_data(folder: Path) -> None:
    nb = run(folder, "01-quickstart.ipynb")
    region, product = agent_cells(nb)
    source = next(c.source for c in nb.cells if c.source.startswith("import numpy"))
    scope: dict[str, Any] = {}
    exec(source.rsplit("\n", 1)[0], scope)  # the same seeded data, without displaying it
    sales = scope["sales"]
    march = sales[sales.month == "Mar"].groupby("region").revenue.sum().round(2)
    assert f"**{march.idxmax()}** comes first by total revenue: {march.max():g}" in shown(region)
    units = sales.groupby("product").units.sum()
    assert f"**{units.idxmax()}** comes first by total units: {units.max()}" in shown(product)
    (trace,) = traces(region)
    assert trace["demo"] is True and trace["model"] == "demo" and trace["status"] == "answered"
    assert DEMO_LABEL in shown(product)
    assert store(folder).query("SELECT count(*) FROM runs WHERE status = 'answered'") == [(2,)]


def test_02_data_analysis_asks_before_code_and_answers_aggregates(folder: Path) -> None:
    nb = run(folder, "02-data-analysis.ipynb")
    describe, clean, heaviest, island, plot = agent_cells(nb)
    assert "penguins: pandas.DataFrame, 344 rows × 8 columns" in shown(describe)
    for asked in (clean, plot):  # unattended: the rule denied, and the cell says so
        assert "denied by unattended rule" in shown(asked)
    from palmerpenguins import load_penguins

    penguins = load_penguins()
    mass = penguins.groupby("species").body_mass_g.mean().round(2)
    heaviest_line = f"**{mass.idxmax()}** comes first by average body mass g: {mass.max():g}"
    assert heaviest_line in shown(heaviest)
    top_island = penguins.island.value_counts().index[0]
    assert f"**{top_island}** comes first by number of rows" in shown(island)
    decided = store(folder).query(
        "SELECT data ->> 'tool', data ->> 'by' FROM events WHERE kind = 'approval_decided'"
    )
    assert decided == [("run_python", "unattended rule")] * 2
    audit_cell = next(c for c in nb.cells if c.source.startswith("audit = %agent audit"))
    assert "approval_decided" in shown(audit_cell)


def test_03_memory_recalls_decisions_and_searches_learned_files(folder: Path) -> None:
    nb = run(folder, "03-memory.ipynb")
    remember, recall, docs = agent_cells(nb)
    assert "(project decision)" in shown(remember)
    assert "we drop rows with missing sex before modelling." in shown(recall)
    memories = store(folder).query("SELECT kind, source, text FROM memories ORDER BY created")
    assert [(k, s) for k, s, _ in memories] == [("decision", "agent"), ("decision", "user")]
    learn = next(c for c in nb.cells if c.source == "%agent learn docs")
    assert shown(learn).startswith("Learned 1 file(s)")
    assert "docs/analysis-plan.md" in shown(
        docs
    ) and "Rows with a missing sex are dropped" in shown(docs)


def test_04_safety_contains_the_injection_and_verifies_the_audit(folder: Path) -> None:
    nb = run(folder, "04-safety.ipynb")
    _, plot, obedient = agent_cells(nb)
    result = next(c for c in nb.cells if "The injected code ran" in c.source)
    assert shown(result).strip() == "The injected code ran: False"
    assert not (folder / "pwned.txt").exists()
    decisions = store(folder).query_df(
        "SELECT data ->> 'tool' AS tool, data ->> 'decision' AS decision, "
        "data ->> 'source' AS source FROM events WHERE kind = 'policy_decision' ORDER BY id"
    )
    asked = decisions[(decisions.tool == "run_python")]
    assert list(asked.decision) == ["ask", "ask"] and list(asked.source) == ["taint", "taint"]
    assert "⊘ run_python · denied by unattended rule" in shown(plot)  # asked, then ruled
    # The obedient model did try the injected call; the run was refused, not the model wise.
    assert "⊘ run_python · denied by unattended rule" in shown(obedient)
    verify = next(c for c in nb.cells if c.source == "%agent audit --verify")
    assert shown(verify).startswith("Audit chain intact:")


def test_05_custom_tools_are_tested_against_the_scripted_server(folder: Path) -> None:
    nb = run(folder, "05-custom-tools.ipynb")
    (agent,) = agent_cells(nb)
    assert "West's monthly target is 6,000." in shown(agent)
    (trace,) = traces(agent)
    assert [s["name"] for s in trace["steps"]] == [
        "scripted-model",
        "revenue_target",
        "scripted-model",
        "check",
    ]
    assert "'content': '6000.0'" in shown(nb.cells[-2])
    tools = next(c for c in nb.cells if "%agent tools" in c.source)
    assert "revenue_target" in shown(tools)


def test_notebooks_are_saved_without_outputs() -> None:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        with_outputs = [i for i, c in enumerate(nb.cells) if c.get("outputs")]
        assert with_outputs == [], f"{path.name} has outputs in cells {with_outputs}"


def test_06_fix_and_review_proposes_fixes_and_is_honest_about_images(folder: Path) -> None:
    nb = run(folder, "06-fix-and-review.ipynb")
    fixes = [c for c in nb.cells if c.cell_type == "code" and "agent fix" in c.source]
    column, name = (shown(c) for c in fixes)
    # nbclient has no front end: edit_cell is refused, the fix comes as a proposed cell.
    assert "`body_mas_g` is not there; the closest match is `body_mass_g`" in column
    assert "`pengiuns` is not there; the closest match is `penguins`" in name
    for text in (column, name):
        assert "cannot edit cells here: no notebook front end is connected" in text
        assert DEMO_LABEL in text
    (look,) = [c for c in agent_cells(nb) if "chart above" in c.source]
    assert "I can't see images" in shown(look)
    assert "mean_mass" not in shown(fixes[0])  # proposed, not run
    chart = next(c for c in nb.cells if c.source.startswith("import matplotlib"))
    assert any("image/png" in o.get("data", {}) for o in chart.outputs)
    calls = store(folder).query(
        "SELECT data ->> 'tool' FROM events WHERE kind = 'tool_finished' ORDER BY time"
    )
    assert [c for (c,) in calls if c in ("edit_cell", "propose_cell")] == [
        "edit_cell",
        "propose_cell",
        "edit_cell",
        "propose_cell",
    ]


@pytest.mark.spark
@pytest.mark.dask
@pytest.mark.slow
def test_07_bigger_data_describes_and_aggregates_through_spark_and_dask(folder: Path) -> None:
    from tests.test_engines import DASK_MISSING, SPARK_MISSING

    if SPARK_MISSING or DASK_MISSING:
        pytest.skip(SPARK_MISSING or DASK_MISSING)
    nb = nbformat.read(folder / "07-bigger-data.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    spark_describe, spark_group, dask_describe, dask_group = (shown(c) for c in agent_cells(nb))
    assert "events: pyspark.sql.DataFrame, 3,000,000 rows × 3 columns" in spark_describe
    assert "- amount: double, no nulls; min" in spark_describe and DEMO_LABEL in spark_describe
    assert "comes first by total amount" in spark_group and "FROM events" in spark_group
    assert "readings: dask.dataframe.DataFrame, 241,920 rows × 4 columns" in dask_describe
    assert "comes first by average x" in dask_group and "Dask computed it" in dask_group
    # The group-bys ran in the engines: Spark's jobs in a job group, Dask on its workers.
    steps = [s["name"] for t in traces(agent_cells(nb)[3]) for s in t["steps"]]
    assert "run_python" in steps
