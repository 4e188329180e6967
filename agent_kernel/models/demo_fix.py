"""The demo model's "fix the last error": KeyError on a misspelled column, NameError on a
misspelled name, from real tool results (last_error, list_variables, describe_dataframe).

It proposes the corrected cell as an edit (edit_cell; propose_cell where no front end can
apply edits) and never runs it. Names are only compared, never followed: what the error
and the tables say is data.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

FIX_WORDS = r"^fix the last error"
_KEY = re.compile(r"^KeyError: (['\"])(.+?)\1$")
_NAME = re.compile(r"^NameError: name '(\w+)' is not defined")


def fix_step(turn: Any, step: type) -> Any:
    """The next step of a fix: read the error, look up the names, propose the edit, answer."""
    error = turn.result_of("last_error")
    if error is None:
        return step("last_error")
    text = error[1]
    title = text.splitlines()[0] if text else ""
    cell = re.search(r"Raised by cell (\d+)", text)
    source = _source(text)
    if not source or (not _KEY.match(title) and not _NAME.match(title)):
        return step(
            answer=f"The last error is `{title}`. The demo model can only fix a misspelled "
            "column (KeyError) or name (NameError); connect a real model for this one."
        )
    fixed = _fixed_source(turn, title, source, step)
    if not isinstance(fixed, tuple):
        return fixed
    new_source, wrong, right = fixed
    return _propose(turn, step, cell[1] if cell else None, new_source, wrong, right)


def _fixed_source(turn: Any, title: str, source: str, step: type) -> Any:
    key = _KEY.match(title)
    listed = turn.result_of("list_variables")
    if listed is None:
        return step("list_variables")
    names = [
        row.split("|")[1].strip() for row in listed[1].splitlines()[3:] if row.startswith("| ")
    ]
    if key is not None:
        wrong = key[2]
        frame = next((n for n in names if re.search(rf"\b{re.escape(n)}\s*\[", source)), None)
        if frame is None:
            return step(answer=f"`{title}`: I could not tell which dataframe the cell indexes.")
        described = turn.result_of("describe_dataframe")
        if described is None:
            return step("describe_dataframe", {"name": frame})
        columns = re.findall(r"^- (\S+): ", described[1], re.M)
        right = _closest(wrong, columns)
        if right is None:
            return step(answer=f"`{frame}` has no column like {wrong!r}: {', '.join(columns)}.")
        quoted = re.compile(rf"(['\"]){re.escape(wrong)}\1")
        return quoted.sub(lambda m: f"{m[1]}{right}{m[1]}", source), wrong, right
    wrong = _NAME.match(title)[1]  # type: ignore[index]
    right = _closest(wrong, names)
    if right is None:
        return step(answer=f"`{title}`, and no variable has a similar name. Define it first.")
    return re.sub(rf"\b{re.escape(wrong)}\b", right, source), wrong, right


def _propose(turn: Any, step: type, cell: str | None, source: str, wrong: str, right: str) -> Any:
    why = f"`{wrong}` is not there; the closest match is `{right}`."
    edited = turn.result_of("edit_cell")
    proposed = turn.result_of("propose_cell")
    if edited is None and cell is not None:
        return step("edit_cell", {"index": int(cell), "source": source})
    if edited is not None and not edited[1].startswith("Error:"):
        return step(answer=f"{why} I corrected cell {cell}; review it and run it.")
    if proposed is None:
        return step("propose_cell", {"code": source})
    return step(answer=f"{why} The corrected cell is proposed below; run it when it looks right.")


def _closest(word: str, candidates: list[str]) -> str | None:
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered:
        return lowered[word.lower()]
    found = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return found[0] if found else None


def _source(text: str) -> str:
    found = re.search(r"\nIts source:\n(.*?)(?:\nTraceback \(|\Z)", text, re.S)
    return found[1] if found else ""
