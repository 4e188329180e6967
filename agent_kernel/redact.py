"""Remove secrets from text before it is shown, stored or sent.

The configured API key is always removed; strings shaped like common keys are removed too,
so a key pasted into a cell or echoed by a server error does not travel further.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from agent_kernel.text import clean_data

REDACTED = "[REDACTED]"
_KEY_SHAPES = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|xox[baprs]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{30,})"
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every given secret and every key-shaped string replaced."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, REDACTED)
    return _KEY_SHAPES.sub(REDACTED, text)


def secret_env_values(key_env: str = "OPENAI_API_KEY") -> list[str]:
    """Values of the key variable and of variables whose names look secret."""
    names = {key_env} | {
        n for n in os.environ if re.search(r"KEY|TOKEN|SECRET|PASSWORD", n, re.IGNORECASE)
    }
    return [os.environ[n] for n in names if os.environ.get(n)]


HOLD_BACK_CHARS = 64  # longer than the longest prefix by which _KEY_SHAPES recognises a key


class StreamRedactor:
    """Redacts a text that arrives in pieces, in time proportional to the pieces.

    Redacting the whole reply again on every piece costs O(n²) over a long answer (a 2 MB
    streamed answer took 27 s to show). Instead only a window is redacted: the tail not yet
    released plus the new piece. A cut is released only where no secret or key-shaped match
    crosses it, and a tail of at least HOLD_BACK_CHARS (or the longest secret) is kept back,
    since a secret can arrive split across pieces.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets = [s for s in secrets if s and len(s) >= 6]
        self.hold = max([HOLD_BACK_CHARS, *(len(s) for s in self.secrets)])
        self._pending = ""  # raw text not yet released

    def feed(self, piece: str) -> str:
        """The redacted text that can be shown now (possibly empty)."""
        self._pending += piece
        if len(self._pending) < 2 * self.hold:
            return ""
        cut = self._safe_cut(len(self._pending) - self.hold)
        released, self._pending = self._pending[:cut], self._pending[cut:]
        return redact(released, self.secrets)

    def flush(self) -> str:
        """The rest, redacted: the stream has ended."""
        released, self._pending = self._pending, ""
        return redact(released, self.secrets)

    def _safe_cut(self, cut: int) -> int:
        """`cut`, moved back to the start of any match that crosses or touches it."""
        text = self._pending
        spans = [(m.start(), m.end()) for m in _KEY_SHAPES.finditer(text)]
        for secret in self.secrets:
            start = text.find(secret)
            while start != -1:
                spans.append((start, start + len(secret)))
                start = text.find(secret, start + 1)
        for start, end in sorted(spans, reverse=True):
            if start < cut <= end:
                cut = start
        return cut


class MessageRedactor:
    """Chat messages with secrets removed, each message redacted once.

    A run sends the same history again on every step; redacting (and copying) every message
    each time made a step cost the whole conversation. A message is redacted the first time
    it is seen and its clean copy reused while it is the same object (messages are not
    changed once appended). The cache holds the message itself, so its id is not reused.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets = [s for s in secrets if s]
        self._clean: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    def messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.message(m) for m in messages]

    def message(self, message: dict[str, Any]) -> dict[str, Any]:
        cached = self._clean.get(id(message))
        if cached is not None and cached[0] is message:
            return cached[1]
        clean = self._redacted(message)
        if message.get("role") != "system":  # rebuilt on every step: kept, it would pile up
            self._clean[id(message)] = (message, clean)
        return clean

    def _redacted(self, message: dict[str, Any]) -> dict[str, Any]:
        """A copy without secrets, as valid UTF-8 (whatever a context section or an older
        record holds, the request can be encoded)."""
        copy = dict(clean_data(message)[0])
        if isinstance(copy.get("content"), str):
            copy["content"] = redact(copy["content"], self.secrets)
        if copy.get("tool_calls"):
            copy["tool_calls"] = [
                {
                    **c,
                    "function": {
                        **c["function"],
                        "arguments": redact(c["function"]["arguments"], self.secrets),
                    },
                }
                for c in copy["tool_calls"]
            ]
        return copy
