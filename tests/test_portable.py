"""steptrace.portable: within 1 ulp of the correctly rounded value on over 10^6 points per
function (mpmath the oracle), C99's special values, and the same bits compiled as not.

The accuracy test is the slow one here (some 10-20 µs of mpmath a point, on two
processes: about a minute in all); ``STEPTRACE_ULP_POINTS`` sets the points per function
(default 1,000,000) for a quicker look."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pytest

from steptrace import portable
from steptrace.engine import compiled

mpmath: Any = pytest.importorskip("mpmath", reason="pip install mpmath (the test extra)")

POINTS = int(os.environ.get("STEPTRACE_ULP_POINTS", "1000000"))
SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.0**-1022, -(2.0**-1022),
            np.finfo(np.float64).max, -np.finfo(np.float64).max, 1.0, -1.0]
#: where each function's arithmetic changes course (thresholds, branch edges), probed closely
EDGES = {
    "exp": [portable.O_THRESHOLD, portable.U_THRESHOLD, -708.3964185322641, 0.0,
            math.log(2) / 128, -math.log(2) / 128],
    "expm1": [portable.EXPM1_FLOOR, math.log(2) / 2, -math.log(2) / 2, 1.5 * math.log(2),
              -1.5 * math.log(2), 0.0, portable.O_THRESHOLD, 20 * math.log(2), 56 * math.log(2)],
    "log1p": [-1.0, -0.2928932188134524, 0.41421356237309503, 2.0**53, 2.0**-29, -(2.0**-29),
              2.0**-54, 0.0, 1.0],
    "tanh": [0.0625, -0.0625, 22.0, -22.0, 0.0, 1.0, -1.0, 19.06],
    "sigmoid": [0.0, -745.1332191019411, -708.3964185322641, 36.7368005696771, 37.5, -37.5],
}
#: the dense region of each: where the function is neither 0, ±1, nor overflowing
REGION = {"exp": (-746.0, 710.0), "expm1": (-40.0, 710.0), "log1p": (-1.0, 10.0),
          "tanh": (-25.0, 25.0), "sigmoid": (-750.0, 40.0)}
FUNCTIONS: dict[str, Callable[[Any], np.ndarray[Any, Any]]] = {
    "exp": portable.exp, "expm1": portable.expm1, "log1p": portable.log1p,
    "tanh": portable.tanh, "sigmoid": portable.sigmoid}


def points(name: str, count: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """``count`` arguments for ``name``: 30% over every binade of either sign (subnormals
    and the largest doubles included), 60% uniform over its region, 10% within a few
    thousand ulps of its edges, and the special values."""
    random = np.random.RandomState(sum(map(ord, name)))
    wide = count * 3 // 10
    edges = EDGES[name]
    near = count // 10 // len(edges)
    dense = count - wide - near * len(edges) - len(SPECIALS)
    mantissa = random.uniform(1.0, 2.0, wide) * random.choice([-1.0, 1.0], wide)
    parts = [np.ldexp(mantissa, random.randint(-1074, 1024, wide)),
             random.uniform(*REGION[name], dense), np.array(SPECIALS)]
    for edge in edges:  # edge ± up to 2000 ulps (and the edge itself)
        steps = random.randint(-2000, 2001, near)
        parts.append(edge + (np.spacing(np.float64(edge)) if edge else 5e-324) * steps)
    return np.concatenate(parts)


def correctly_rounded(value: Any) -> float:
    """The double nearest ``value`` (an mpf), subnormals rounded on their own grid."""
    if mpmath.isnan(value):
        return math.nan
    if mpmath.isinf(value):
        return math.inf if value > 0 else -math.inf
    if abs(value) < mpmath.mpf(2) ** -1022:
        return float(mpmath.nint(value * mpmath.mpf(2) ** 1074)) * 2.0**-1074
    with mpmath.workprec(53):
        rounded = +value
    return math.copysign(math.inf, rounded) if abs(rounded) >= mpmath.mpf(2) ** 1024 else float(rounded)


def reference(name: str, x: float) -> float:
    """The correctly rounded value of ``name`` at ``x``, from mpmath at 130 bits."""
    mpmath.mp.prec = 130
    if math.isnan(x):
        return math.nan
    argument = mpmath.mpf(x)
    if name == "exp":
        return correctly_rounded(mpmath.exp(argument))
    if name == "expm1":
        return correctly_rounded(mpmath.expm1(argument))
    if name == "log1p":
        if x < -1:
            return math.nan
        return -math.inf if x == -1 else correctly_rounded(mpmath.log1p(argument))
    if name == "tanh":
        return correctly_rounded(mpmath.tanh(argument))
    return correctly_rounded(1 / (1 + mpmath.exp(-argument)))


def references(job: tuple[str, list[float]]) -> list[float]:
    name, values = job
    return [reference(name, x) for x in values]


def ulps_apart(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """How many doubles lie between a and b (0: equal; ±0.0 count as equal here, their
    signs are checked in test_the_special_values), -1 where one is nan and the other not."""
    def ordered(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        bits = np.where(x == 0, 0.0, x).view(np.int64)
        return np.where(bits < 0, np.int64(-(2**63)) - bits, bits)
    first, second = ordered(a), ordered(b)
    # (of one sign, the integers' difference is exact; of two, there are many doubles apart)
    apart = np.where((first < 0) == (second < 0), np.abs(first - second).astype(np.float64),
                     np.abs(first.astype(np.float64)) + np.abs(second.astype(np.float64)))
    both_nan, one_nan = np.isnan(a) & np.isnan(b), np.isnan(a) ^ np.isnan(b)
    return np.where(both_nan, 0, np.where(one_nan, -1, apart))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_value_is_within_one_ulp_of_the_correctly_rounded_one(name: str) -> None:
    x = points(name, POINTS)
    assert len(x) == POINTS
    mine = FUNCTIONS[name](x)
    chunks = [(name, chunk.tolist()) for chunk in np.array_split(x, 16)]
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        exact = np.array([value for part in pool.map(references, chunks) for value in part])
    apart = ulps_apart(mine, exact)
    worst = int(np.argmax(np.where(apart < 0, np.inf, apart)))
    assert not (apart < 0).any(), f"{name}: nan where the value is not (or not where it is)"
    assert apart.max() <= 1, (f"{name}({x[worst]!r}) = {mine[worst]!r}, correctly rounded "
                              f"{exact[worst]!r}: {apart.max():.0f} ulps apart")
    # nearly always the correctly rounded value itself (fdlibm's expm1 and log1p: < 1 ulp)
    assert (apart == 0).mean() > (0.99 if name in ("exp", "tanh", "sigmoid") else 0.9)


@pytest.mark.parametrize(("name", "x", "expected"), [
    ("exp", 0.0, 1.0), ("exp", -0.0, 1.0), ("exp", np.inf, np.inf), ("exp", -np.inf, 0.0),
    ("exp", 710.0, np.inf), ("exp", -746.0, 0.0), ("exp", 1.0, math.e),
    ("expm1", 0.0, 0.0), ("expm1", -0.0, -0.0), ("expm1", np.inf, np.inf),
    ("expm1", -np.inf, -1.0), ("expm1", -40.0, -1.0), ("expm1", 5e-324, 5e-324),
    ("log1p", 0.0, 0.0), ("log1p", -0.0, -0.0), ("log1p", -1.0, -np.inf), ("log1p", -2.0, np.nan),
    ("log1p", np.inf, np.inf), ("log1p", -np.inf, np.nan), ("log1p", 5e-324, 5e-324),
    ("tanh", 0.0, 0.0), ("tanh", -0.0, -0.0), ("tanh", np.inf, 1.0), ("tanh", -np.inf, -1.0),
    ("tanh", 22.0, 1.0), ("tanh", -5e-324, -5e-324),
    ("sigmoid", 0.0, 0.5), ("sigmoid", -0.0, 0.5), ("sigmoid", np.inf, 1.0),
    ("sigmoid", -np.inf, 0.0), ("sigmoid", 40.0, 1.0), ("sigmoid", -746.0, 0.0),
])
def test_the_special_values(name: str, x: float, expected: float) -> None:
    """C99's values at the edges, zeros' signs included; nan in, nan out."""
    got = FUNCTIONS[name](np.array([x, np.nan]))
    assert got[0].tobytes() == np.float64(expected).tobytes() or (np.isnan(got[0]) and np.isnan(expected))
    assert np.isnan(got[1])


def test_shapes_and_inputs_are_taken_as_numpy_takes_them() -> None:
    assert portable.tanh(0.5).shape == ()
    assert portable.sigmoid([[0.0, 1.0], [2.0, 3.0]]).shape == (2, 2)
    column = np.arange(6.0).reshape(2, 3).T  # not C-contiguous
    assert portable.exp(column).tobytes() == portable.exp(column.copy()).tobytes()
    assert portable.log1p(np.array([], dtype=np.float64)).shape == (0,)
    readonly = np.linspace(-2, 2, 9)
    readonly.flags.writeable = False
    assert portable.tanh(readonly).tobytes() == portable.tanh(readonly.copy()).tobytes()


def test_the_table_of_powers_of_two_is_exact_to_106_bits() -> None:
    mpmath.mp.prec = 200
    for j, (high, low) in enumerate(zip(portable.EXP2_HI, portable.EXP2_LO, strict=True)):
        true = mpmath.power(2, mpmath.mpf(j) / 64)
        assert float(true) == high  # high is the correctly rounded value
        assert abs(mpmath.mpf(high) + mpmath.mpf(low) - true) < mpmath.mpf(2) ** -105


def test_the_compiled_versions_give_numpys_bits() -> None:
    """Where numba is loaded each function runs compiled from the same source: the same bits
    as numpy runs it, on 10^5 points of every kind."""
    if not compiled.available():
        pytest.skip(f"the compiled path is off: {compiled.unavailable_reason()}")
    for name, function in FUNCTIONS.items():
        x = points(name, 100_000)
        core = getattr(portable, f"_{name}")
        with np.errstate(all="ignore"):
            by_numpy = core(x)
        assert function(x).tobytes() == by_numpy.tobytes(), name
        assert portable._versions[f"_{name}"] is not core, f"{name} did not compile"


if __name__ == "__main__":  # python -m tests.test_portable: the table in the README
    print(f"{'function':<9} {'points':>9} {'max ulps':>9} {'correctly rounded':>18}")
    for name, function in FUNCTIONS.items():
        x = points(name, POINTS)
        jobs = [(name, chunk.tolist()) for chunk in np.array_split(x, 16)]
        with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
            exact = np.array([value for part in pool.map(references, jobs) for value in part])
        apart = ulps_apart(function(x), exact)
        print(f"{name:<9} {len(x):>9,} {apart.max():>9.0f} {(apart == 0).mean():>17.4%}")
