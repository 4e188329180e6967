"""Redaction of streamed text: the same result as redacting the whole, at any split."""

from __future__ import annotations

import base64
import random

import pytest

from agent_kernel.redact import StreamRedactor, redact

SECRET = "hunter2-correct-horse"
KEY = "sk-proj-" + "Zx9" * 12

pytestmark = pytest.mark.unit


def streamed(text: str, sizes: list[int], secrets: list[str]) -> str:
    redactor = StreamRedactor(secrets)
    out, at = [], 0
    for size in sizes:
        out.append(redactor.feed(text[at : at + size]))
        at += size
    out.append(redactor.feed(text[at:]))
    out.append(redactor.flush())
    return "".join(out)


def test_any_split_gives_what_redacting_the_whole_gives() -> None:
    rng = random.Random(7)
    text = (
        f"start {KEY} middle {SECRET}, then AKIA{'B' * 16} and ghp_{'c' * 30}. "
        + "plain words " * 40
        + f"{SECRET}{SECRET} end {KEY}; encoded {base64.b64encode(SECRET.encode()).decode()}, "
        + f"hex {SECRET.encode().hex()}, password: Zq8!xv#42Lm and more words after it"
    )
    for _ in range(300):
        sizes = [rng.randint(1, 40) for _ in range(rng.randint(1, 60))]
        shown = streamed(text, sizes, [SECRET])
        assert shown == redact(text, [SECRET])
        assert SECRET not in shown and KEY[:12] not in shown


def test_nothing_of_a_secret_is_released_before_it_is_complete() -> None:
    redactor = StreamRedactor([SECRET])
    released = "".join(redactor.feed(c) for c in ("x" * 200 + SECRET[:-1]))
    assert SECRET[:6] not in released  # held back: it could be the start of the secret
    assert (redactor.feed(SECRET[-1]) + redactor.flush()).endswith("x[REDACTED]")


def test_words_are_shown_as_they_arrive_and_only_a_possible_secret_waits() -> None:
    redactor = StreamRedactor([SECRET])
    assert redactor.feed("The answer is ") == "The answer is "
    assert redactor.feed("t01 ") == "t01 "
    assert redactor.feed("t02") == ""  # an unfinished word could still become a key
    assert redactor.feed(" and your password: hun") == "t02 and your "
    assert redactor.feed("ter2 ") + redactor.feed("ok ") == "password: [REDACTED] ok "
    assert redactor.feed('"hunter2-cor" + ') == '"'  # a split secret's start waits
    assert "hunter" not in redactor.feed('"rect-horse" done ') + redactor.flush()
