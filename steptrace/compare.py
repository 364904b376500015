"""Comparing events: exactly (bit for bit) or within a tolerance, naming the first
field that differs.

Exact comparison is bitwise: ``-0.0`` differs from ``0.0`` and NaN equals NaN; an int
where the other side has a float (an option written ``0`` or ``0.0``) is compared as
that float.
With a tolerance, two numbers agree when ``|a - b| <= atol + rtol * |b|`` (numpy's
``isclose``), NaN agrees only with NaN and an infinity only with itself.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from steptrace.defaults import BLAS_ATOL, BLAS_RTOL
from steptrace.trace.events import Event, to_json


@dataclass(frozen=True)
class Tolerance:
    rtol: float = 0.0
    atol: float = 0.0

    @property
    def exact(self) -> bool:
        return self.rtol == 0.0 and self.atol == 0.0

    def describe(self) -> str:
        return "bit for bit" if self.exact else f"within rtol {self.rtol:g}, atol {self.atol:g}"

    def agree(self, a: float, b: float) -> bool:
        if self.exact:
            return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return a == b
        return abs(a - b) <= self.atol + self.rtol * abs(b)


@dataclass(frozen=True)
class Difference:
    """The first field in which two events differ."""

    field: str
    a: Any
    b: Any

    def describe(self, a_name: str, b_name: str) -> str:
        text = f"field {self.field}: {a_name} {_show(self.a)}, {b_name} {_show(self.b)}"
        if isinstance(self.a, float) and isinstance(self.b, float) and self.a == 0 == self.b:
            text += " (signed zeros: equal in value, different in bits)"
        elif isinstance(self.a, float) and isinstance(self.b, float) and math.isfinite(self.a - self.b):
            gap = abs(self.a - self.b)
            scale = max(abs(self.a), abs(self.b))
            text += f" (|Δ| {gap:.3g}" + (f", relative {gap / scale:.3g})" if scale else ")")
        return text


#: The tolerance a comparison of a trace with a fresh run of its config uses when none is
#: given (``replay``, and the ``golden_trace`` fixture), by the config's arithmetic: an
#: exact trace must match bit for bit; a blas one may differ in its last digits between
#: machines (BLAS picks its summation order by the CPU).
DEFAULT_TOLERANCE = {"exact": Tolerance(), "blas": Tolerance(rtol=BLAS_RTOL, atol=BLAS_ATOL)}



def given(rtol: float | None, atol: float | None) -> Tolerance | None:
    """The tolerance of a replay told ``rtol`` and ``atol`` (either may be left out, as 0);
    None when neither is given: :data:`DEFAULT_TOLERANCE` for the trace's arithmetic then
    (``steptrace replay`` and :meth:`steptrace.Trace.replay` alike)."""
    if rtol is None and atol is None:
        return None
    return Tolerance(rtol or 0.0, atol or 0.0)

def _is_number(value: Any) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    """A value for a message: numbers in full, a matrix by its size, anything else cut short
    (a file may hold a string of any length)."""
    if isinstance(value, tuple | list):
        return f"{len(value)} value(s)"
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}… ({len(text)} characters)"


SHOWN = 120  # characters of a value a message shows


def difference(
    a: Event,
    b: Event,
    tolerance: Tolerance,
    fields: Mapping[str, Tolerance] | None = None,
) -> Difference | None:
    """The first differing field of two events (in field order), or None. ``fields``
    gives some fields (by name: ``weights``, ``error``, ...) a tolerance of their own."""
    if type(a) is not type(b):
        return Difference("kind", a.kind, b.kind)
    return differences(a.model_dump(), b.model_dump(), tolerance, fields)


def differences(
    a: dict[str, Any],
    b: dict[str, Any],
    tolerance: Tolerance,
    fields: Mapping[str, Tolerance] | None = None,
) -> Difference | None:
    """The first difference of two field dicts, nested ones included, every key of both
    sides compared (a key only one side has is a difference)."""
    for key in keys_of_both(a, b):
        found = _walk(a.get(key, _ABSENT), b.get(key, _ABSENT), key,
                      (fields or {}).get(key, tolerance))
        if found:
            return found
    return None


class _Absent:
    """A key one side has and the other does not."""

    def __repr__(self) -> str:
        return "(absent)"


_ABSENT: Any = _Absent()


def keys_of_both(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Every key of either side: a's in its order, then those only b has."""
    return [*a, *(key for key in b if key not in a)]


def _walk(a: Any, b: Any, path: str, tolerance: Tolerance) -> Difference | None:
    """The first difference of two values of any nesting, every key of both sides compared."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in keys_of_both(a, b):
            found = _walk(a.get(key, _ABSENT), b.get(key, _ABSENT),
                          f"{path}.{key}" if path else key, tolerance)
            if found:
                return found
        return None
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        if len(a) != len(b):
            return Difference(f"{path} (length)", len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _walk(x, y, f"{path}[{i}]", tolerance)
            if found:
                return found
        return None
    if isinstance(a, float) and isinstance(b, float):
        return None if tolerance.agree(a, b) else Difference(path, a, b)
    if _is_number(a) and _is_number(b) and float in (type(a), type(b)):
        # an int where the other side has a float (beta = 0 and beta = 0.0 in an
        # experiment file: a float option takes an int as that float) is that float
        return None if tolerance.agree(float(a), float(b)) else Difference(path, a, b)
    if a is _ABSENT or b is _ABSENT:
        return Difference(path, a, b)
    return None if a == b and type(a) is type(b) else Difference(path, a, b)


def same_json(a: Event, b: Event) -> bool:
    """The fast exact check: identical JSON means identical bits (floats are written in
    their shortest round-tripping form)."""
    return to_json(a) == to_json(b)


def summary(event: Event) -> str:
    """``event 17 (update, epoch 0, samples [2], layer 2)``."""
    samples = ", ".join(map(str, event.samples))
    return (f"event {event.seq} ({event.kind}, epoch {event.epoch}, samples [{samples}], "
            f"layer {event.layer})")
