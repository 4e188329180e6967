"""What in a data tool's result counts as the tool's own words (so the result may be trusted).

A tool result is untrusted unless each of its parts is known to be the tool's own words. Data
reaches the model through structure as well as through cells: a CSV header becomes column
names, a label column becomes the index, a polars Enum's categories appear in its dtype, and a
DuckDB error echoes the value it could not convert. So a data tool checks every such part
here, and anything that is not plainly a short name or a number marks its result untrusted.

A short identifier (letters, digits, `_`, `.`, brackets; no spaces; at most 40 characters) is
accepted as a name: it can label a column but cannot carry a sentence. A value is accepted
when it is a number, a boolean, null, or a date or time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\[\]]{0,39}", re.ASCII)
_VALUE = re.compile(
    r"null|None|True|False|true|false|NaN|-?inf|NaT|"
    r"[-+]?[\d,]*\.?\d*(e[-+]?\d+)?j?|"  # numbers
    r"[\d:. T+-]{1,40}",  # dates, times, durations as written by pandas, numpy and Arrow
    re.ASCII,
)


def is_name(text: str) -> bool:
    """A short identifier-like label (a column name, a dtype, a type name)."""
    return bool(_NAME.fullmatch(text))


def is_value(text: str) -> bool:
    """A number, boolean, null, or date or time as text."""
    return bool(_VALUE.fullmatch(text.strip()))


def all_names(texts: Iterable[str]) -> bool:
    return all(is_name(t) for t in texts)


def all_values(texts: Iterable[str]) -> bool:
    return all(is_value(t) for t in texts)


_TEMPORAL_DTYPE = re.compile(
    r"(datetime64|timedelta64|timestamp|duration|Datetime|Duration|date32|time64)"
    r"\[\w+(, ?(tz=|time_zone=)?[\w/+:-]+)?\]|Datetime\(time_unit='\w+', time_zone=[\w/'+:-]+\)",
    re.ASCII,
)


def is_dtype(text: str) -> bool:
    """A dtype as a library writes it. Dtypes that embed data (a polars Enum's categories,
    struct field names) do not pass, since their text came from the data."""
    return is_name(text) or bool(_TEMPORAL_DTYPE.fullmatch(text))
