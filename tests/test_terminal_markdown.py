"""The answer's Markdown in a terminal: rendered a block at a time (rich, or plain text),
and left as written when the output is not a terminal."""

from __future__ import annotations

import io
import re

import pytest

from agent_kernel.events import Event
from agent_kernel.ui.terminal_markdown import MarkdownStream, plain_block
from agent_kernel.ui.text import TextRenderer

pytestmark = pytest.mark.unit

ANSWER = (
    "## Revenue by region\n\n**West** comes first, then `East`:\n\n"
    "| region | revenue |\n|---|---:|\n| West | 120 |\n| East | 80 |\n\n"
    "- checked with *sql*\n- two rows\n\n```sql\nSELECT region, sum(revenue) FROM sales\n```\n"
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def streamed(out: io.StringIO, text: str, size: int = 3) -> str:
    stream = MarkdownStream(out)
    for i in range(0, len(text), size):
        stream.feed(text[i : i + size])
    stream.close()
    return out.getvalue()


def test_a_terminal_gets_the_answer_rendered_without_its_markup() -> None:
    shown = re.sub(r"\x1b\[[0-9;]*m", "", streamed(Terminal(), ANSWER))  # colours aside
    assert "West" in shown and "SELECT region, sum(revenue) FROM sales" in shown
    for markup in ("**", "## ", "|---", "```", "`East`"):
        assert markup not in shown


def test_without_rich_the_markup_becomes_plain_text() -> None:
    assert plain_block("## Revenue by region") == "Revenue by region\n-----------------"
    assert plain_block("**West** comes first, then `East`:") == "West comes first, then East:"
    assert plain_block("- checked with *sql*\n- two rows") == "• checked with sql\n• two rows"
    table = plain_block("| region | revenue |\n|---|---:|\n| West | 120 |")
    assert table.splitlines() == ["region  revenue", "------  -------", "West    120"]
    assert plain_block("```sql\nSELECT 1\n```") == "    SELECT 1"


def test_output_that_is_not_a_terminal_keeps_the_markdown_as_written() -> None:
    assert streamed(io.StringIO(), ANSWER) == ANSWER


def test_the_text_renderer_renders_the_answer_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = Terminal()
    monkeypatch.setattr("sys.stdout", out)
    renderer = TextRenderer("m")
    renderer(Event("model_started", "r", 1, {}))
    for i in range(0, len(ANSWER), 7):
        renderer(Event("text_delta", "r", 1, {"text": ANSWER[i : i + 7]}))
    renderer(Event("model_finished", "r", 1, {"text": ANSWER}))
    assert "West" in out.getvalue() and "**" not in out.getvalue()
