"""The exact mode's sums: left to right, term after term, whatever the shape, the layout
and the path (numpy's, or the compiled kernel of steptrace.engine.compiled where numba is)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from steptrace.engine import compiled
from steptrace.engine.arithmetic import (
    COMPILED_FROM,
    exact_dot,
    exact_dot_each,
    exact_total,
    reference_dot,
)
from tests.conftest import RunCli

#: The benchmark's products (B2, B2/100: 784-40-10) and shapes that reach every part of the
#: kernel: its 4 × 8 tiles, the leftover columns, the leftover rows, K = 1, n = 1.
SHAPES = [(1, 784, 40), (100, 784, 40), (784, 100, 40), (100, 40, 10), (40, 100, 10), (100, 10, 40),
          (1, 40, 10), (1, 10, 40), (784, 1, 40), (4, 40, 1), (1, 1000, 1), (100, 784, 1), (1, 3, 4),
          (7, 1, 5), (3, 2, 2), (1, 1, 1), (4, 2, 8), (5, 9, 9), (9, 14, 19), (8, 5, 16), (3, 7, 2)]

Array = NDArray[np.float64]


@pytest.fixture
def kernel() -> None:
    """Skip where numba is not installed or turned off, saying so; fail where it is
    installed but the kernel would not load (it did not compile, or failed its check)."""
    pytest.importorskip("numba", reason="numba is not installed (pip install steptrace[fast])")
    if not compiled.available():
        reason = compiled.unavailable_reason() or ""
        if "STEPTRACE_NUMBA" in reason:
            pytest.skip(f"the compiled kernel is {reason}")
        pytest.fail(f"numba is installed but the compiled kernel is off: {reason}")


@pytest.fixture(params=[False, True], ids=["numpy", "compiled"])
def forced(request: pytest.FixtureRequest) -> bool:
    """exact_dot's ``compiled=``: each path in turn (the compiled one where it can run)."""
    if request.param:
        request.getfixturevalue("kernel")
    path: bool = request.param
    return path


def assert_same_bits(mine: Array, definition: Array, where: object = "") -> None:
    """Bit for bit, except that a NaN is any NaN (traces write every NaN as "NaN")."""
    assert mine.shape == definition.shape and mine.dtype == definition.dtype, where
    nan = np.isnan(definition)
    assert np.array_equal(np.isnan(mine), nan), where
    assert mine[~nan].tobytes() == definition[~nan].tobytes(), where


def layouts(a: Array, b: Array) -> Iterator[tuple[str, Array, Array]]:
    """The same matrices laid out as the engine hands them over and otherwise: C, F
    (``layer_in.T``; ``weights.T``), strided views of bigger arrays, negative strides."""
    yield "C·C", a, b
    yield "F·C", np.asfortranarray(a), b
    yield "C·F", a, np.asfortranarray(b)  # delta · weights.T
    yield "F·F", np.asfortranarray(a), np.asfortranarray(b)
    wide_a = np.zeros((a.shape[0], 2 * a.shape[1]))
    wide_a[:, ::2] = a
    tall_b = np.zeros((2 * b.shape[0], b.shape[1] + 3))
    tall_b[::2, 1:-2] = b
    yield "strided", wide_a[:, ::2], tall_b[::2, 1:-2]
    yield "reversed", np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1], np.ascontiguousarray(b[::-1])[::-1]


def wide_operands(random: np.random.RandomState, m: int, k: int, n: int) -> tuple[Array, Array]:
    """Magnitudes from 1e-16 to 1e16 (a reordered sum or a fused multiply-add shows in
    the last bits), zeros of both signs as relu makes them."""
    a = random.standard_normal((m, k)) * 10.0 ** random.randint(-16, 17, (m, k))
    b = random.standard_normal((k, n)) * 10.0 ** random.randint(-8, 9, (k, n))
    a[random.random_sample((m, k)) < 0.3] = -0.0
    b[random.random_sample((k, n)) < 0.2] = 0.0
    return a, b


@pytest.mark.parametrize("seed", range(4))
def test_exact_dot_is_the_running_sum_bit_for_bit(seed: int, forced: bool) -> None:
    """Each path against the definition (accumulate), on shapes from a single product to
    the MNIST-sized layers of the benchmark, in every layout."""
    random = np.random.RandomState(seed)
    shapes = SHAPES + [(int(m), int(k), int(n)) for m, k, n in random.randint(1, 64, (30, 3))]
    for m, k, n in shapes:
        a, b = wide_operands(random, m, k, n)
        definition = reference_dot(a, b)
        assert m * k * n < 50 or np.count_nonzero(definition) > 0  # data, not zeros
        for layout, left, right in layouts(a, b):
            mine = exact_dot(left, right, compiled=forced)
            assert_same_bits(mine, definition, ((m, k, n), layout))
            assert mine.flags.c_contiguous, ((m, k, n), layout)


