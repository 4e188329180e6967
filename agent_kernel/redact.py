"""Remove secrets from text before it is shown, stored or sent: the one redaction boundary.

What is removed: the configured API key and the values of secret-looking environment
variables (also when reversed, base64-, hex- or URL-encoded, or split by spaces, quotes, `+` or
commas across adjacent pieces), strings shaped like common keys, and high-entropy values next
to key-like names (`api_key = ...`, `password: ...`, `Authorization: Bearer ...`). Everything
that persists or is shown passes here: the store (titles, messages, events, memories), Chroma
documents and metadata, traces, `%agent context`, approval cards and logs.
"""

from __future__ import annotations

import base64
import functools
import math
import os
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterable
from typing import Any

from agent_kernel.text import clean_data

REDACTED = "[REDACTED]"
_KEY_SHAPES = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|xox[baprs]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{30,})"
)
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
# A key-like name, then `=`/`:` (or "Bearer"), then the value.
_NAMED_VALUE = re.compile(
    r"(?i)(?P<name>(?:api|access|secret|private|auth|client)[_\- ]?(?:key|token|secret)"
    r"|token|secret|password|passwd|pwd|passphrase|bearer|authorization)"
    r"(?P<sep>[\"']?\s*(?:[:=]|\bis\b)\s*[\"']?(?:bearer\s+)?|\s+)"
    r"(?P<value>[A-Za-z0-9+/=_\-.~!@#$%^&*]{6,})"
)
_SEPARATORS = re.compile(r"[\s\"'+,]")
MIN_SECRET = 6
MIN_TRANSFORMED = 8  # shorter known secrets are matched as they are, not in transformed form


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every given secret (and its transformed forms), every key-shaped string
    and every high-entropy value next to a key-like name replaced by [REDACTED]."""
    known = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)
    for secret in known:
        for form in transformed_forms(secret):
            text = text.replace(form, REDACTED)
        text = _redact_split(text, secret)
    text = _KEY_SHAPES.sub(REDACTED, text)
    return _NAMED_VALUE.sub(_named_value, text)


def redact_values(fields: dict[str, Any], secrets: Iterable[str | None] = ()) -> dict[str, Any]:
    """`fields` with every string value redacted (record fields, index metadata)."""
    return {k: redact(v, secrets) if isinstance(v, str) else v for k, v in fields.items()}


@functools.lru_cache(maxsize=64)  # called for every text redacted; a run has few secrets
def transformed_forms(secret: str) -> tuple[str, ...]:
    """The secret as it is, reversed, base64 (standard and URL-safe, at every alignment),
    hex and URL-encoded: the forms agent code would use to slip it past an exact match."""
    forms = {secret}
    if len(secret) < MIN_TRANSFORMED:
        return (secret,)
    raw = secret.encode()
    forms |= {secret[::-1], raw.hex(), raw.hex().upper()}
    forms |= {urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = _aligned_core(encode(b"\0" * offset + raw).decode(), offset, len(raw))
            if len(core) >= MIN_TRANSFORMED:
                forms.add(core)
    return tuple(sorted(forms, key=len, reverse=True))


def _aligned_core(encoded: str, offset: int, length: int) -> str:
    """The base64 characters that depend only on the secret's bytes (not on its neighbours)."""
    start = (offset * 4 + 2) // 3
    end_bytes = offset + length
    end = (end_bytes // 3) * 4 + (0 if end_bytes % 3 == 0 else (end_bytes % 3) * 4 // 3)
    return encoded[start:end].rstrip("=")


def _redact_split(text: str, secret: str) -> str:
    """The secret cut into pieces joined by spaces, quotes, `+` or commas ("sk-ab" + "cd...")."""
    if len(secret) < MIN_TRANSFORMED or not _SEPARATORS.search(text):
        return text
    # Almost no text holds the secret: find that out at C speed before mapping positions.
    if secret not in _SEPARATORS.sub("", text):
        return text
    kept = [(i, c) for i, c in enumerate(text) if not _SEPARATORS.match(c)]
    joined = "".join(c for _, c in kept)
    spans = []
    start = joined.find(secret)
    while start != -1:
        spans.append((kept[start][0], kept[start + len(secret) - 1][0] + 1))
        start = joined.find(secret, start + len(secret))
    for begin, end in reversed(spans):
        text = text[:begin] + REDACTED + text[end:]
    return text


def _named_value(match: re.Match[str]) -> str:
    value = match.group("value")
    name = match.group("name").lower()
    # "password: x" hides any x; after a bare space ("password reset") only a random-looking x.
    is_password = name in ("password", "passwd", "pwd", "passphrase") and bool(
        match.group("sep").strip()
    )
    if value == REDACTED or REDACTED in value:
        return match.group(0)
    if is_password or (len(value) >= 12 and entropy(value) >= 3.0):
        return match.group("name") + match.group("sep") + REDACTED
    return match.group(0)


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def secret_env_values(key_env: str = "OPENAI_API_KEY") -> list[str]:
    """Values of the key variable and of variables whose names look secret."""
    names = {key_env} | {n for n in os.environ if _SECRET_NAME.search(n)}
    return [os.environ[n] for n in names if os.environ.get(n)]


# A key-like name and its separator at the end of the text, with the value not yet complete:
# the name must go out together with its value, or the value could not be recognised later.
_NAME_AT_END = re.compile(
    _NAMED_VALUE.pattern.replace("(?P<value>[A-Za-z0-9+/=_\\-.~!@#$%^&*]{6,})", "")
    + r"(?:[A-Za-z0-9+/=_\-.~!@#$%^&*])*$"
)
_TRAILING_TOKEN = re.compile(r"\S*$")


class StreamRedactor:
    """Redacts a text that arrives in pieces, in time proportional to the pieces, and shows
    each piece as soon as nothing in it could still become a secret.

    Redacting the whole reply again on every piece costs O(n²) over a long answer (a 2 MB
    streamed answer took 27 s to show). Instead only the text not yet released is redacted.
    What is held back is only what could still grow into something redact() removes: the
    last unfinished word (a key, a secret or an encoded form of one has no spaces), a key-like
    name with its value so far, and the start of a known secret split by separators. Every
    other word is shown at once: a fixed hold-back of 64 characters kept the last dozen words
    of a streamed reply off the screen.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets = [s for s in secrets if s and len(s) >= 6]
        self.forms = sorted({f for s in self.secrets for f in transformed_forms(s)}, key=len)
        # How far back a split secret (its characters with separators between) can reach.
        self.window = max([64, *(2 * len(s) + 16 for s in self.secrets)])
        self._pending = ""  # raw text not yet released

    def feed(self, piece: str) -> str:
        """The redacted text that can be shown now (possibly empty)."""
        self._pending += piece
        cut = self._safe_cut(len(self._pending) - self._hold())
        if cut <= 0:
            return ""
        released, self._pending = self._pending[:cut], self._pending[cut:]
        return redact(released, self.secrets)

    def flush(self) -> str:
        """The rest, redacted: the stream has ended."""
        released, self._pending = self._pending, ""
        return redact(released, self.secrets)

    def _hold(self) -> int:
        """How many characters at the end could still be the start of something redacted."""
        text = self._pending
        hold = len(_TRAILING_TOKEN.search(text).group(0))  # type: ignore[union-attr]
        named = _NAME_AT_END.search(text[-self.window :])
        if named is not None:
            hold = max(hold, len(text[-self.window :]) - named.start())
        return max(hold, self._split_secret_start(text))

    def _split_secret_start(self, text: str) -> int:
        """Characters from the start of a known secret's beginning, split by separators, that
        ends the text ("sk-ab" + "cd..." arriving in pieces)."""
        tail = text[-self.window :]
        kept = [i for i, c in enumerate(tail) if not _SEPARATORS.match(c)]
        joined = "".join(tail[i] for i in kept)
        longest = 0
        for secret in self.secrets:
            for length in range(min(len(secret) - 1, len(joined)), 0, -1):
                if joined.endswith(secret[:length]):
                    longest = max(longest, len(tail) - kept[len(joined) - length])
                    break
        return longest

    def _safe_cut(self, cut: int) -> int:
        """`cut`, moved back to the start of any match that crosses or touches it."""
        text = self._pending
        spans = [(m.start(), m.end()) for m in _KEY_SHAPES.finditer(text)]
        spans += [(m.start(), m.end()) for m in _NAMED_VALUE.finditer(text)]
        for secret in self.forms:
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
