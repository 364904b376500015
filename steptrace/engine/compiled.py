"""``exact_dot``'s compiled kernel: the exact order as machine code, when numba is installed.

One job: ``a · b`` in exactly the order :mod:`steptrace.engine.arithmetic` defines (each entry
summed over k = 0, 1, 2, ... left to right in float64, every product rounded on its own,
the sum starting from its first term), compiled by numba; its lazy import; and whether it
is available. The same bits as numpy's paths, 12-25 times faster on the benchmark's
mini-batch products (7.5 times on one sample's 784 × 40), and as fast as single-threaded
OpenBLAS within 5-30% (``arithmetic.exact_dot`` decides when it is used).

numba is optional (``pip install steptrace[fast]``). It is imported by the first product
that uses the kernel, never by ``import steptrace``: importing numba and loading the kernel
take ~0.5-1 s. The machine code is cached on disk (``cache=True``): compiled once per
machine and source version (~1.5 s), loaded from the cache afterwards. numba keeps the
cache in ``__pycache__`` beside this file, or, where that is not writable, in the user's
cache directory (``~/.cache/numba``), or wherever ``NUMBA_CACHE_DIR`` says; where none is
writable the kernel is compiled in every process that uses it.

Why it is exact: no ``fastmath`` (which would let LLVM reorder the sums and fuse a
multiply with an add into one rounding), so every addition is one IEEE addition, in
program order. The vector code works across outputs, never within a sum: the 4 × 8 tile
(``_make_tile``) keeps 32 outputs' running sums in vector registers and adds each one's
next term per k; the leftover rows and columns run in loops that LLVM vectorizes over
j, four terms and four rows at a time per load and store of an output, each output's
terms still added one after another. On load, the kernel must reproduce the running sum's
bits on a product made to show any reordering or fused multiply-add (``_self_test``), or it
is not used (with a warning); ``tests/test_arithmetic.py`` checks it bit for bit against
``reference_dot``. Not ``parallel=True`` either: splitting rows between threads would keep
the order, but at this project's sizes (a few million multiplications at most) two threads
were slower than one on a 2-core machine (the kernel's two halves on a thread pool: 0.27
against 0.23 ms for 100 × 784 · 784 × 40), and threads stall whenever the other core is
busy (2-thread OpenBLAS took B2/100 from 4 to 150 ms under another process's load).

Environment: ``STEPTRACE_NUMBA=0`` (or ``false``, ``no``, ``off``) turns the kernel off;
numpy's paths run instead, with the same bits. It is read once, by the first product that
would use the kernel.
"""

from __future__ import annotations

import importlib
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from steptrace.engine.rules import Array

T = TypeVar("T")


def signature() -> Any:
    """The one signature compiled (and cached): ``a`` in any layout (it is only read
    entry by entry), ``b`` and ``out`` C-contiguous (the vector loads run along their
    rows); ``a`` and ``b`` read-only, so that read-only arrays (a trace's, a memory map's)
    are taken as they are, and writable ones convert."""
    types: Any = importlib.import_module("numba.core.types")
    return types.void(types.Array(types.float64, 2, "A", readonly=True),
                      types.Array(types.float64, 2, "C", readonly=True),
                      types.Array(types.float64, 2, "C"))


_kernel: Callable[[Array, Array, Array], None] | None = None
_loaded = False  # whether loading was tried (it is tried once)
_loading = threading.Lock()
_failure: str | None = None  # why the kernel is unavailable, once that is known