def test_exact_dot_with_weights_transposed_is_not_pairwise(forced: bool) -> None:
    """``delta · weights.T`` (the deltas' product) hands over b column-major: numpy summed
    such products pairwise along their contiguous axis before the products were laid out
    C-contiguous, from 8 terms on (B2's delta: 10 terms)."""
    random = np.random.RandomState(7)
    for m in (1, 100):
        delta = random.standard_normal((m, 10)) * 10.0 ** random.randint(-8, 9, (m, 10))
        weights = 0.2 * random.random_sample((40, 10)) - 0.1
        mine, definition = exact_dot(delta, weights.T, compiled=forced), reference_dot(delta, weights.T)
        assert_same_bits(mine, definition, m)
        pairwise = np.add.reduce(delta[:, :, np.newaxis] * weights.T[np.newaxis], axis=1)
        assert pairwise.tobytes() != definition.tobytes()  # the order this test guards against


def test_exact_sums_are_left_to_right_not_pairwise(forced: bool) -> None:
    """A sum whose value depends on the order: 1e16 + 1 + 1 + ... (left to right, every 1
    is lost), then -1e16; pairwise or BLAS orders keep some of the ones."""
    terms = np.array([1e16] + [1.0] * 15 + [-1e16])
    assert exact_total(terms.reshape(1, -1)) == 0.0
    column = exact_dot(terms.reshape(1, -1), np.ones((len(terms), 1)), compiled=forced)
    assert column[0, 0] == 0.0
    wide = exact_dot(terms.reshape(1, -1), np.ones((len(terms), 3)), compiled=forced)
    assert wide.tolist() == [[0.0, 0.0, 0.0]]
    block = exact_dot(np.tile(terms, (9, 1)), np.ones((len(terms), 19)), compiled=forced)
    assert block.tolist() == np.zeros((9, 19)).tolist()  # tiles and leftovers alike
    assert float(np.sum(terms)) != 0.0  # numpy's own pairwise sum keeps some of the ones


def test_no_fused_multiply_add(forced: bool) -> None:
    """s + x*y with the product rounded first: (1 + 2⁻³⁰)² = 1 + 2⁻²⁹ + 2⁻⁶⁰ rounds to
    1 + 2⁻²⁹, which cancels -(1 + 2⁻²⁹) exactly; a fused multiply-add keeps 2⁻⁶⁰. The last
    term of every sum at each position k % 4 of the unrolled loops, in tiles and leftovers."""
    x = 1.0 + 2.0**-30
    for depth in range(2, 11):
        a = np.zeros((9, depth))
        b = np.zeros((depth, 19))
        a[:, -2], b[-2, :] = -(1.0 + 2.0**-29), 1.0
        a[:, -1], b[-1, :] = x, x
        mine = exact_dot(a, b, compiled=forced)
        assert x * x - (1.0 + 2.0**-29) == 0.0
        assert mine.tolist() == np.zeros((9, 19)).tolist(), depth
        assert_same_bits(mine, reference_dot(a, b), depth)


def test_many_products_at_once_are_each_exact_dot_bit_for_bit() -> None:
    """exact_dot_each (the deltas carried back, a block of events at a time): each
    product the bits exact_dot makes of it alone, signed zeros, inf and NaN included."""
    random = np.random.RandomState(5)
    for m, k, n in [(1, 1, 4), (1, 4, 3), (3, 6, 1), (4, 5, 8), (2, 40, 10)]:
        pairs = [wide_operands(random, m, k, n) for _ in range(7)]
        pairs[1][0][0, :] = -0.0  # a sum of -0.0s (times numbers of no sign)
        pairs[1] = (pairs[1][0], np.abs(pairs[1][1]))
        pairs[2][0][-1, 0], pairs[2][1][0, -1] = np.inf, np.nan
        pairs[3][0][0, 0], pairs[3][1][0, 0] = np.inf, 0.0  # inf * 0: NaN
        a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        with np.errstate(invalid="ignore"):
            many = exact_dot_each(a, b)
            for i, (left, right) in enumerate(pairs):
                assert_same_bits(many[i], exact_dot(left, right), (m, k, n, i))
        assert many.shape == (7, m, n)
        assert np.signbit(many[1, 0]).all() and (many[1, 0] == 0.0).all()


