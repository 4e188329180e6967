"""Which argument values of a call came from untrusted data the model had in view.

An egress call (an MCP tool, a tool declaring `external`) sends its arguments out of the
kernel; when a card asks about it, the person should see at once that, say, `body` carries a
card number that appeared in a `sql` result. A value counts as from the data when a run of it
(a word of 6+ characters, or 8+ digits ignoring separators) appears in a wrapped block.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

_BLOCK = re.compile(
    r"<<untrusted-data id=([0-9a-f]+) source=\"([^\"]*)\">>\n(.*?)\n<<end-untrusted-data id=\1>>",
    re.DOTALL,
)
_WORD = re.compile(r"[\w@.:/\-]{6,}")
_DIGITS = re.compile(r"\d[\d\s\-.]{6,}\d")


def untrusted_blocks(texts: Iterable[str]) -> list[tuple[str, str]]:
    """(source, text) of every wrapped block in `texts`."""
    return [(m.group(2), m.group(3)) for text in texts for m in _BLOCK.finditer(text)]


def argument_sources(
    arguments: Mapping[str, Any], blocks: list[tuple[str, str]]
) -> list[dict[str, str]]:
    """For each argument with a value found in a block: the argument, the fragment, the source
    (newest block first)."""
    found = []
    for name, value in arguments.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        hit = _first_hit(text, blocks)
        if hit is not None:
            found.append({"argument": name, "fragment": hit[0][:60], "source": hit[1]})
    return found


def _first_hit(text: str, blocks: list[tuple[str, str]]) -> tuple[str, str] | None:
    words = [w for w in _WORD.findall(text) if not w.isdigit()]
    digit_runs = [re.sub(r"\D", "", d) for d in _DIGITS.findall(text)]
    for source, body in reversed(blocks):
        for word in words:
            if word in body:
                return word, source
        if digit_runs:
            body_runs = [re.sub(r"\D", "", d) for d in _DIGITS.findall(body)]
            for run in digit_runs:
                if len(run) >= 8 and any(run in b for b in body_runs):
                    return run, source
    return None