def _ordered_dot(a: Any, b: Any, out: Any) -> None:  # pragma: no cover (numba compiles it)
    """``out[i, j] = a[i, 0]*b[0, j] + a[i, 1]*b[1, j] + ...``, added left to right.

    Four rows by eight columns at a time, the compiled ``_tile`` (below); then the
    leftover columns and rows by loops that LLVM vectorizes over j: they take four
    rows and four terms at a time, so that each output is loaded and stored once per four
    terms, each output's terms still added one after another, k in order."""
    m, depth = a.shape
    n = b.shape[1]
    tiled_rows, tiled_columns = m - m % 4, n - n % 8
    for i in range(0, tiled_rows, 4):
        for j in range(0, tiled_columns, 8):
            _tile(a, b, out, i, j)
        if tiled_columns == n:
            continue
        x0, x1, x2, x3 = a[i, 0], a[i + 1, 0], a[i + 2, 0], a[i + 3, 0]
        for j in range(tiled_columns, n):  # each sum starts from its first term
            bj = b[0, j]
            out[i, j] = x0 * bj
            out[i + 1, j] = x1 * bj
            out[i + 2, j] = x2 * bj
            out[i + 3, j] = x3 * bj
        k = 1
        while k + 4 <= depth:
            p0, p1, p2, p3 = a[i, k], a[i, k + 1], a[i, k + 2], a[i, k + 3]
            q0, q1, q2, q3 = a[i + 1, k], a[i + 1, k + 1], a[i + 1, k + 2], a[i + 1, k + 3]
            r0, r1, r2, r3 = a[i + 2, k], a[i + 2, k + 1], a[i + 2, k + 2], a[i + 2, k + 3]
            s0, s1, s2, s3 = a[i + 3, k], a[i + 3, k + 1], a[i + 3, k + 2], a[i + 3, k + 3]
            for j in range(tiled_columns, n):
                b0, b1, b2, b3 = b[k, j], b[k + 1, j], b[k + 2, j], b[k + 3, j]
                t = out[i, j]
                t += p0 * b0
                t += p1 * b1
                t += p2 * b2
                t += p3 * b3
                out[i, j] = t
                t = out[i + 1, j]
                t += q0 * b0
                t += q1 * b1
                t += q2 * b2
                t += q3 * b3
                out[i + 1, j] = t
                t = out[i + 2, j]
                t += r0 * b0
                t += r1 * b1
                t += r2 * b2
                t += r3 * b3
                out[i + 2, j] = t
                t = out[i + 3, j]
                t += s0 * b0
                t += s1 * b1
                t += s2 * b2
                t += s3 * b3
                out[i + 3, j] = t
            k += 4
        while k < depth:  # the last terms, one at a time
            x0, x1, x2, x3 = a[i, k], a[i + 1, k], a[i + 2, k], a[i + 3, k]
            for j in range(tiled_columns, n):
                bj = b[k, j]
                out[i, j] += x0 * bj
                out[i + 1, j] += x1 * bj
                out[i + 2, j] += x2 * bj
                out[i + 3, j] += x3 * bj
            k += 1
    for i in range(tiled_rows, m):  # the last m % 4 rows (every row of a single-row product)
        x0 = a[i, 0]
        for j in range(n):
            out[i, j] = x0 * b[0, j]
        k = 1
        while k + 4 <= depth:
            p0, p1, p2, p3 = a[i, k], a[i, k + 1], a[i, k + 2], a[i, k + 3]
            for j in range(n):
                t = out[i, j]
                t += p0 * b[k, j]
                t += p1 * b[k + 1, j]
                t += p2 * b[k + 2, j]
                t += p3 * b[k + 3, j]
                out[i, j] = t
            k += 4
        while k < depth:
            x0 = a[i, k]
            for j in range(n):
                out[i, j] += x0 * b[k, j]
            k += 1


