"""exp, expm1, log1p, tanh and sigmoid that give the same bits on every machine.

numpy picks the code behind ``np.exp``, ``np.tanh``, ``np.log1p`` by the CPU it runs on
(SIMD kernels for AVX2, AVX-512, NEON; the platform's libm elsewhere), and those kernels
differ in the last bit or two: with ``NPY_DISABLE_CPU_FEATURES=X86_V3`` about 30% of
``np.tanh``'s values move by 1-2 ulp. An exact-mode trace of a tanh network recorded on
one machine would then fail ``replay`` on another. The functions here are what exact
mode's nonlinearities compute with instead (blas mode keeps numpy's fast ones).

**How they are portable.** They are written only with IEEE-754 basic operations on
float64 arrays (``+ - * /``, each correctly rounded by every conforming machine, SIMD or
not; numpy never fuses two of them into a fused multiply-add), comparisons, selections
(``np.where``), ``np.rint``/``np.floor`` (exact), and integer operations on the bits
(to build and read powers of two), in one fixed order. No libm, no CPU-dispatched
transcendental kernel. So the same inputs give the same bits on any machine whose float64
arithmetic is IEEE-754 with round-to-nearest and without flush-to-zero, which is every
machine numpy supports by default.

**The algorithms.** expm1 and log1p are fdlibm's (Sun Microsystems, 1993; the basis of
FreeBSD's, musl's and Java's ``StrictMath`` functions); exp, tanh and sigmoid share one
more accurate exponential, carried as two floats. All are written for whole arrays: every
branch is computed for every element and the right one kept, so each element's arithmetic
is the same whatever its neighbours.

- ``exp(x)``: ``x = (64·k + j)·ln2/64 + r`` with ``|r| <= ln2/128`` (ln2/64 in two parts,
  the first product and difference exact), ``e**x = 2^k · 2^(j/64) · e**r``; ``2^(j/64)``
  from a table of 64 entries to 106 bits (hi + lo, built in integers, from square roots,
  when the module loads), ``e**r - 1`` by its Taylor series to ``r^6`` (the rest is under
  2^-65); the sum ``2^(j/64)·(1 + p)`` as a rounded float and its exact remainder
  (``_exp_parts``, within about 2^-59 of the true value before the last rounding); scaled
  by ``2^k`` in two exact halves, so that a subnormal result is rounded once. Error bound:
  the last rounding's half ulp plus about 2^-59 relative (< 0.51 ulp); a subnormal result
  is rounded twice (< 1 ulp).
- ``expm1(x) = e**x - 1``: fdlibm's: ``x = k·ln2 + r``, ``|r| <= ln2/2``, the rounding error
  of ``r`` carried in a correction term, a rational approximation of
  ``r·(e**r + 1)/(e**r - 1)`` (a degree-5 polynomial ``Q``), so small ``x`` keep all their
  digits. fdlibm's bound: error < 1 ulp.
- ``log1p(x) = log(1 + x)``: fdlibm's: ``1 + x = 2^k·(1 + f)``, ``sqrt(2)/2 <= 1 + f < sqrt(2)``,
  the rounding error of ``1 + x`` kept in ``c``; ``log(1 + f) = f - (f²/2 - s·(f²/2 + R(s²)))``
  with ``s = f/(2 + f)`` and a degree-7 minimax ``R``; plus ``k·ln2`` in two parts.
  fdlibm's bound: < 1 ulp.
- ``tanh(x) = (1 - E)/(1 + E)`` with ``E = e**(-2|x|)`` as two floats: numerator and
  denominator each kept as two floats, divided with one rounding (the remainder of the
  quotient worked out exactly, Dekker's product without a fused multiply-add, and its
  quotient added: ``_divide``); the sign put back. Below ``|x| = 1/16``, where ``1 - E``
  would cancel, its Taylor series to ``x^13`` (the rest is under 2^-70 of ``x``). Error
  bound: half an ulp from the last rounding, plus at most 2^-56 relative where ``1 - E``
  is smallest (``|x|`` just above 1/16): < 0.65 ulp.
- ``sigmoid(x) = 1/(1 + E)`` for ``x >= 0`` and ``E/(1 + E)`` below, ``E = e**-|x|`` as two
  floats, divided the same way. Error bound: < 0.51 ulp (E's 2^-59 is at most halved on
  its way through); a subnormal result (below ``x = -708``) < 1 ulp.

**Accuracy**, measured against mpmath's correctly rounded values (``tests/test_portable.py``,
on over 10^6 points per function: random doubles over every binade, ±0, subnormals, the
saturation and overflow edges, ±inf, NaN): every result is the correctly rounded value or
one of its two neighbours (at most 1 ulp from it); exp, tanh and sigmoid are the correctly
rounded value itself at more than 99.8% of the points, expm1 and log1p at more than 93%
(``python -m tests.test_portable`` prints the table).
The derivatives of tanh and sigmoid (``1 - output**2``, ``output * (1 - output)``) are
basic operations already, and portable as they stand.

Each function takes anything numpy makes a float64 array of, and returns a float64 array
of its shape. Special values follow C99: ``exp(-inf) = 0``, ``expm1(-inf) = -1``,
``log1p(-1) = -inf``, ``log1p(x < -1) = nan``, ``tanh(±inf) = ±1``, nan in, nan out.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from steptrace.engine import compiled as _compiled
from steptrace.engine.rules import Array

# fdlibm's constants (e_exp.c, s_expm1.c, s_log1p.c), as it prints them.
LN2_HI = 6.93147180369123816490e-01  # 0x3fe62e42 fee00000: k·LN2_HI is exact for |k| < 2^20
LN2_LO = 1.90821492927058770002e-10  # ln2 - LN2_HI
LN2 = LN2_HI + LN2_LO
INV_LN2 = 1.44269504088896338700e+00
#: exp overflows above this, underflows to 0 below U_THRESHOLD
O_THRESHOLD = 7.09782712893383973096e+02
U_THRESHOLD = -7.45133219101941108420e+02
#: expm1's rational approximation, in hxs = r²/2
Q1, Q2, Q3 = -3.33333333333331316428e-02, 1.58730158725481460165e-03, -7.93650757867487942473e-05
Q4, Q5 = 4.00821782732936239552e-06, -2.01099218183624371326e-07
#: log1p's, in s²
LP1, LP2, LP3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
LP4, LP5, LP6 = 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01
LP7 = 1.479819860511658591e-01
#: expm1(x) is -1 (to the last bit) below -56·ln2, the first double whose high word is 0x4043687A
EXPM1_FLOOR = -38.816242111356935
TWO_53 = 9007199254740992.0


def _pow2(n: Array) -> Array:
    """2.0**n, exactly, for integer-valued n in [-1022, 1023]: the bits written directly."""
    return ((n.astype(np.int64) + 1023) << 52).view(np.float64)


def _scale(y: Array, k: Array) -> Array:
    """y·2^k for y in [0.5, 2) and integer-valued k in [-1076, 1025], rounded once: the first
    half of the power is exact (the product stays normal), the second rounds (into a
    subnormal or to inf) at most once."""
    half = np.floor(k * 0.5)
    return (y * _pow2(half)) * _pow2(k - half)


def _exp_parts(x: Array) -> tuple[Array, Array]:
    """e**x as a pair (hi, lo) of floats, hi the sum rounded once, some 2^-59 of it from
    the true value (the ±inf and nan edges are the callers'): ``x = (64·k + j)·ln2/64 + r``
    with ``|r| <= ln2/128``, e**x = 2^k · 2^(j/64) · e**r, 2^(j/64) from a table to 106
    bits (hi + lo), e**r - 1 by its Taylor series to r^6 (the next term is under 2^-65)."""
    n = np.rint(np.fmax(np.fmin(x, 710.0), -800.0) * (64 / LN2))
    k = np.floor(n * (1 / 64))
    j = (n - 64.0 * k).astype(np.intp)
    r = (x - n * (LN2_HI / 64)) - n * (LN2_LO / 64)  # the first difference is exact
    p = r + r * r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720)))))
    t_hi, t_lo = EXP2_HI[j], EXP2_LO[j]
    small = t_lo + t_hi * p
    hi = t_hi + small
    lo = (t_hi - hi) + small  # exact (|small| < |t_hi|): what hi's rounding lost
    half = np.floor(k * 0.5)  # 2^k in two exact halves: the second product rounds once
    first, second = _pow2(half), _pow2(k - half)
    return (hi * first) * second, (lo * first) * second


def _exp(x: Array) -> Array:
    """e**x of a 1-D float64 array (the public exp's arithmetic)."""
    result, _ = _exp_parts(x)
    return np.where(x > O_THRESHOLD, np.inf, np.where(x < U_THRESHOLD, 0.0, result))


def _split(a: Array) -> tuple[Array, Array]:
    """a = high + low, each with at most 26 significant bits (Veltkamp), so that a product
    of two highs or lows is exact."""
    c = 134217729.0 * a  # 2^27 + 1
    high = c - (c - a)
    return high, a - high


def _divide(n_hi: Array, n_lo: Array, d_hi: Array, d_lo: Array) -> Array:
    """(n_hi + n_lo)/(d_hi + d_lo) rounded once, to about 2^-100 before that rounding for
    operands of some 2^-100: the quotient's remainder is worked out exactly (the product
    q·d_hi as two floats, Dekker's way, without a fused multiply-add) and its quotient added."""
    q = n_hi / d_hi
    p = q * d_hi
    q1, q2 = _split(q)
    d1, d2 = _split(d_hi)
    error = ((q1 * d1 - p) + q1 * d2 + q2 * d1) + q2 * d2  # q·d_hi = p + error, exactly
    remainder = (n_hi - p) - error  # exact: p is within an ulp of n_hi
    return q + ((remainder + n_lo) - q * d_lo) / d_hi


def _expm1(x: Array) -> Array:
    """e**x - 1 of a 1-D float64 array (the public expm1's arithmetic)."""
    k = np.rint(np.fmax(np.fmin(x, 710.0), -40.0) * INV_LN2)  # 0 where |x| <= ln2/2
    hi = x - k * LN2_HI
    lo = k * LN2_LO
    r = hi - lo
    c = (hi - r) - lo  # what r lost in its rounding (0 where k is 0)
    hfx = 0.5 * r
    hxs = r * hfx
    r1 = 1.0 + hxs * (Q1 + hxs * (Q2 + hxs * (Q3 + hxs * (Q4 + hxs * Q5))))
    t = 3.0 - r1 * hfx
    e = hxs * ((r1 - t) / (6.0 - r * t))
    small = r - (r * e - hxs)  # k = 0
    e = (r * (e - c) - c) - hxs
    minus_one = 0.5 * (r - e) - 0.5  # k = -1
    one = np.where(r < -0.25, -2.0 * (e - (r + 0.5)), 1.0 + 2.0 * (r - e))  # k = 1
    # k <= -2 or k > 56: exp(x) - 1 as 2^k·(1 + r - e) - 1; 2 <= k < 20: 2^k·((1 - 2^-k)
    # + r - e); 20 <= k <= 56: 2^k·((r - (e + 2^-k)) + 1)
    power = _pow2(-np.fmin(np.fmax(k, -1022.0), 1022.0))  # 2^-k where it is used
    far = (k <= -2) | (k > 56)
    y = np.where(far, 1.0 - (e - r), np.where(k < 20, (1.0 - power) - (e - r),
                                              (r - (e + power)) + 1.0))
    y = _scale(y, k)
    y = np.where(far, y - 1.0, y)
    result = np.where(k == 0, small, np.where(k == -1, minus_one, np.where(k == 1, one, y)))
    result = np.where(np.abs(x) < 2.0**-54, x, result)
    return np.where(x > O_THRESHOLD, np.inf, np.where(x < EXPM1_FLOOR, -1.0, result))


def _log1p(x: Array) -> Array:
    """log(1 + x) of a 1-D float64 array (the public log1p's arithmetic)."""
    # Near 0 (-0.2929 < x < 0.4142, where 1 + x is within sqrt(2)^±1) f is x itself;
    # elsewhere 1 + x (x itself from 2^53 on) is split into 2^k·(1 + f).
    hx = x.view(np.int64) >> 32  # the high word, signed, as fdlibm reads it
    near = (hx < 0x3FDA827A) & ((hx > 0) | (hx <= np.int64(-0x402D413D)))  # int(0xbfd2bec3)
    u = np.where(x < TWO_53, 1.0 + x, x)
    bits = u.view(np.int64)
    k = ((bits >> 52) & 0x7FF) - 1023
    c = np.where(k > 0, 1.0 - (u - x), x - (u - 1.0)) / u  # the rounding error of 1 + x
    c = np.where(x >= TWO_53, 0.0, c)  # (a nan keeps its nan)
    hu = (bits >> 32) & 0xFFFFF
    up = hu >= 0x6A09E  # 1.41421... <= mantissa: halve it, count one more power of two
    k = k + up
    f = np.where(near, x, (((bits & 0xFFFFFFFFFFFFF) | np.where(up, 0x3FE << 52, 0x3FF << 52))
                           .view(np.float64)) - 1.0)
    kf = np.where(near, 0.0, k.astype(np.float64))
    c = np.where(near, 0.0, c)
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    big_r = z * (LP1 + z * (LP2 + z * (LP3 + z * (LP4 + z * (LP5 + z * (LP6 + z * LP7))))))
    result = np.where(near, f - (hfsq - s * (hfsq + big_r)),
                      kf * LN2_HI - ((hfsq - (s * (hfsq + big_r) + (kf * LN2_LO + c))) - f))
    result = np.where(np.abs(x) < 2.0**-29,
                      np.where(np.abs(x) < 2.0**-54, x, x - x * x * 0.5), result)
    result = np.where(x == np.inf, np.inf, result)
    return np.where(x < -1.0, np.nan, np.where(x == -1.0, -np.inf, result))


def _tanh(x: Array) -> Array:
    """tanh(x) of a 1-D float64 array (the public tanh's arithmetic)."""
    # (1 - E)/(1 + E) with E = e**(-2|x|) to some 2^-59: numerator and denominator kept
    # as two floats each, divided with one rounding. Below 1/16, where 1 - E would cancel,
    # the Taylor series to x^13 (the next term is under 2^-70 of x).
    e_hi, e_lo = _exp_parts(np.maximum(-2.0 * np.abs(x), -800.0))
    n_hi = 1.0 - e_hi
    n_lo = ((1.0 - n_hi) - e_hi) - e_lo
    d_hi = 1.0 + e_hi
    d_lo = ((1.0 - d_hi) + e_hi) + e_lo
    z = _divide(n_hi, n_lo, d_hi, d_lo)
    s = x * x
    series = x + x * (s * (-1 / 3 + s * (2 / 15 + s * (-17 / 315 + s * (
        62 / 2835 + s * (-1382 / 155925 + s * (21844 / 6081075)))))))
    z = np.where(x < 0.0, -z, z)
    return np.where(np.abs(x) < 0.0625, np.where(x == 0.0, x, series), z)  # (keeps -0.0)


def _sigmoid(x: Array) -> Array:
    """1/(1 + e**-x) of a 1-D float64 array (the public sigmoid's arithmetic)."""
    # With E = e**-|x| (to some 2^-59, as two floats): 1/(1 + E) for x >= 0, E/(1 + E)
    # below, divided with one rounding.
    e_hi, e_lo = _exp_parts(np.maximum(-np.abs(x), -800.0))
    d_hi = 1.0 + e_hi
    d_lo = ((1.0 - d_hi) + e_hi) + e_lo
    positive = x >= 0.0
    return _divide(np.where(positive, 1.0, e_hi), np.where(positive, 0.0, e_lo), d_hi, d_lo)


def _exp2_table() -> tuple[Array, Array]:
    """2^(j/64), j = 0..63, as hi + lo to 106 bits, from integers alone and Python's
    correctly rounded int division: the same on every machine (and checked against mpmath
    in the tests). In fixed point with 200 fractional bits: 2^(1/2), 2^(1/4), ... 2^(1/64)
    by integer square roots, each entry the product of those its j's bits name (a few
    units of 2^-200 off at most)."""
    bits = 200
    one = 1 << bits
    roots = []  # 2^(32/64), 2^(16/64), ..., 2^(1/64)
    root = 2 * one
    for _ in range(6):
        root = math.isqrt(root << bits)
        roots.append(root)
    hi, lo = [], []
    for j in range(64):
        value = one
        for place, factor in enumerate(reversed(roots)):  # 2^(1/64), 2^(2/64), ...
            if j >> place & 1:
                value = value * factor >> bits
        high = value / one  # correctly rounded
        hi.append(high)
        lo.append((value - (int(high * 2**52) << (bits - 52))) / one)
    return np.array(hi), np.array(lo)


EXP2_HI, EXP2_LO = _exp2_table()


# -- the public functions ------------------------------------------------------------------

def exp(x: Any) -> Array:
    """e**x, the same bits on every machine; at most 1 ulp from the correctly rounded value
    (nearly always the correctly rounded value itself)."""
    return _apply(_exp, x)


def expm1(x: Any) -> Array:
    """e**x - 1, with the digits of small x kept; the same bits on every machine, at most
    1 ulp from the correctly rounded value."""
    return _apply(_expm1, x)


def log1p(x: Any) -> Array:
    """log(1 + x), with the digits of small x kept; the same bits on every machine, at most
    1 ulp from the correctly rounded value."""
    return _apply(_log1p, x)


def tanh(x: Any) -> Array:
    """The hyperbolic tangent; the same bits on every machine, at most 1 ulp from the
    correctly rounded value (nearly always the correctly rounded value itself)."""
    return _apply(_tanh, x)


def sigmoid(x: Any) -> Array:
    """The logistic sigmoid 1/(1 + e**-x); the same bits on every machine, at most 1 ulp
    from the correctly rounded value (nearly always the correctly rounded value itself)."""
    return _apply(_sigmoid, x)


def _apply(function: Callable[[Array], Array], x: Any) -> Array:
    """``function`` on x's values, as a flat float64 array, its shape given back; compiled
    where numba is already loaded (see :func:`_compiled_version`). Overflow and nan in the
    branches not taken are expected: no warnings."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    if not flat.flags.c_contiguous:
        flat = np.ascontiguousarray(flat)
    run = _compiled_version(function) if _compiled.ready(False) else function
    with np.errstate(all="ignore"):
        return run(flat).reshape(x.shape)


# -- compiled, where numba is loaded ----------------------------------------------------------
#
# Once numba is loaded (by exact_dot's kernel: a product of some 10^4 multiplications, see
# steptrace.engine.compiled), each function is compiled from the same source as above, its
# helpers with it, and used from then on: some 10 times faster on small arrays (a 40-wide
# layer: 4 µs against 50). No fastmath, so every operation stays one IEEE operation in
# program order (no fused multiply-add, no reordering); the loop may be vectorized, which
# changes no element's arithmetic. On compiling, each must give numpy's bits on a probe of
# special values and every binade (_self_test), or it is not used (with a warning);
# tests/test_portable.py compares the two on 10^5 points.

_HELPERS = ("_pow2", "_scale", "_exp_parts", "_split", "_divide")
_versions: dict[str, Callable[[Array], Array]] = {}
_compiling = threading.Lock()


def _compiled_version(function: Callable[[Array], Array]) -> Callable[[Array], Array]:
    name = function.__name__
    version = _versions.get(name)
    if version is None:
        with _compiling:
            version = _versions.get(name)
            if version is None:
                version = _versions[name] = _compile(function)
    return version


def _compile(function: Callable[[Array], Array]) -> Callable[[Array], Array]:
    """numba's version of ``function``, or ``function`` itself where numba cannot compile it
    or its compiled version gives other bits."""
    import types

    def jit(f: Any, namespace: dict[str, Any]) -> Any:
        rebound = types.FunctionType(f.__code__, namespace, f.__name__, f.__defaults__)
        return _compiled.compile_cached(rebound)

    def make() -> Callable[[Array], Array]:
        namespace = dict(globals())  # the helpers the function calls, compiled too
        for helper in _HELPERS:
            namespace[helper] = jit(globals()[helper], namespace)
        made: Callable[[Array], Array] = jit(function, namespace)
        return made

    def same_bits(version: Callable[[Array], Array]) -> bool:
        probe = _probe()
        with np.errstate(all="ignore"):
            return version(probe).tobytes() == function(probe).tobytes()

    checked = _compiled.verified(make, same_bits, "its bits differed from numpy's (a fused "
                                 "multiply-add?)")
    version, reason = checked
    if version is not None:
        return version
    warnings.warn(f"steptrace: the compiled {function.__name__[1:]} is off ({reason}); "
                  "numpy computes it instead (the same bits, slower)", RuntimeWarning, stacklevel=3)
    return function


def _probe() -> Array:
    """Special values, and values across every binade and both signs."""
    random = np.random.RandomState(15)
    values = random.uniform(-1, 1, 4000) * 2.0 ** random.randint(-1080, 1024, 4000)
    edges = [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.0**-1022, 1.0, -1.0,
             0.0625, -0.0625, 22.0, 709.78, 710.0, -745.1, -746.0, -38.9, 2.0**53, -0.999]
    return np.concatenate([edges, values, random.uniform(-40, 40, 4000)])


__all__ = ["exp", "expm1", "log1p", "sigmoid", "tanh"]
