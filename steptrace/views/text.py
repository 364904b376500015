"""Numbers and matrices as the views print them, and which events a view shows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import chain

from steptrace.trace.events import Event, Rows


def number(x: float, digits: int | None = None) -> str:
    """A number as the book prints it (Python's shortest repr), integers without ``.0``;
    with ``digits``, rounded to that many significant digits."""
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    if digits is not None:
        return f"{x:.{digits}g}"
    if x.is_integer() and abs(x) < 1e16:
        return "-0" if str(x).startswith("-") and x == 0 else str(int(x))
    return repr(x)




def matrix(m: Rows, digits: int | None = None) -> str:
    """One sample's row as ``[a, b]``; several rows (or a column) as ``[[a], [b]]``. Rounded,
    the numbers of several rows are aligned in columns (each padded to the widest)."""
    cells = [[number(x, digits) for x in row] for row in m]
    if digits is not None and len(cells) > 1:
        width = max((len(cell) for row in cells for cell in row), default=0)
        cells = [[cell.rjust(width) for cell in row] for row in cells]
    rows = ["[" + ", ".join(row) + "]" for row in cells]
    return rows[0] if len(rows) == 1 else "[" + ", ".join(rows) + "]"


@dataclass
class Filters:
    """Which events to show; an empty set shows all."""

    epochs: set[int] = field(default_factory=set)
    samples: set[int] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    layers: set[int] = field(default_factory=set)
    #: How messages name them: ``Trace.show``'s arguments (``epoch=0``), not the command
    #: line's options (``--epoch 0``).
    python: bool = False

    def option(self, name: str, value: object = None) -> str:
        """An option as the user gave it: ``--epoch 3`` or ``epoch=3`` (without a value:
        ``--epoch``, ``epoch=``)."""
        if self.python:
            return f"{name}=" if value is None else f"{name}={value!r}"
        return f"--{name}" if value is None else f"--{name} {value}"

    def keep(self, event: Event) -> bool:
        return (
            (not self.epochs or event.epoch in self.epochs)
            and (not self.samples or bool(self.samples.intersection(event.samples)))
            and (not self.kinds or event.kind in self.kinds)
            and (not self.layers or event.layer in self.layers)
        )

    def describe(self) -> str:
        """The filters as the user gave them: ``--epoch 99 --kind delta``, or
        ``epoch=99, kind='delta'``."""
        given = [(name, sorted(values, key=str)) for name, values in (
            ("epoch", self.epochs), ("sample", self.samples), ("kind", self.kinds),
            ("layer", self.layers)) if values]
        if self.python:
            return ", ".join(self.option(name, values[0] if len(values) == 1 else values)
                             for name, values in given)
        return " ".join(self.option(name, value) for name, values in given for value in values)



def first_nonfinite(event: Event) -> tuple[str, float] | None:
    """The first field of an event (with its index) that holds inf or NaN, if any."""
    for name, value in event:
        if isinstance(value, float) and not math.isfinite(value):
            return name, value
        if isinstance(value, tuple) and value and isinstance(value[0], tuple):
            if all(map(math.isfinite, chain.from_iterable(value))):  # the usual case, in C
                continue
            i, j = next((i, j) for i, row in enumerate(value) for j, x in enumerate(row)
                        if not math.isfinite(x))
            return f"{name}[{i}][{j}]", value[i][j]
    return None
