"""Bounded outputs of agent code: values, reprs and displayed outputs are cut to size before
they reach the model, the cell or the store.

A `run_python` whose value is a 50 MB string used to put 50 MB into the notebook and build a
100 MB repr for the model before cutting it. Here nothing bigger than the limit is built: a
long string or bytes value is sliced before its repr, containers are shown through `reprlib`
with item limits, any other object's repr runs under the user-code guard and is cut, and a
displayed output whose data is over the cell limit is replaced by a one-line note. These are
plain functions over values and captured outputs so that a sandboxed `run_python` (which
sends what its child produced back through a pipe) can apply the same bounds.
"""

from __future__ import annotations

import reprlib
from typing import Any

from agent_kernel.tools.base import bound_text

# Largest displayed output (all its MIME parts together) put into the notebook cell.
MAX_CELL_OUTPUT_CHARS = 1_000_000


def bounded_repr(value: Any, limit: int) -> str:
    """`repr(value)` of at most about `limit` characters, never building a bigger one for
    strings, bytes and built-in containers; other objects under the user-code guard."""
    from agent_kernel.tools.user_code import safe_repr

    if isinstance(value, (str, bytes, bytearray)) and len(value) > limit:
        head = repr(value[:limit])
        return bound_text(head, limit, f"the value has {len(value):,} characters; return less")[0]
    if type(value) in (list, tuple, dict, set, frozenset):
        shortened = reprlib.Repr()
        shortened.maxlist = shortened.maxtuple = shortened.maxset = shortened.maxdict = 200
        shortened.maxstring = shortened.maxother = max(40, limit // 20)
        shortened.maxlevel = 4
        text = shortened.repr(value)
    else:
        text = safe_repr(value)
    return bound_text(text, limit, "return less")[0]


def bounded_display_data(
    data: dict[str, Any], limit: int = MAX_CELL_OUTPUT_CHARS
) -> dict[str, Any]:
    """A displayed output's MIME bundle as it goes into the cell: unchanged when it fits,
    else a plain-text note saying how big it was and how to see it."""
    size = sum(len(v) if isinstance(v, (str, bytes)) else len(str(v)) for v in data.values())
    if size <= limit:
        return data
    kinds = ", ".join(sorted(data))
    return {
        "text/plain": f"[output not shown: {size:,} characters ({kinds}) is over the "
        f"{limit:,}-character limit for one output; display a smaller part of it]"
    }


def bounded_value_display(value: Any, limit: int = MAX_CELL_OUTPUT_CHARS) -> Any:
    """What the cell shows for the code's value: long strings and bytes are cut first."""
    if isinstance(value, (str, bytes, bytearray)) and len(value) > limit:
        return _Shortened(bounded_repr(value, limit))
    return value


class _Shortened:
    """Displays as the text it was given (a cut repr)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text
