"""What the model is sent: sections, each with a priority, a share of the budget and a trim rule.

  instructions   the system prompt                         never trimmed
  request        this turn: the request and its steps      older tool results shortened
  memories       recalled project and user memories        fewest first dropped, ≤15%
  recent turns   the last 6 turns                          tool results but the last shortened,
                                                           then the oldest dropped, ≤40%
  earlier turns  older turns relevant to the request       summarised, lowest first dropped, ≤15%
  variables      the user's variables, one line each       cut to fit, ≤10%
  notebook       code of the cells above the running one,   farthest cells dropped, ≤ its own
                 outputs outlined, the last error's type    budget (Agent.notebook_context_tokens)

Tokens are estimated (characters / 4) and the estimate is corrected by the prompt tokens the
server reports, so the budget holds for whatever tokenizer the model uses.

A run's history only grows, and each message is the same object from one step to the next,
so what is read from a message (its size, the untrusted sources it carries, its shortened
form) is worked out once and kept (`MessageFacts`): a step costs what changed, not the whole
conversation again (issue 19: 4.4x growth over 1000 steps before).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_kernel.policy import spotlight
from agent_kernel.runtime.conversation import Message

SYSTEM_PROMPT = """\
You are a data analysis agent working inside the user's live Jupyter kernel.
Look before you answer: use list_variables to see what exists, describe_dataframe to learn a \
table's columns, and sql (DuckDB, tables are the user's dataframe variable names) to \
aggregate. Use run_python for computations or plots the other tools cannot do; variables it \
creates stay in the user's kernel. Use propose_cell to hand the user code to run themselves.
notebook_cells reads the notebook's cells and outputs, last_error the latest traceback, and \
edit_cell changes an existing cell after the user approves a diff (never re-run it yourself).
Use recall to look up what was decided or learned in earlier sessions, remember to keep a \
decision or fact the user will want later, and search_project for the project's files.
Every number in your answer must come from a tool result in this conversation; never guess \
data. If something fails, read the error, fix the call and try again.
Answer in concise Markdown. When the user asks how you got a result, show the query or code \
you ran in a fenced code block.
"""

DEFAULT_BUDGET = 12_000
SHORT_RESULT_CHARS = 300
KEEP_WHOLE_RESULTS = 4  # of the current turn, the latest this many tool results stay whole
SUMMARY_CHARS = 400
# Enough for follow-ups ("and April?"); older turns come back through recall when relevant.
RECENT_TURNS = 6


class TokenCounter:
    """Estimated tokens: characters / 4, scaled by how the server's counts compared so far."""

    def __init__(self) -> None:
        self.scale = 1.0
        self.samples = 0

    def text(self, text: str) -> int:
        return math.ceil(len(text) / 4 * self.scale)

    def message(self, message: Message) -> int:
        return self.sized(message_chars(message))

    def sized(self, chars: int) -> int:
        """Tokens of a message of `chars` characters (4: the role and framing of a message)."""
        return 4 + math.ceil(chars / 4 * self.scale)

    def messages(self, messages: Sequence[Message]) -> int:
        return sum(self.message(m) for m in messages)

    def calibrate(self, estimated: int, reported: int) -> None:
        """Move the scale toward what the server counted (an average over recent calls)."""
        if estimated <= 0 or reported <= 0:
            return
        observed = self.scale * reported / estimated
        weight = 1 / (self.samples + 1) if self.samples < 4 else 0.2
        self.scale += (observed - self.scale) * weight
        self.samples += 1


def message_chars(message: Message) -> int:
    size = len(message.get("content") or "")
    for call in message.get("tool_calls") or []:
        size += len(call["function"]["name"]) + len(call["function"]["arguments"]) + 12
    return size


