"""The settings table in the docs (docs/admin/settings.md), written from the traitlets.

`python -m agent_kernel.settings_doc FILE...` rewrites the table between the
`<!-- settings-table -->` markers in each file; `--check` fails when one is out of date
(CI runs it through tests/test_settings_doc.py), so the table cannot drift from the code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

START = "<!-- settings-table -->"
END = "<!-- /settings-table -->"


def _default(trait: Any) -> str:
    value = trait.default()
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def settings_table() -> str:
    """One row per setting of `Agent` and `Policy`: name, default, the trait's help."""
    from agent_kernel.config import Agent
    from agent_kernel.policy.settings import Policy

    rows = ["| Setting | Default | Meaning |", "|---|---|---|"]
    for cls in (Agent, Policy):
        for name, trait in sorted(cls.class_traits(config=True).items()):
            meaning = " ".join((trait.help or "").split()).replace("|", "\\|")
            rows.append(f"| `{cls.__name__}.{name}` | {_default(trait)} | {meaning} |")
    return "\n".join(rows)


def with_table(text: str) -> str:
    """`text` with the table between its markers replaced by the current one."""
    head, start, rest = text.partition(START)
    if not start:
        raise ValueError(f"no {START!r} marker")
    _, end, tail = rest.partition(END)
    if not end:
        raise ValueError(f"no {END!r} marker after the start marker")
    return f"{head}{START}\n{settings_table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent_kernel.settings_doc")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="fail if a table is out of date")
    options = parser.parse_args(argv)
    stale = []
    for path in options.files:
        text = path.read_text(encoding="utf-8")
        updated = with_table(text)
        if updated != text:
            stale.append(str(path))
            if not options.check:
                path.write_text(updated, encoding="utf-8")
    if stale and options.check:
        print(
            f"settings table out of date in {', '.join(stale)}: run python -m "
            f"agent_kernel.settings_doc {' '.join(stale)}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