def _make_tile() -> Any:
    """The 4 × 8 tile as a numba intrinsic: LLVM IR written out, because numba's loops
    cannot keep a block of sums in vector registers across k (its SLP vectorizer is off,
    and the loop vectorizer vectorizes only the innermost loop). ``_tile(a, b, out, i, j)``
    is, in Python::

        for r in range(4):
            for c in range(8):
                s = a[i + r, 0] * b[0, j + c]
                for k in range(1, depth):
                    s += a[i + r, k] * b[k, j + c]
                out[i + r, j + c] = s

    with the 32 sums in eight 4-wide vectors for the whole loop over k: per k, two loads
    of ``b[k, j:j + 8]``, four of ``a[i + r, k]`` (each broadcast to a vector), eight
    multiplications and eight additions, each lane one output's next term. Plain ``fmul``
    and ``fadd``, no fast-math flags: LLVM may neither reorder them nor fuse them into a
    multiply-add."""
    # numba's and llvmlite's own annotations are partial: these are used as untyped.
    ir: Any = importlib.import_module("llvmlite.ir")
    cgutils: Any = importlib.import_module("numba.core.cgutils")
    types: Any = importlib.import_module("numba.core.types")
    intrinsic: Any = importlib.import_module("numba.extending").intrinsic

    double4 = ir.VectorType(ir.DoubleType(), 4)
    lane0, undefined = ir.Constant(ir.IntType(32), 0), ir.Constant(double4, ir.Undefined)
    broadcast_mask = ir.Constant(ir.VectorType(ir.IntType(32), 4), [0, 0, 0, 0])

    def tile(typingctx: Any, a: Any, b: Any, out: Any, i: Any, j: Any) -> Any:
        signature = types.void(a, b, out, i, j)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            intp = context.get_value_type(types.intp)
            arrays = [context.make_array(t)(context, builder, v)
                      for t, v in zip(signature.args[:3], args[:3], strict=True)]

            def at(which: int, row: Any, column: Any) -> Any:  # a pointer to an entry
                array, layout = arrays[which], signature.args[which].layout
                return cgutils.get_item_pointer2(
                    context, builder, array.data, cgutils.unpack_tuple(builder, array.shape, 2),
                    cgutils.unpack_tuple(builder, array.strides, 2), layout, [row, column])

            def rows_of_b(k: Any) -> list[Any]:  # b[k, j:j + 4] and b[k, j + 4:j + 8]
                return [builder.load(builder.bitcast(
                    at(1, k, builder.add(args[4], intp(4 * c))), double4.as_pointer()), align=8)
                    for c in range(2)]

            def broadcast(row: int, k: Any) -> Any:  # a[i + row, k] in every lane
                x = builder.load(at(0, builder.add(args[3], intp(row)), k))
                return builder.shuffle_vector(builder.insert_element(undefined, x, lane0),
                                              undefined, broadcast_mask)

            sums = [[cgutils.alloca_once(builder, double4) for _ in range(2)] for _ in range(4)]
            first = rows_of_b(intp(0))  # each sum starts from its first term
            for row in range(4):
                x = broadcast(row, intp(0))
                for c in range(2):
                    builder.store(builder.fmul(x, first[c]), sums[row][c])
            depth = cgutils.unpack_tuple(builder, arrays[0].shape, 2)[1]
            with cgutils.for_range(builder, depth, start=intp(1)) as loop:
                terms = rows_of_b(loop.index)
                for row in range(4):
                    x = broadcast(row, loop.index)
                    for c in range(2):
                        total = builder.load(sums[row][c])
                        builder.store(builder.fadd(total, builder.fmul(x, terms[c])), sums[row][c])
            for row in range(4):
                for c in range(2):
                    where = at(2, builder.add(args[3], intp(row)), builder.add(args[4], intp(4 * c)))
                    builder.store(builder.load(sums[row][c]), builder.bitcast(where, double4.as_pointer()),
                                  align=8)
            return context.get_dummy_value()

        return signature, codegen

    return intrinsic(tile)


_tile: Any = None  # the intrinsic, once numba is imported (load() makes it)


def _self_test(kernel: Callable[[Array, Array, Array], None]) -> bool:
    """Whether the compiled kernel gives the definition's bits on a product made to show
    a fused multiply-add or a reordered sum (wide magnitudes, signed zeros, tiles and
    leftovers), against a running sum (``np.add.accumulate``, the definition)."""
    random = np.random.RandomState(20)  # 9 x 14 · 14 x 19: tiles, and every kind of leftover
    a = random.standard_normal((9, 14)) * 10.0 ** random.randint(-9, 10, (9, 14))
    b = random.standard_normal((14, 19)) * 10.0 ** random.randint(-9, 10, (14, 19))
    a[random.random_sample(a.shape) < 0.2] = -0.0
    a[0], b[:, 0] = np.abs(a[0]), -0.0  # out[0, 0] sums -0.0s only: -0.0
    out = np.empty((9, 19))
    kernel(a, b, out)
    products = a[:, :, np.newaxis] * b[np.newaxis, :, :]
    return bool(out.tobytes() == np.add.accumulate(products, axis=1)[:, -1, :].tobytes())