class MessageFacts:
    """What the builder reads from each message, read once per message object.

    Keyed by identity, holding the message itself so that an id is never reused while it is
    cached (messages are not changed once appended; a changed message is a new object). The
    system message is rebuilt on every step, so it is never kept."""

    def __init__(self) -> None:
        self._facts: dict[int, dict[str, Any]] = {}

    def _get(self, message: Message) -> dict[str, Any]:
        facts = self._facts.get(id(message))
        if facts is None or facts["message"] is not message:
            facts = {"message": message}
            if message.get("role") != "system":
                self._facts[id(message)] = facts
        return facts

    def chars(self, message: Message) -> int:
        facts = self._get(message)
        if "chars" not in facts:
            facts["chars"] = message_chars(message)
        return int(facts["chars"])

    def sources(self, message: Message) -> list[str]:
        facts = self._get(message)
        if "sources" not in facts:
            content = str(message.get("content") or "")
            facts["sources"] = spotlight.wrapped_sources(content) if content else []
        return list(facts["sources"])

    def shortened(self, message: Message) -> Message:
        facts = self._get(message)
        if "short" not in facts:
            facts["short"] = _shortened(message)
        short: Message = facts["short"]
        return short


@dataclass
class Section:
    """One part of the context as sent: its messages or text, size and what was trimmed."""

    name: str
    tokens: int = 0
    items: int = 0
    dropped: int = 0
    shortened: int = 0
    text: str = ""
    messages: list[Message] = field(default_factory=list)

    def note(self) -> str:
        parts = []
        if self.shortened:
            parts.append(f"{self.shortened} shortened")
        if self.dropped:
            parts.append(f"{self.dropped} dropped")
        return ", ".join(parts)


@dataclass
class BuiltContext:
    """The exact messages of one model call and the sections they came from."""

    messages: list[Message]
    sections: list[Section]
    tokens: int
    budget: int
    tool_tokens: int
    untrusted: list[str] = field(default_factory=list)  # sources of untrusted text sent

    def summary(self) -> dict[str, Any]:
        """Small enough for an event: per section, its tokens and what was trimmed."""
        return {
            "tokens": self.tokens,
            "budget": self.budget,
            "tools": self.tool_tokens,
            "untrusted": self.untrusted[:20],
            "sections": [
                {"name": s.name, "tokens": s.tokens, "items": s.items, "trimmed": s.note()}
                for s in self.sections
            ],
        }


@dataclass(frozen=True)
class Remembered:
    """A recalled memory or earlier turn, as the context shows it."""

    key: str
    text: str
    label: str  # "project decision", "earlier turn (Mar 3)", ...
    trusted: bool = True


Recaller = Callable[[str], Sequence[Remembered]]


