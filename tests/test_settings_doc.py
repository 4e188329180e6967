"""Settings documented and shown from one source: the traitlets on `Agent` and `Policy`."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.config import Agent
from agent_kernel.policy.settings import Policy
from agent_kernel.settings_doc import END, START, main, settings_table, with_table
from tests.conftest import agent_of

pytestmark = pytest.mark.unit

DOCUMENTED = [Path(__file__).resolve().parent.parent / "docs" / "admin" / "settings.md"]


def test_the_settings_table_in_the_docs_is_current() -> None:
    """Fails when a setting or its help changed and the table was not regenerated:
    `python -m agent_kernel.settings_doc README.md` writes it."""
    assert main(["--check", *map(str, DOCUMENTED)]) == 0


def test_every_setting_has_a_row_with_its_help() -> None:
    table = settings_table()
    for cls in (Agent, Policy):
        for name, trait in cls.class_traits(config=True).items():
            assert f"| `{cls.__name__}.{name}` |" in table
            assert trait.help, f"{cls.__name__}.{name} has no help= text"


def test_a_stale_table_is_found_and_rewritten(tmp_path: Path) -> None:
    page = tmp_path / "settings.md"
    page.write_text(f"# Settings\n{START}\n| old |\n{END}\nafter\n")
    assert main(["--check", str(page)]) == 1
    assert main([str(page)]) == 0
    assert page.read_text() == with_table(page.read_text())
    assert "| `Agent.max_steps` | `12` |" in page.read_text()
    assert page.read_text().endswith(f"{END}\nafter\n")


def test_agent_config_shows_every_setting(shell: InteractiveShell) -> None:
    shown = {row[0] for row in shell.run_line_magic("agent", "config").rows}
    assert shown == set(agent_of(shell).settings.trait_names(config=True))