def test_signed_zeros_inf_and_nan(forced: bool) -> None:
    """A sum of -0.0s is -0.0 (a sum starts from its first term, not from 0.0); inf and
    NaN propagate as IEEE says (inf - inf and 0 * inf are NaN), wherever they fall."""
    random, seen = np.random.RandomState(3), []
    for m, k, n in [(1, 784, 40), (100, 40, 10), (9, 14, 19), (4, 5, 8), (3, 6, 1), (6, 1, 6)]:
        a, b = wide_operands(random, m, k, n)
        for value in (np.inf, np.inf, -np.inf, np.nan):  # a few, so that not every sum is NaN
            a[random.randint(m), random.randint(k)] = value
            b[random.randint(k), random.randint(n)] = np.inf
        if m > 1:
            a[-1, :] = -0.0  # the last row's sums: -0.0 * finite terms, some 0.0, some -0.0
        a[0, :], b[:, 0] = np.abs(wide_operands(random, 1, k, 1)[0]), -0.0  # sums of -0.0s
        with np.errstate(invalid="ignore"):  # inf - inf, 0 * inf: NaN, as the engine allows
            mine, definition = exact_dot(a, b, compiled=forced), reference_dot(a, b)
        assert_same_bits(mine, definition, (m, k, n))
        assert mine[0, 0] == 0.0 and np.signbit(mine[0, 0]), (m, k, n)
        seen += [np.isnan(mine).sum(), np.isinf(mine).sum()]
    assert seen[0::2].count(0) <= 2 and seen[1::2].count(0) <= 2, seen  # NaN and inf results
    minus = -np.zeros((5, 12))
    assert np.signbit(exact_dot(minus, np.ones((12, 9)), compiled=forced)).all()
    assert np.signbit(exact_dot(np.ones((1, 12)), -np.zeros((12, 40)), compiled=forced)).all()


def test_the_kernel_and_numpy_give_the_same_bits(kernel: None) -> None:
    """exact_dot with the kernel forced on and forced off, on the benchmark's products
    in the layouts the engine makes (layer_in.T, weights.T)."""
    random = np.random.RandomState(11)
    for m, k, n in SHAPES:
        a, b = wide_operands(random, m, k, n)
        for layout, left, right in layouts(a, b):
            on, off = exact_dot(left, right, compiled=True), exact_dot(left, right, compiled=False)
            assert_same_bits(on, off, ((m, k, n), layout))
            assert m * k * n < 50 or np.count_nonzero(on) > 0  # data, not zeros


def test_the_kernel_takes_read_only_arrays_and_refuses_wrong_shapes(kernel: None) -> None:
    random = np.random.RandomState(5)
    a, b = random.standard_normal((6, 9)), random.standard_normal((9, 10))
    a.flags.writeable = b.flags.writeable = False
    assert_same_bits(compiled.exact_dot(a, b), reference_dot(a, b))
    with pytest.raises(ValueError, match="cannot multiply"):
        compiled.exact_dot(a, random.standard_normal((8, 10)))
    with pytest.raises(ValueError, match="cannot multiply"):
        compiled.exact_dot(np.ones((3, 0)), np.ones((0, 4)))


def test_the_compiled_code_has_no_fused_multiply_add(kernel: None) -> None:
    """The kernel as machine code (compiled afresh: numba shows no code it loaded from its
    cache) multiplies and adds apart; compiled with fused multiply-adds allowed (fastmath's
    ``contract``), its load-time check would refuse it."""
    import numba

    fresh = numba.njit(compiled.signature())(compiled._ordered_dot)
    code = "\n".join(fresh.inspect_asm().values()).lower()
    assert re.search(r"\bv?mul[ps]d\b|\bfmul\b", code), "no multiplication found: not x86 or ARM?"
    assert not re.search(r"fmadd|fmsub|fnmadd|fnmsub|fmla|fmls", code)
    contracted = numba.njit(compiled.signature(), fastmath={"contract"})(compiled._ordered_dot)
    if not re.search(r"fmadd|fmla", "\n".join(contracted.inspect_asm().values()).lower()):
        pytest.skip("this CPU has no fused multiply-add to catch")
    assert compiled._self_test(fresh)
    assert not compiled._self_test(contracted)


