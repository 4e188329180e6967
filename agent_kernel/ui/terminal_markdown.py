"""The answer's Markdown, readable in a terminal, shown block by block as it streams.

Terminal IPython printed the model's raw Markdown (`**West**`, `| a | b |`, `## Summary`).
On a terminal the text is now rendered a block at a time (a paragraph, a list, a table or a
fenced code block, once it is complete): with `rich` when it is installed, else as plain
text without the markup. Output that is not a terminal (a pipe, a log, a test) stays the
Markdown as written, which is what a program reading it wants. Each block is rendered once,
so a long answer costs O(its length).
"""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO

_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1|(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)")
_CODE = re.compile(r"`([^`]+)`")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class MarkdownStream:
    """Writes streamed Markdown to `out`, rendered block by block on a terminal."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.render = is_terminal(self.out)
        self._lines: list[str] = []  # of the block not yet shown
        self._partial = ""  # the line still arriving
        self._in_fence = False

    def feed(self, text: str) -> None:
        if not self.render:
            self.out.write(text)
            self.out.flush()
            return
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)

    def close(self) -> None:
        """The stream ended: show what is left."""
        if self.render:
            if self._partial:
                self._lines.append(self._partial)
            self._partial = ""
            self._show()
            self._in_fence = False

    def _line(self, line: str) -> None:
        if line.lstrip().startswith("```"):
            self._in_fence = not self._in_fence
        self._lines.append(line)
        if not line.strip() and not self._in_fence:
            self._show()

    def _show(self) -> None:
        block = "\n".join(self._lines).strip("\n")
        self._lines = []
        if not block:
            return
        self.out.write(render_block(block) + "\n")
        self.out.flush()


def render_block(block: str) -> str:
    """One block for a terminal: with `rich` when installed, else plain."""
    try:
        from rich.console import Console
        from rich.markdown import Markdown
    except ImportError:
        return plain_block(block)
    console = Console(force_terminal=True, soft_wrap=False)
    with console.capture() as captured:
        console.print(Markdown(block))
    return captured.get().rstrip("\n")


def plain_block(block: str) -> str:
    """Markdown as plain text: headings underlined, bullets, no emphasis or code marks, tables
    as aligned columns, fenced code indented."""
    lines = block.split("\n")
    if len(lines) >= 2 and "|" in lines[0] and _RULE.match(lines[1]):
        return _plain_table(lines)
    out: list[str] = []
    fenced = False
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            out.append("    " + line)
            continue
        heading = _HEADING.match(line)
        if heading:
            text = _inline(heading.group(2))
            out += [text, ("=" if len(heading.group(1)) == 1 else "-") * len(text)]
            continue
        out.append(_BULLET.sub(lambda m: f"{m.group(1)}• ", _inline(line)))
    return "\n".join(out)


def _inline(text: str) -> str:
    text = _CODE.sub(r"\1", text)
    return _EMPHASIS.sub(lambda m: m.group(2) or m.group(3) or "", text)


def _plain_table(lines: list[str]) -> str:
    rows = [
        [_inline(cell.strip()) for cell in line.strip().strip("|").split("|")]
        for i, line in enumerate(lines)
        if i != 1 and line.strip()
    ]
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(len(rows[0]))]
    shown = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]
    return "\n".join([shown[0], "  ".join("-" * w for w in widths), *shown[1:]])
