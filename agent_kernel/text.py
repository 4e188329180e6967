"""Text is text: every string that reaches the model, the store or the cell is valid UTF-8.

Python strings may hold lone surrogates (bytes decoded with `surrogateescape`, `"\\ud800"` in
JSON or in user code, half of an emoji sliced out of a UTF-16 buffer). They cannot be encoded
as UTF-8, so one of them in a dataframe cell made the `openai` client, DuckDB and the kernel's
messaging fail on every later call. `clean_text` joins surrogate pairs and replaces what is
left with U+FFFD; `clean_data` does the same through JSON-like data. Both return the same
object when nothing needed replacing, so the common case costs one C-level check per string.
"""

from __future__ import annotations

from typing import TypeVar

REPLACEMENT = "\ufffd"
T = TypeVar("T")


def is_valid(text: str) -> bool:
    """True when `text` encodes as UTF-8 (no lone surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(text: str) -> tuple[str, int]:
    """`text` as valid UTF-8, and how many characters were replaced with U+FFFD."""
    if is_valid(text):
        return text, 0
    # A high and a low surrogate side by side are one character written in UTF-16: join them.
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    fixed = "".join(
        REPLACEMENT if "\ud800" <= ch <= "\udfff" else ch for ch in joined
    )  # lone surrogates survive a surrogatepass round trip: replace them one by one
    return fixed, fixed.count(REPLACEMENT) - text.count(REPLACEMENT)


def valid_text(text: str) -> str:
    """`text` as valid UTF-8 (see clean_text)."""
    return clean_text(text)[0]


def clean_data(value: T) -> tuple[T, int]:
    """JSON-like `value` (dicts, lists, tuples, strings) with every string made valid UTF-8,
    dictionary keys included; returns the same object when nothing was replaced."""
    if isinstance(value, str):
        fixed, count = clean_text(value)
        return fixed, count  # type: ignore[return-value]
    if isinstance(value, dict):
        replaced = 0
        items = []
        for key, item in value.items():
            new_key, a = clean_data(key)
            new_item, b = clean_data(item)
            replaced += a + b
            items.append((new_key, new_item))
        return (dict(items) if replaced else value), replaced  # type: ignore[return-value]
    if isinstance(value, (list, tuple)):
        pairs = [clean_data(item) for item in value]
        replaced = sum(n for _, n in pairs)
        if not replaced:
            return value, 0
        items = [item for item, _ in pairs]
        if isinstance(value, list):
            return items, replaced  # type: ignore[return-value]
        make = getattr(type(value), "_make", type(value))  # named tuples too
        return make(items), replaced
    return value, 0


def replacement_note(count: int) -> str:
    """The line a tool result carries when text in it was not valid UTF-8."""
    chars = "character" if count == 1 else "characters"
    return (
        f"[{count:,} {chars} that were not valid UTF-8 (lone surrogates, as from bytes decoded "
        "with errors='surrogateescape') were replaced with U+FFFD (�)]"
    )
