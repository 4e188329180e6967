"""Check an answer against the run's record before it is shown.

Three kinds of claim are checked: numbers (each must appear, allowing for rounding and
thousands separators, in a tool result or the user's words), code said to have run (some code
must have run without an error in this run), and variables or files said to have been made
(they must exist). The verifier reports; it never rewrites the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_NUMBER = re.compile(
    r"(?<![\w.])(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)(\s?(?:%|k\b|K\b|M\b|"
    r"million\b|billion\b|thousand\b))?"
)
_SCALE = {"k": 1e3, "K": 1e3, "thousand": 1e3, "M": 1e6, "million": 1e6, "billion": 1e9}
_CODE_BLOCK = re.compile(r"```.*?```", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LIST_MARKER = re.compile(r"^\s*\d+[.)]\s", re.M)
_RAN_CLAIM = re.compile(
    r"\b(I ran|I've run|I have run|I executed|the code (ran|runs|produced|printed)|"
    r"running (it|the code) (gives|gave|shows|showed)|I (computed|calculated|plotted|drew))\b",
    re.I,
)
_MADE_CLAIM = re.compile(
    r"\b(?:created|saved|wrote|stored|defined|made)\s+(?:it\s+)?(?:a\s+|the\s+|new\s+)?"
    r"(?:(?:new\s+)?(?:variable|file|dataframe|frame|table|column)\s+)?"
    r"(?:as\s+|to\s+|in\s+)?`([^`]+)`",
    re.I,
)


# "saved the chart to `charts/revenue.png`": any wording, as long as the name looks like a file.
_FILE_CLAIM = re.compile(
    r"\b(?:saved|wrote|written|exported|stored|created)\b[^`\n]{0,40}?`([^`\s]+\.\w{1,5})`", re.I
)


@dataclass(frozen=True)
class Finding:
    kind: str  # number | code | missing
    text: str  # what the answer said
    detail: str  # why it is not backed


@dataclass
class Verdict:
    numbers: int = 0  # numbers checked
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def note(self) -> str:
        """A short note for under the answer, or '' when everything is backed."""
        if self.ok:
            return ""
        parts = []
        numbers = [f.text for f in self.findings if f.kind == "number"]
        if numbers:
            parts.append(f"not backed by a tool result: {', '.join(numbers[:6])}")
        parts += [f.detail for f in self.findings if f.kind != "number"]
        return "⚠ Check before you rely on it: " + "; ".join(parts) + "."

    def as_data(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "numbers": self.numbers,
            "findings": [f.__dict__ for f in self.findings],
            "note": self.note(),
        }


@dataclass
class Record:
    """What the run can show for itself."""

    sources: list[str]  # tool results and the user's own words
    code_ran: bool  # some code ran without an error in this run
    user_ns: Mapping[str, Any] = field(default_factory=dict)
    project_dir: Path | None = None


def verify(answer: str, record: Record) -> Verdict:
    verdict = Verdict()
    prose = _prose(answer)
    known = _numbers_in(record.sources)
    for match in _NUMBER.finditer(prose):
        text = match.group(0).strip()
        value = _value(match)
        if value is None or _trivial(value, match):
            continue
        verdict.numbers += 1
        if not _backed(value, _step(match), known):
            verdict.findings.append(Finding("number", text, "no tool result shows it"))
    claim = _RAN_CLAIM.search(prose)
    if claim is not None and not record.code_ran:
        why = "it says code ran, but none ran without an error in this run"
        verdict.findings.append(Finding("code", claim.group(0), why))
    claimed = dict.fromkeys([*_MADE_CLAIM.findall(answer), *_FILE_CLAIM.findall(answer)])
    for name in claimed:
        if not _exists(name.strip(), record):
            verdict.findings.append(Finding("missing", name, f"`{name}` does not exist"))
    return verdict


def _prose(answer: str) -> str:
    """The answer without code (queries and code are not claims) and list numbering."""
    text = _CODE_BLOCK.sub(" ", answer)
    text = _INLINE_CODE.sub(" ", text)
    return _LIST_MARKER.sub(" ", text)


def _value(match: re.Match[str]) -> float | None:
    try:
        value = float(match.group(1).replace(",", ""))
    except ValueError:
        return None
    suffix = (match.group(2) or "").strip()
    return value * _SCALE.get(suffix, 1.0)


def _trivial(value: float, match: re.Match[str]) -> bool:
    """Small whole numbers in prose ("the top 3", "2 columns") say little; they are skipped."""
    return value.is_integer() and abs(value) <= 10 and not match.group(2)


def _step(match: re.Match[str]) -> float:
    """How finely the answer states the number: 1,450 to 1, 12.5% to 0.1, 1.2 million to 1e5."""
    text = match.group(1)
    decimals = len(text.split(".", 1)[1]) if "." in text else 0
    return 10.0**-decimals * _SCALE.get((match.group(2) or "").strip(), 1.0)


def _numbers_in(sources: Iterable[str]) -> list[float]:
    values = []
    for source in sources:
        for match in _NUMBER.finditer(source):
            value = _value(match)
            if value is not None:
                values.append(value)
                if match.group(2) and match.group(2).strip() == "%":
                    values.append(value / 100)
    return values


def _backed(value: float, step: float, known: list[float]) -> bool:
    """Equal to a known number as the answer rounded it (to `step`), directly or as a
    percentage of a fraction (35% for 0.3529)."""
    for candidate in known:
        for scaled in (candidate, candidate * 100):
            if abs(value - scaled) <= step / 2 + 1e-9 * max(1.0, abs(scaled)):
                return True
    return False


def _exists(name: str, record: Record) -> bool:
    if "/" in name or re.search(r"\.\w{1,5}$", name):
        base = record.project_dir or Path.cwd()
        return (base / name).exists()
    if name.isidentifier():
        return name in record.user_ns
    return True  # not a name we can check (an expression, a phrase)
