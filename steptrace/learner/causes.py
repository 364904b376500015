"""A script's failure traced to its cause: the first value whose shape (or kind of number)
is not the book's.

numpy raises where shapes finally fail to fit (``shapes (4,) and (1,1) not aligned`` at an
update), often lines after the assignment that made the wrong shape: a 1-D ``layer_0 =
streetlights[i]`` where the book slices a row matrix ``streetlights[i:i+1]``, or goals
``np.array([[1, 1, 0, 0]])`` left as one row where the book transposes them to one goal per
row. Chapter 6's numbered names (``layer_0``, ``layer_1_delta``, ``weights_0_1``) are always
matrices in the book: a batch's rows by a layer's units, the dataset's rows by the input's
width, one goal row per sample. :func:`first_unlike_the_books` finds the first assignment of
a run that is not so. (Chapters 4 and 5 compute with numbers and 1-D lists: nothing is
said of theirs.) Likewise an in-place update that numpy refuses to cast (``Cannot cast
ufunc 'subtract' output from dtype('float64') to dtype('int64')``) comes from weights made
as integers (``np.random.randint``): :func:`integer_weights` names where.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from steptrace.engine.rules import Array
from steptrace.learner.prelude import PRELUDE_LINE
from steptrace.learner.runner import assigned_at
from steptrace.learner.timeline import Timeline

#: What numpy says when shapes do not fit.
SHAPE_WORDS = ("aligned", "broadcast", "shapes", "mismatch", "dimension")


def is_shape_error(message: str) -> bool:
    return any(word in message for word in SHAPE_WORDS)


@dataclass(frozen=True)
class ShapeCause:
    """An assignment whose shape is not the book's, and what the book's is."""

    line: int
    name: str
    detail: str


def _shape(value: Array) -> str:
    if value.ndim == 2:
        return f"{value.shape[0]} row{'s' if value.shape[0] != 1 else ''} of {value.shape[1]} " \
               f"(shape {value.shape})"
    return f"a {value.ndim}-D array (shape {value.shape})"


def first_unlike_the_books(timeline: Timeline) -> ShapeCause | None:
    """The first assignment of a chapter-6 run whose shape the book's would not have."""
    if not timeline.numbered:
        return None
    if (misfit := _weights_that_do_not_chain(timeline)) is not None:
        return misfit
    sizes = _sizes(timeline)
    if sizes is None:
        return None
    data = timeline.first("inputs")
    # widths are only held against the weights' where the dataset agrees with them (else
    # which of the two is wrong, there is no telling); a 1-D layer is never the book's
    trusted = data is not None and data.value.ndim == 2 and data.value.shape[1] == sizes[0]
    samples: int | None = None
    for assignment, role in zip(timeline.assignments, timeline.roles, strict=True):
        if role is None:
            continue
        value, name, kind = assignment.value, assignment.name, role.kind
        if kind == "inputs" and value.ndim == 2 and value.shape[1] == sizes[0]:
            samples = value.shape[0]
        elif kind == "goals" and samples is not None and samples != sizes[-1] \
                and value.shape == (sizes[-1], samples):
            return ShapeCause(assignment.line, name, (
                f"{name} is {_shape(value)}; the book's has one goal row per sample, "
                f"{samples} rows of {sizes[-1]} (shape ({samples}, {sizes[-1]})): transpose it "
                f"({name} = np.array(...).T)"))
        elif kind in ("input", "layer", "delta"):
            units = sizes[0] if kind == "input" else sizes[role.layer] if role.layer < len(sizes) else None
            if units is None or (value.ndim == 2 and (value.shape[1] == units or not trusted)):
                continue
            book = f"a matrix of one row per sample, shape (1, {units}) for one sample"
            hint = (" (a row sliced as streetlights[i:i+1] stays a matrix; streetlights[i] is "
                    "1-D)") if kind == "input" and value.ndim == 1 else ""
            return ShapeCause(assignment.line, name,
                              f"{name} is {_shape(value)}; the book's is {book}{hint}")
    return None


def _weights_that_do_not_chain(timeline: Timeline) -> ShapeCause | None:
    """The first weight matrix whose rows do not take the numbers of the layer before it:
    the dataset's width for ``weights_0_1``, the columns of the matrix before for the rest."""
    data = timeline.first("inputs")
    if data is None or data.value.ndim != 2:
        return None
    width, before = data.value.shape[1], data.name
    for k in range(1, timeline.output + 1):
        first = timeline.first("weights", k)
        if first is None or first.value.ndim != 2:
            return None
        rows, columns = first.value.shape
        if rows != width:
            return ShapeCause(first.line, first.name, (
                f"{first.name} is {_shape(first.value)}; it weighs the {width} numbers of each "
                f"row of {before}, so the book's has {width} rows: shape ({width}, n), one row "
                "per input, one column per unit it feeds"))
        width, before = columns, first.name
    return None


def _sizes(timeline: Timeline) -> list[int] | None:
    """The layer sizes the weight matrices give (inputs × outputs), if they chain."""
    sizes: list[int] = []
    for k in range(1, timeline.output + 1):
        first = timeline.first("weights", k)
        if first is None or first.value.ndim != 2:
            return None
        n_in, n_out = first.value.shape
        if sizes and sizes[-1] != n_in:
            return None
        sizes = sizes or [n_in]
        sizes.append(n_out)
    return sizes


def is_cast_error(message: str) -> bool:
    return "Cannot cast ufunc" in message and "int" in message


def integer_weights(timeline: Timeline, line: int) -> ShapeCause | None:
    """The book name updated at ``line`` (where numpy refused to cast), if it was first
    made of whole numbers: an integer array, which an in-place float update cannot hold."""
    script = timeline.captured.script
    for name in assigned_at(script, line):
        first = next((a for a in timeline.assignments if a.name == name), None)
        whole = first is not None and bool(np.all(np.isfinite(first.value))
                                           and np.all(first.value == np.round(first.value)))
        if first is not None and whole:
            return ShapeCause(first.line, name, (
                f"{name} holds whole numbers (an integer array, made "
                f"{'in an earlier cell' if first.line == PRELUDE_LINE else f'at line {first.line}'}): "
                f"numpy cannot write a float update into it in place; the book's weights are "
                "floats, 2*np.random.random(shape) - 1"))
    return None
