"""Remove secrets from text before it is shown, stored or sent.

The configured API key is always removed; strings shaped like common keys are removed too,
so a key pasted into a cell or echoed by a server error does not travel further.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

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