class ContextBuilder:
    """Builds each model call's messages within `budget` tokens; one builder per run."""

    def __init__(
        self,
        *,
        instructions: str = "",
        budget: int = DEFAULT_BUDGET,
        counter: TokenCounter | None = None,
        memories: Recaller | None = None,
        earlier_turns: Recaller | None = None,
        variables: Callable[[], list[str]] | None = None,
        recent_turns: int | None = None,
        task: Callable[[], str | None] | None = None,
        notebook: Callable[[Callable[[str], bool]], str] | None = None,
        notebook_tokens: int = 1500,
    ) -> None:
        """`recent_turns` caps the recent window; the default keeps as many as the budget
        allows, and only when older turns can be recalled (`earlier_turns`) is it
        RECENT_TURNS, since dropped turns then come back when they matter."""
        extra = f"\n\n{instructions.strip()}" if instructions.strip() else ""
        self.system = SYSTEM_PROMPT + spotlight.INSTRUCTION + extra
        self.budget = budget
        self.counter = counter or TokenCounter()
        self._memories = memories
        self._earlier_turns = earlier_turns
        self._variables = variables
        self._task = task
        self._notebook = notebook
        self.notebook_tokens = notebook_tokens
        if recent_turns is None and earlier_turns is not None:
            recent_turns = RECENT_TURNS
        self.recent_turns = recent_turns
        self._recalled: dict[str, list[Remembered]] = {}
        self._facts = MessageFacts()
        self.last: BuiltContext | None = None

    def _count(self, messages: Sequence[Message]) -> int:
        return sum(self.counter.sized(self._facts.chars(m)) for m in messages)

    def build(
        self, history: list[Message], tools: list[dict[str, Any]] | None = None
    ) -> BuiltContext:
        turns = split_turns(history)
        current, earlier = (turns[-1], turns[:-1]) if turns else ([], [])
        request = next((m.get("content") or "" for m in current if m.get("role") == "user"), "")
        tool_tokens = self.counter.text(json.dumps(tools)) if tools else 0
        room = self.budget - tool_tokens - self.counter.text(self.system) - 8

        now = self._current_turn(current, room)
        room -= now.tokens
        task = self._task_section()
        room -= task.tokens
        notebook = self._notebook_section(room)
        room -= notebook.tokens
        memories = self._recall_section("memories", request, self._memories, room, 0.15)
        room -= memories.tokens
        recent = self._recent_turns(earlier, min(room, int(self.budget * 0.4)))
        room -= recent.tokens
        in_window = (
            {_turn_key(t) for t in earlier[len(earlier) - recent.items :]}
            if recent.items
            else set()
        )
        older = self._recall_section(
            "earlier turns", request, self._earlier_turns, room, 0.15, skip=in_window
        )
        room -= older.tokens
        variables = self._variables_section(room)

        system = self.system
        for section in (task, notebook, memories, older, variables):
            if section.text:
                system += f"\n\n{section.text}"
        instructions = Section("instructions", self.counter.text(self.system), 1, text=self.system)
        messages = [{"role": "system", "content": system}, *recent.messages, *now.messages]
        sections = [instructions, task, notebook, memories, older, variables, recent, now]
        built = BuiltContext(
            messages=messages,
            sections=sections,
            tokens=self._count(messages) + tool_tokens,
            budget=self.budget,
            tool_tokens=tool_tokens,
            # Most relevant first: what this run's messages carried, newest first; then the
            # context sections (recalled turns, memories, variables); then tool schemas.
            untrusted=list(
                dict.fromkeys(
                    [
                        *(s for m in reversed(messages[1:]) for s in self._facts.sources(m)),
                        *spotlight.wrapped_sources(system),
                        *_schema_sources(tools or []),
                    ]
                )
            ),
        )
        self.last = built
        return built

    # -- sections ---------------------------------------------------------------------------
    def _current_turn(self, turn: list[Message], room: int) -> Section:
        """This turn whole if it fits; otherwise all but its latest tool results shortened."""
        section = Section("request", messages=list(turn), items=len(turn))
        section.tokens = self._count(turn)
        if section.tokens > room:
            results = [i for i, m in enumerate(turn) if m.get("role") == "tool"]
            for i in results[: max(0, len(results) - KEEP_WHOLE_RESULTS)]:
                if len(turn[i].get("content") or "") > SHORT_RESULT_CHARS:
                    section.messages[i] = self._facts.shortened(turn[i])
                    section.shortened += 1
            section.tokens = self._count(section.messages)
        return section

    def _recent_turns(self, earlier: list[list[Message]], room: int) -> Section:
        """Whole turns, newest first, while they fit; only the last keeps long tool results."""
        section = Section("recent turns")
        kept: list[list[Message]] = []
        for age, turn in enumerate(reversed(earlier)):
            if self.recent_turns is not None and age == self.recent_turns:
                section.dropped = len(earlier) - len(kept)
                break
            messages = turn if age == 0 else [self._facts.shortened(m) for m in turn]
            section.shortened += sum(1 for a, b in zip(turn, messages, strict=True) if a is not b)
            size = self._count(messages)
            if section.tokens + size > room:
                section.dropped = len(earlier) - len(kept)
                break
            kept.insert(0, messages)
            section.tokens += size
        section.items = len(kept)
        section.messages = [m for turn in kept for m in turn]
        return section

    def _recall_section(
        self,
        name: str,
        request: str,
        recaller: Recaller | None,
        room: int,
        share: float,
        skip: set[str] | None = None,
    ) -> Section:
        section = Section(name)
        if recaller is None or not request:
            return section
        if name not in self._recalled:  # one search per run: the request does not change
            self._recalled[name] = list(recaller(request))
        limit = min(room, int(self.budget * share))
        title = {
            "memories": "Memories from earlier sessions (recalled for this request):",
            "earlier turns": "Earlier in this project (turns recalled for this request):",
        }[name]
        lines = [
            f"- [{item.label}] "
            + (item.text if item.trusted else spotlight.wrap(item.text, item.label))
            for item in self._recalled[name]
            if not (skip and item.key in skip)
        ]
        return self._fill(section, title, lines, limit, best_first=True)

    def _fill(
        self, section: Section, title: str, lines: list[str], limit: int, *, best_first: bool
    ) -> Section:
        """Lines under `title` while they fit in `limit` tokens: ranked lines skip what does
        not fit and try the next; ordered ones stop at the first that does not."""
        kept = [title]
        for line in lines:
            if self.counter.text("\n".join([*kept, line])) > limit:
                if best_first:
                    section.dropped += 1
                    continue
                section.dropped = len(lines) - section.items
                break
            kept.append(line)
            section.items += 1
        if section.items:
            section.text = "\n".join(kept)
            section.tokens = self.counter.text(section.text)
        return section

    def _task_section(self) -> Section:
        """The plan in progress, with each step's status: small, and never trimmed."""
        section = Section("task")
        plan = self._task() if self._task is not None else None
        if plan:
            section.text = (
                "A task is in progress. Work on its first open step and mark steps with "
                f"update_plan as you go:\n{plan}"
            )
            section.tokens, section.items = self.counter.text(section.text), 1
        return section

    def _notebook_section(self, room: int) -> Section:
        """The cells around the request, filled by the notebook's own trim rule."""
        section = Section("notebook")
        if self._notebook is None:
            return section
        limit = min(room, self.notebook_tokens, int(self.budget * 0.15))
        text = self._notebook(lambda candidate: self.counter.text(candidate) <= limit)
        if text and self.counter.text(text) <= limit:
            section.text = text
            section.tokens = self.counter.text(text)
            section.items = text.count("[cell ")
        return section

    def _variables_section(self, room: int) -> Section:
        section = Section("variables")
        if self._variables is None:
            return section
        limit = min(room, int(self.budget * 0.10))
        title = "The user's variables right now (call list_variables for details):"
        return self._fill(section, title, self._variables(), limit, best_first=False)


