"""The two ways steptrace adds numbers up.

``exact``: every sum runs left to right in float64, in one fixed order, whatever
the BLAS library, its CPU kernel or its thread count. It is what the book's printed
numbers came from (Python 3.6, numpy's reference order), so it reproduces them byte
for byte on any machine. Products are formed first, then summed term after term; a
sum starts from its first term. The definition is ``np.add.accumulate`` (a running sum
is sequential by definition); where the sum runs across rows of a matrix with several
columns, ``np.add.reduce`` over that outer axis gives the same bits 8 times faster
(numpy adds whole rows in order; it sums pairwise only along the contiguous axis, which
is why a single column keeps ``accumulate``). ``tests/test_arithmetic.py`` pins that
equivalence on random shapes, signed zeros included. The default.

``blas``: ``np.dot`` and ``np.sum``, as fast as the machine's BLAS; the last digit
or two may differ between machines (summation order), so compare such runs with a
tolerance. For big networks.

Nothing else in a step is order-dependent: the book's deltas and weight_deltas are
outer products (one product per entry) for a single sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from steptrace.rules import Array

Mode = Literal["exact", "blas"]


def exact_dot(a: Array, b: Array) -> Array:
    """``a · b`` for 2-D arrays, each entry summed over k = 0, 1, ... in that order."""
    if a.shape[1] == 1:  # an outer product: nothing to sum
        return a * b
    if b.shape[1] == 1:  # one column: a running sum along each row (contiguous)
        return np.add.accumulate(a * b[:, 0], axis=1)[:, -1:]
    # Rows added in order. numpy may start such a reduction from 0.0, which would turn a
    # sum of -0.0s into 0.0; starting from -0.0 (x + -0.0 == x, bit for bit, for every x)
    # makes it start from the first term, as the running sum does.
    if a.shape[0] == 1:  # one row: the products as a (k, n) matrix
        return np.add.reduce(a.T * b, axis=0, keepdims=True, initial=-0.0)
    products = a[:, :, np.newaxis] * b[np.newaxis, :, :]
    summed: Array = np.add.reduce(products, axis=1, initial=-0.0)
    return summed


def reference_dot(a: Array, b: Array) -> Array:
    """The definition of the exact order: a running sum over k (slow, certain)."""
    products = a[:, :, np.newaxis] * b[np.newaxis, :, :]
    return np.add.accumulate(products, axis=1)[:, -1, :]


def exact_total(x: Array) -> float:
    """The sum of every entry, row by row, left to right."""
    flat = x.ravel()
    return float(np.add.accumulate(flat)[-1]) if flat.size > 1 else float(flat[0])


def blas_total(x: Array) -> float:
    return float(np.add.reduce(x, axis=None))  # np.sum, without its Python wrapper


@dataclass(frozen=True)
class Arithmetic:
    """The ``dot`` and ``total`` that the engine does all of its sums with."""

    mode: Mode
    dot: Callable[[Array, Array], Array]
    total: Callable[[Array], float]


ARITHMETIC: dict[str, Arithmetic] = {
    "exact": Arithmetic("exact", exact_dot, exact_total),
    "blas": Arithmetic("blas", np.dot, blas_total),
}
