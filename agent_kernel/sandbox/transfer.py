"""Values crossing from the sandbox into the kernel: pickled in the child, and unpickled in
the kernel with an allow-list, so a hostile child cannot run code in the kernel by sending a
crafted pickle (a plain `pickle.loads` would call whatever the stream names).

Data comes back (numbers, strings, containers, dates, numpy arrays, pandas objects); code
does not (functions, classes, modules, open files): the result says what stayed behind.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from typing import Any

_ALLOWED: set[tuple[str, str]] = {
    ("builtins", name)
    for name in ("complex", "range", "slice", "set", "frozenset", "bytearray", "object")
} | {
    ("copyreg", "_reconstructor"),
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("collections", "Counter"),
    ("datetime", "date"),
    ("datetime", "datetime"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("decimal", "Decimal"),
    ("fractions", "Fraction"),
    ("zoneinfo", "ZoneInfo._unpickle"),
    ("pytz", "_p"),
    ("pytz", "_UTC"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("pyarrow.lib", "_restore_array"),
    ("pyarrow.lib", "py_buffer"),
    ("pyarrow.lib", "type_for_alias"),
    ("IPython.utils.text", "SList"),
}
for _module in ("numpy._core.multiarray", "numpy.core.multiarray"):
    _ALLOWED |= {(_module, "_reconstruct"), (_module, "scalar")}
for _module in ("numpy._core.numeric", "numpy.core.numeric"):
    _ALLOWED.add((_module, "_frombuffer"))
_PANDAS_TYPES = str.split(
    "DataFrame Series Index RangeIndex MultiIndex DatetimeIndex TimedeltaIndex PeriodIndex "
    "IntervalIndex CategoricalIndex Categorical CategoricalDtype Int8Dtype Int16Dtype "
    "Int32Dtype Int64Dtype UInt8Dtype UInt16Dtype UInt32Dtype UInt64Dtype Float32Dtype "
    "Float64Dtype BooleanDtype StringDtype DatetimeTZDtype PeriodDtype IntervalDtype "
    "ArrowDtype SparseDtype NA NaT Timestamp Timedelta Period Interval"
)
_ALLOWED |= {("pandas", name) for name in _PANDAS_TYPES}
_ALLOWED |= {
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("pandas._libs.tslibs.nattype", "_nat_unpickle"),
    ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
    ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.datetimes", "_new_DatetimeIndex"),
    ("pandas.core.indexes.interval", "_new_IntervalIndex"),
    ("pandas.core.indexes.period", "_new_PeriodIndex"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.managers", "SingleBlockManager"),
}
# Whole modules of value classes (date offsets, extension arrays).
_ALLOWED_MODULES = ("pandas._libs.tslibs.offsets", "pandas.arrays", "pandas.core.arrays")


class RefusedValue(pickle.UnpicklingError):
    """The stream names something outside the allow-list (code, or an unknown type)."""


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        allowed = (module, name) in _ALLOWED or (
            module in _ALLOWED_MODULES and not name.startswith("_")
        )
        if not allowed:
            raise RefusedValue(f"{module}.{name} is not data that may enter the kernel")
        found = super().find_class(module, name)
        if module in _ALLOWED_MODULES and not isinstance(found, type):
            raise RefusedValue(f"{module}.{name} is not a value type")
        return found


def loads(data: bytes) -> Any:
    """Unpickle `data` allowing only data types; RefusedValue for anything else."""
    return _DataUnpickler(io.BytesIO(data)).load()


def dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


@dataclass
class Change:
    """One variable the sandboxed code created, changed or deleted."""

    name: str
    kind: str  # new | changed | deleted
    payload: bytes | None = None
    why_not: str = ""  # why the value did not come back, when it did not
    value: Any = None
    type_name: str = ""
    shape: str = ""
    module: str = ""  # a module travels by name; the kernel binds its own copy

    def describe(self) -> str:
        what = f"{self.type_name} {self.shape}".strip()
        text = f"{self.name}: {what} ({self.kind})" if self.kind != "deleted" else self.name
        if self.kind == "deleted":
            text += " (deleted)"
        return text + (f"; not brought back: {self.why_not}" if self.why_not else "")


def describe(value: Any) -> tuple[str, str]:
    """(type name, shape) as the diff shows them: `DataFrame`, `1,000×3`."""
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
        text = "×".join(f"{n:,}" for n in shape)
    elif isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        text = f"len {len(value):,}"
    else:
        text = ""
    return type(value).__name__, text
