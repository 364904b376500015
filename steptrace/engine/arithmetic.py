"""The two ways steptrace adds numbers up.

``exact``: every sum runs left to right in float64, in one fixed order, whatever
the BLAS library, its CPU kernel or its thread count. It is what the book's printed
numbers came from (Python 3.6, numpy's reference order), so it reproduces them byte
for byte on any machine. Products are formed first, then summed term after term; a
sum starts from its first term. The definition is ``np.add.accumulate`` (a running sum
is sequential by definition); where the sum runs across rows of a C-contiguous matrix
with several columns, ``np.add.reduce`` over that outer axis gives the same bits 8 times
faster (numpy adds whole rows in order; it sums pairwise only along the contiguous axis,
which is why a single column keeps ``accumulate``, and why the products are laid out
C-contiguous whatever the layout of ``a`` and ``b``). ``tests/test_arithmetic.py`` pins
that equivalence on random shapes and layouts, signed zeros, inf and NaN included. The
default.

``blas``: ``np.dot`` and ``np.sum``, as fast as the machine's BLAS; the last digit
or two may differ between machines (summation order), so compare such runs with a
tolerance. For big networks.

Nothing else in a step is order-dependent: the book's deltas and weight_deltas are
outer products (one product per entry) for a single sample.

With numba installed (``pip install steptrace[fast]``), ``exact_dot`` runs the same order
as compiled code (:mod:`steptrace.engine.compiled`): the same bits, some 20 times faster on the
benchmark's mini-batch products. numba is imported only by a product of at least
``COMPILED_FROM`` multiplications (the book's 3-4-1 networks never import it); once it is
loaded, every product uses it. ``STEPTRACE_NUMBA=0`` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from steptrace.engine import compiled as _compiled
from steptrace.engine.rules import Array

Mode = Literal["exact", "blas"]


#: The smallest product (m·k·n multiplications) that loads the compiled kernel, importing
#: numba: ~0.5-1 s, once per process, which a product this size wins back after some 10⁴
#: to 10⁵ calls (numpy's paths take 20-50 µs on it, the kernel 2-5 µs). The book's networks
#: (at most 48) never load it; an MNIST layer (784 × 40: 31 360 for a single sample) does.
#: Once it is loaded it does every product, being faster than numpy's paths at any size
#: (~1.2 µs a call against 1.3-5 µs for the book's products).
COMPILED_FROM = 10_000


def exact_dot(a: Array, b: Array, *, compiled: bool | None = None) -> Array:
    """``a · b`` for 2-D arrays, each entry summed over k = 0, 1, ... in that order.

    ``compiled``: None (the default) uses numba's kernel (:mod:`steptrace.engine.compiled`) where
    it is installed and pays (see ``COMPILED_FROM``); False never does; True always does
    (for the tests; RuntimeError without numba). Every path gives the same bits."""
    m, depth = a.shape
    n = b.shape[1]
    if compiled is None:  # (this runs for every product: the cheap tests first)
        compiled = (_compiled.ready(m * depth * n >= COMPILED_FROM) and depth > 0
                    and a.dtype == np.float64 and b.dtype == np.float64)
    if compiled:
        return _compiled.exact_dot(a, b)
    if depth == 1:  # an outer product: nothing to sum, no order to keep
        product: Array = a * b
        return product if product.flags.c_contiguous else np.ascontiguousarray(product)
    if n == 1:  # one column: a running sum along each row (contiguous)
        return np.ascontiguousarray(np.add.accumulate(a * b[:, 0], axis=1)[:, -1:])
    # Rows added in order: the products laid out C-contiguous, so that the axis summed over
    # is never the contiguous one (numpy would sum that one pairwise: b = weights.T, as in
    # the deltas, made exactly that layout). numpy may start such a reduction from 0.0,
    # which would turn a sum of -0.0s into 0.0; starting from -0.0 (x + -0.0 == x, bit for
    # bit, for every x) makes it start from the first term, as the running sum does.
    if m == 1:  # one row: the products as a (k, n) matrix
        products = a.T * b  # laid out as b is: C for weights, F for weights.T
        if not products.flags.c_contiguous:
            products = np.ascontiguousarray(products)
        return np.add.reduce(products, axis=0, keepdims=True, initial=-0.0)
    products = np.multiply(a[:, :, np.newaxis], b[np.newaxis, :, :], out=np.empty((m, depth, n)))
    summed: Array = np.add.reduce(products, axis=1, initial=-0.0)
    return summed


def reference_dot(a: Array, b: Array) -> Array:
    """The definition of the exact order: a running sum over k (slow, certain)."""
    products = a[:, :, np.newaxis] * b[np.newaxis, :, :]
    return np.add.accumulate(products, axis=1)[:, -1, :]


def exact_dots(a: Array, b: Array) -> Array:
    """``exact_dot(a[i], b[i])`` for every i at once (``a``: N m×k matrices, ``b``: N k×n):
    the same bits, by the definition's running sum (:func:`reference_dot`), for a reader
    that has many small products to make (the page's deltas carried back)."""
    products = a[:, :, :, np.newaxis] * b[:, np.newaxis, :, :]
    summed: Array = np.add.accumulate(products, axis=2)[:, :, -1, :]
    return summed


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
    "blas": Arithmetic("blas", np.ndarray.dot, blas_total),  # np.dot, without its dispatch
}