def verified(make: Callable[[], T], works: Callable[[T], bool],
             differs: str) -> tuple[T | None, str | None]:
    """What ``make`` compiles, if it compiles and ``works`` (gives the definition's bits);
    else None and why not (``differs`` when it compiled but gave other bits). A numba or
    LLVM this code does not suit is no error: numpy still computes it."""
    try:
        made = make()
        if works(made):
            return made, None
    except Exception as error:
        return None, f"numba could not compile it: {type(error).__name__}: {error}"
    return None, differs


def compile_cached(function: Any, *signature: Any) -> Any:
    """``function`` compiled by numba (imported already), nogil, never fastmath, its machine
    code cached on disk where anywhere is writable (else compiled in every process)."""
    njit: Any = importlib.import_module("numba").njit
    try:
        return njit(*signature, cache=True, nogil=True)(function)
    except RuntimeError as error:  # "cannot cache": nowhere writable to keep it
        if "cache" not in str(error):
            raise
        return njit(*signature, nogil=True)(function)


def load() -> Callable[[Array, Array, Array], None] | None:
    """The compiled kernel, or None where numba is missing or ``STEPTRACE_NUMBA=0``.
    The first call imports numba and compiles (or loads from the cache); later calls
    return what the first found."""
    global _kernel, _loaded
    with _loading:
        if not _loaded:
            _kernel = _compile()
            _loaded = True
    return _kernel


def _compile() -> Callable[[Array, Array, Array], None] | None:
    global _failure
    setting = os.environ.get("STEPTRACE_NUMBA", "")
    if setting.strip().lower() in ("0", "false", "no", "off"):
        _failure = f"turned off by STEPTRACE_NUMBA={setting}"
        return None
    try:
        import numba  # noqa: F401 (imported here to know it can be: compile_cached uses it)
    except ModuleNotFoundError:
        _failure = "numba is not installed"
        return None
    except ImportError as error:  # installed, but not for this numpy, say
        _failure = f"numba cannot be imported ({error})"
        return None
    def make() -> Callable[[Array, Array, Array], None]:
        global _tile
        _tile = _make_tile()
        # nogil: nothing here needs the interpreter; never fastmath (it would reorder the
        # sums and fuse multiply-adds), never parallel (see the module's docstring).
        made: Callable[[Array, Array, Array], None] = compile_cached(_ordered_dot, signature())
        return made

    checked = verified(make, _self_test, "its result differed from the exact order's (a "
                       "fused multiply-add?)")
    kernel, _failure = checked
    if kernel is not None:
        return kernel
    warnings.warn(f"steptrace: the compiled exact kernel is off ({_failure}); exact mode "
                  "uses numpy instead (the same bits, slower)", RuntimeWarning, stacklevel=2)
    return None


def ready(may_load: bool) -> bool:
    """Whether the kernel is loaded; if it is not and ``may_load``, try loading it now."""
    if _kernel is not None:
        return True
    return may_load and not _loaded and load() is not None


def available() -> bool:
    """Whether the compiled kernel can be used (imports numba, the first time)."""
    return load() is not None


def unavailable_reason() -> str | None:
    """Why the kernel cannot be used (None when it can, or before the first try)."""
    return _failure


def exact_dot(a: Array, b: Array) -> Array:
    """``a · b`` in the exact order, by the compiled kernel: float64 2-D arrays, at least
    one term per sum; the result C-contiguous, as ``np.dot``'s. Raises RuntimeError where
    the kernel is unavailable."""
    kernel = _kernel if _kernel is not None else load()
    if kernel is None:
        raise RuntimeError(f"the compiled exact kernel is unavailable: {_failure}")
    depth = a.shape[1]
    if depth != b.shape[0] or depth == 0:  # the kernel does not check its indices
        raise ValueError(f"cannot multiply {a.shape} by {b.shape} in the exact order")
    out = np.empty((a.shape[0], b.shape[1]))
    kernel(a, b if b.flags.c_contiguous else np.ascontiguousarray(b), out)  # b = weights.T: a copy
    return out
