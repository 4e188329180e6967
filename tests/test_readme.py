"""The README's 30-second example runs as written, with nothing but what it shows."""

from __future__ import annotations

import re
from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell

from tests.conftest import agent_of

README = Path(__file__).resolve().parent.parent / "README.md"


def thirty_second_example() -> tuple[str, str]:
    section = README.read_text().split("## 30 seconds", 1)[1].split("\n## ", 1)[0]
    setup = re.search(r"```python\n(.*?)```", section, re.S)
    cell = re.search(r"```\n(%%agent\n.*?)```", section, re.S)
    assert setup and cell, "the 30-second example lost its code or its %%agent cell"
    return setup.group(1), cell.group(1)


def test_the_thirty_second_example_is_self_contained(
    shell: InteractiveShell,
) -> None:
    setup, cell = thirty_second_example()
    shell.run_cell('%config Agent.model = "demo"')  # what the README says to do with no key
    assert shell.run_cell(setup).success  # no file it does not create
    assert shell.run_cell(cell).success
    answer = agent_of(shell).last_result.answer
    sales = shell.user_ns["sales"]
    march = sales[sales.month == "Mar"].groupby("region").revenue.sum()
    assert answer.startswith(f"**{march.idxmax()}** comes first")
    assert f"{march.max():g}" in answer and "The query I ran:" in answer


def test_the_readmes_links_to_the_docs_resolve() -> None:
    """The docs site's own links are checked by `mkdocs build --strict`; the README's here."""
    links = re.findall(r"\]\(((?!https?:|#)[^)\s]+)\)", README.read_text())
    assert links, "the README links to no docs page"
    missing = [link for link in links if not (README.parent / link.split("#")[0]).exists()]
    assert not missing, missing
