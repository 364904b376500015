"""Numbers and matrices as the views print them, and which events a view shows."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

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


#: the fields of each kind of event that hold numbers (a number, rows of them, or a
#: strategy's named numbers), in the order :func:`first_nonfinite` reads them
_NUMBER_FIELDS: dict[type, tuple[str, ...]] = {}


def number_fields(event: Event) -> tuple[str, ...]:
    """The names of ``event``'s fields that may hold numbers."""
    cls = type(event)
    if (names := _NUMBER_FIELDS.get(cls)) is None:
        names = _NUMBER_FIELDS[cls] = tuple(
            name for name in cls.model_fields
            if name not in ("seq", "epoch", "samples", "layer", "kind", "nonlinearity", "rule"))
    return names


def maybe_nonfinite(event: Event, names: Iterable[str] | None = None) -> bool:
    """False when every number of ``event``'s fields ``names`` (default: all) is finite;
    True when one may not be: a sum overflowed, or one is inf or NaN (:func:`first_nonfinite`
    then says which). A sum of numbers is finite only when each is, so a False is sure; the
    sums run in C."""
    total = 0.0
    for name in number_fields(event) if names is None else names:
        value = getattr(event, name)
        if value is None:
            continue
        if type(value) is tuple:
            total += sum(map(fsum_row, value))
        elif type(value) is dict:
            total += sum(value.values())
        else:
            total += value
    return total - total != 0.0  # inf - inf and NaN - NaN are NaN


def fsum_row(row: tuple[float, ...]) -> float:
    """A row's plain sum (not :func:`math.fsum`: only whether it is finite matters)."""
    return sum(row)


class Numbers:
    """Numbers and matrices written as :func:`number` and :func:`matrix` write them (the
    same text, byte for byte; ``tests/test_fastviews.py`` holds them to it), a whole row or
    matrix per ``%`` format, which runs in C: what the literate view writes every step
    with."""

    def __init__(self, digits: int | None) -> None:
        self.digits = digits
        self.cell = "%s" if digits is None else f"%.{digits}g"
        #: formats by row length (one row) and by shape and width (rounded rows, aligned)
        self._rows: dict[int, str] = {}
        self._cells: dict[int, str] = {}
        self._aligned: dict[tuple[tuple[int, ...], int], str] = {}
        #: rounded matrices of several rows, by shape: the format of their numbers, one
        #: after another, and the aligned formats by width
        self._blocks: dict[tuple[int, ...], tuple[str, dict[int, str]]] = {}

    def value(self, value: object) -> str:
        """``value`` (None, a number, rows of numbers or a 2-d array) as the line writes it:
        ``?`` for None, else :func:`number` or :func:`matrix`; text as it is."""
        if type(value) is tuple:
            if self.digits is None:
                return self.rows(value)
            if len(value) == 1:  # (one row: the usual case)
                row = value[0]
                if (form := self._rows.get(len(row))) is None:
                    form = self._rows[len(row)] = "[" + ", ".join([self.cell] * len(row)) + "]"
                return str(form % row)
            # several rows, rounded: every number in one format, then aligned to the widest
            shape = tuple(map(len, value))
            if (block := self._blocks.get(shape)) is None:
                if len(self._blocks) > 4096 or not shape or not all(shape):  # (bounded; empty)
                    return self.rows(value)
                block = self._blocks[shape] = ("\0".join([self.cell] * sum(shape)), {})
            split, aligned = block
            texts = (split % sum(value, ())).split("\0")
            width = max(map(len, texts))
            if (form := aligned.get(width)) is None:
                cell = f"%{width}s"
                form = aligned[width] = "[" + ", ".join(
                    "[" + ", ".join([cell] * n) + "]" for n in shape) + "]"
            return str(form % tuple(texts))
        if type(value) is float:
            return self.number(value)
        if type(value) is str:
            return value
        if value is None:
            return "?"
        if isinstance(value, np.ndarray):
            if value.ndim == 2:
                return self.flat(tuple(value.ravel().tolist()),
                                 (value.shape[1],) * value.shape[0])
            return matrix(value.tolist(), self.digits)
        if isinstance(value, float):
            return self.number(float(value))
        return matrix(value, self.digits)  # type: ignore[arg-type]

    def number(self, x: float) -> str:
        if self.digits is not None:
            return self.cell % x
        text = repr(x)  # (an integer below 1e16 is repr'd as "12.0": it prints as "12")
        return text[:-2] if text[-2:] == ".0" else text

    def rows(self, rows: Rows) -> str:
        if len(rows) == 1:
            row = rows[0]
            if self.digits is None:
                return "[" + ", ".join(map(self.number, row)) + "]"
            n = len(row)
            if (form := self._rows.get(n)) is None:
                form = self._rows[n] = "[" + ", ".join([self.cell] * n) + "]"
            return form % row
        return self.flat(tuple(chain.from_iterable(rows)), tuple(map(len, rows)))

    def flat(self, cells: tuple[float, ...], shape: tuple[int, ...]) -> str:
        """A matrix given as its numbers in order and its rows' lengths."""
        if len(shape) == 1:
            return self.rows((cells,))
        if self.digits is None:
            texts = list(map(self.number, cells))
            out, at = [], 0
            for n in shape:
                out.append("[" + ", ".join(texts[at:at + n]) + "]")
                at += n
            return "[" + ", ".join(out) + "]"
        count = len(cells)
        if (split := self._cells.get(count)) is None:
            split = self._cells[count] = "\0".join([self.cell] * count)
        texts = (split % cells).split("\0") if count else []
        width = max(map(len, texts), default=0)
        key = (shape, width)
        if (form := self._aligned.get(key)) is None:
            if len(self._aligned) > 4096:  # (ragged or many shapes: stay bounded)
                self._aligned.clear()
            cell = f"%{width}s"
            form = self._aligned[key] = "[" + ", ".join(
                "[" + ", ".join([cell] * n) + "]" for n in shape) + "]"
        return form % tuple(texts)