def split_turns(history: list[Message]) -> list[list[Message]]:
    """Messages grouped into turns, each starting at a user message."""
    turns: list[list[Message]] = []
    for message in history:
        if message.get("role") == "user" or not turns:
            turns.append([])
        turns[-1].append(message)
    return turns


def turn_text(request: str, answer: str) -> str:
    """How a finished turn is indexed and shown when recalled: request and answer, short."""
    return (
        f"User asked: {_cut(request, SUMMARY_CHARS)}\nAgent answered: {_cut(answer, SUMMARY_CHARS)}"
    )


def _turn_key(turn: list[Message]) -> str:
    request = next((m.get("content") or "" for m in turn if m.get("role") == "user"), "")
    answer = next(
        (m.get("content") or "" for m in reversed(turn) if m.get("role") == "assistant"), ""
    )
    return turn_text(request, answer)


def _shortened(message: Message) -> Message:
    content = message.get("content") or ""
    if message.get("role") != "tool" or len(content) <= SHORT_RESULT_CHARS:
        return message
    return {
        **message,
        "content": content[:SHORT_RESULT_CHARS]
        + f"\n[… {len(content) - SHORT_RESULT_CHARS:,} characters shortened; call the tool again]",
    }


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _schema_sources(schemas: list[dict[str, Any]]) -> list[str]:
    """Untrusted text in the tool schemas offered (what MCP servers say about their tools)."""
    if not schemas:
        return []
    text = json.dumps(schemas, ensure_ascii=False).replace('\\"', '"')
    return list(dict.fromkeys(spotlight.wrapped_sources(text)))