def test_exact_dot_loads_the_kernel_only_for_big_products(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below COMPILED_FROM multiplications nothing is loaded; from there on it is, where
    numba is installed; once loaded it takes every product."""
    monkeypatch.delenv("STEPTRACE_NUMBA", raising=False)
    tried: list[int] = []
    monkeypatch.setattr(compiled, "_kernel", None)
    monkeypatch.setattr(compiled, "_loaded", False)
    monkeypatch.setattr(compiled, "load", lambda: tried.append(1))  # returns None: "no numba"
    random = np.random.RandomState(2)
    small = random.standard_normal((4, 3)), random.standard_normal((3, 4))
    exact_dot(*small)
    below = COMPILED_FROM - 1  # multiplications in a (1, k) · (k, 1) product: k
    exact_dot(random.standard_normal((1, below)), random.standard_normal((below, 1)))
    assert tried == []
    big = random.standard_normal((1, COMPILED_FROM)), random.standard_normal((COMPILED_FROM, 1))
    assert_same_bits(exact_dot(*big), reference_dot(*big))  # numpy's path, after the attempt
    assert tried == [1]
    calls: list[tuple[int, ...]] = []

    def counted(a: Array, b: Array) -> Array:
        calls.append(a.shape)
        return np.zeros(1)

    monkeypatch.setattr(compiled, "_kernel", object())  # "loaded"
    monkeypatch.setattr(compiled, "exact_dot", counted)
    exact_dot(*small)
    exact_dot(np.ones((2, 1)), np.ones((1, 2)))  # an outer product too
    exact_dot(np.ones((2, 3), dtype=np.float32), np.ones((3, 2)))  # but not float32: numpy's
    assert calls == [(4, 3), (2, 1)]


def test_steptrace_numba_0_turns_the_kernel_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """numba or not, STEPTRACE_NUMBA=0 leaves exact mode to numpy, with the same bits."""
    for name in ("_kernel", "_failure", "_tile"):
        monkeypatch.setattr(compiled, name, getattr(compiled, name))
    monkeypatch.setattr(compiled, "_kernel", None)
    monkeypatch.setattr(compiled, "_loaded", False)
    monkeypatch.setenv("STEPTRACE_NUMBA", "0")
    assert not compiled.ready(True)
    assert compiled.unavailable_reason() == "turned off by STEPTRACE_NUMBA=0"
    random = np.random.RandomState(4)
    a, b = random.standard_normal((100, 784)), random.standard_normal((784, 40))
    assert_same_bits(exact_dot(a, b), reference_dot(a, b))
    with pytest.raises(RuntimeError, match="STEPTRACE_NUMBA=0"):
        exact_dot(a, b, compiled=True)


def test_without_numba_exact_mode_uses_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """As where numba is not installed: the import fails, the reason says so, the bits
    are the same."""
    for name in ("_kernel", "_failure", "_tile"):
        monkeypatch.setattr(compiled, name, getattr(compiled, name))
    monkeypatch.setattr(compiled, "_kernel", None)
    monkeypatch.setattr(compiled, "_loaded", False)
    monkeypatch.delenv("STEPTRACE_NUMBA", raising=False)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    random = np.random.RandomState(6)
    a, b = random.standard_normal((100, 784)), random.standard_normal((784, 40))
    assert_same_bits(exact_dot(a, b), reference_dot(a, b))
    assert not compiled.available()
    assert "numba is not installed" in (compiled.unavailable_reason() or "")


def test_the_book_networks_never_import_numba() -> None:
    """The CLI's small runs do not pay numba's import (~0.5-1 s): the book's networks,
    exact mode, in a fresh interpreter; then one MNIST-sized product does import it
    (where numba is installed)."""
    script = textwrap.dedent("""
        import sys, tempfile
        from pathlib import Path
        import numpy as np
        from steptrace.plugins.loading import load_plugins
        from steptrace.recording import record
        from steptrace.plugins.registry import Registry
        registry = Registry.load(load_plugins(entry_points=False))
        with tempfile.TemporaryDirectory() as tmp:
            for name in ["ch03-multi-input-multi-output", "ch05-multi-input-multi-output-one-step",
                         "ch06-streetlights-backprop", "streetlights-full-gd", "streetlights-minibatch"]:
                config = registry.experiment(name)
                assert config.arithmetic == "exact", name
                record(config, registry, Path(tmp) / "trace.jsonl")
        print("numba" in sys.modules)
        from importlib.util import find_spec
        from steptrace.engine.arithmetic import exact_dot
        exact_dot(np.ones((1, 784)), np.ones((784, 40)))
        print("numba" in sys.modules, find_spec("numba") is not None)
    """)
    env = {key: value for key, value in os.environ.items() if key != "STEPTRACE_NUMBA"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    before, after, installed = done.stdout.split()
    assert before == "False"
    assert after == installed


def test_a_kernel_that_fails_its_self_check_is_one_warning_line_and_numpy_runs(
        monkeypatch: pytest.MonkeyPatch, run_cli: RunCli, tmp_path: Path) -> None:
    """A numba whose machine code would not give the exact order's bits (here: a self-check
    made to fail) is not used: `record` says so in one line and still records exactly."""
    pytest.importorskip("numba", reason="numba is not installed (pip install steptrace[fast])")
    for name in ("_kernel", "_failure", "_tile", "_loaded"):
        monkeypatch.setattr(compiled, name, getattr(compiled, name))
    monkeypatch.setattr(compiled, "_kernel", None)
    monkeypatch.setattr(compiled, "_loaded", False)
    monkeypatch.delenv("STEPTRACE_NUMBA", raising=False)
    monkeypatch.setattr(compiled, "_self_test", lambda kernel: False)
    random = np.random.RandomState(0)
    config = {"name": "wide", "layers": [120, 90, 2], "nonlinearities": ["relu", "linear"],
              "seed": 1, "alpha": 0.01, "iterations": 1,
              "inputs": random.random_sample((3, 120)).tolist(), "goals": [[1.0, 0.0]] * 3}
    experiment = tmp_path / "wide.json"
    experiment.write_text(json.dumps(config))
    result = run_cli("record", experiment, "-o", tmp_path / "wide.jsonl")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: the compiled exact kernel is off (its result differed from the exact order's "
        "(a fused multiply-add?)); exact mode uses numpy instead (the same bits, slower)"]
    assert compiled._kernel is None
    assert run_cli("replay", tmp_path / "wide.jsonl").exit_code == 0


@pytest.mark.parametrize("mode", ["exact", "blas"])
def test_a_stack_of_products_is_each_product_bit_for_bit(mode: str) -> None:
    """``dot_each`` (and ``formulas.backs``, which the literate view narrates a chunk's
    hidden deltas with) give each pair of a stack the bits the arithmetic's ``dot`` (and
    ``formulas.back``) give it alone: shapes of one row to several, one term to many,
    zeros of both signs, inf and NaN."""
    from steptrace.engine.arithmetic import ARITHMETIC
    from steptrace.engine.formulas import back, backs

    arithmetic = ARITHMETIC[mode]
    random = np.random.RandomState(11)
    with np.errstate(all="ignore"):  # (inf and NaN as a diverged run has them)
        stacks_are_each_product(arithmetic, random, back, backs)
    if mode == "exact":  # the order: left to right, every 1 lost against 1e16
        terms = np.array([1e16] + [1.0] * 15 + [-1e16])
        stack = arithmetic.dot_each(np.tile(terms, (3, 1, 1)), np.ones((3, len(terms), 2)))
        assert stack.tolist() == [[[0.0, 0.0]]] * 3


def stacks_are_each_product(arithmetic: Any, random: np.random.RandomState, back: Any,
                            backs: Any) -> None:
    for s, m, k, n in [(1, 1, 1, 4), (36, 1, 1, 4), (36, 1, 4, 1), (5, 1, 10, 40), (7, 3, 9, 5),
                       (4, 2, 1, 1), (9, 1, 16, 3)]:
        a = np.stack([wide_operands(random, m, k, n)[0] for _ in range(s)])
        b = np.stack([wide_operands(random, m, k, n)[1] for _ in range(s)])
        a.flat[::7] = np.inf
        b.flat[::11] = np.nan
        made = arithmetic.dot_each(a, b)
        assert made.shape == (s, m, n)
        for i in range(s):
            assert_same_bits(made[i], arithmetic.dot(a[i], b[i]), (s, m, k, n, i))
        weights = np.ascontiguousarray(b.transpose(0, 2, 1))  # (s, n, k): weights_k_{k+1}
        carried = backs(arithmetic.dot_each, a, weights)
        for i in range(s):
            assert_same_bits(carried[i], back(arithmetic.dot, a[i], weights[i]), (s, m, k, n, i))
