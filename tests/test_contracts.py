"""The built-in rules pass the same contract checks the kit gives plugin authors."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from steptrace.engine.rules import Nonlinearity, Strategy
from steptrace.testing import check_nonlinearity, check_strategy
from tests.conftest import builtin_registry

REGISTRY = builtin_registry()


@pytest.mark.parametrize("name", ["linear", "relu", "sigmoid", "tanh"])
def test_builtin_nonlinearity_passes_the_derivative_check(name: str) -> None:
    checked = check_nonlinearity(REGISTRY.nonlinearity(name))
    assert checked == (80 if name == "relu" else 81)  # relu's kink at 0 is skipped


@pytest.mark.parametrize(("name", "options"), [
    ("stochastic", {}), ("full", {}), ("minibatch", {"batch_size": 2}),
    ("minibatch", {"batch_size": 3}), ("hot_and_cold", {"step_amount": 0.01}),
])
def test_builtin_strategy_passes_the_contract(name: str, options: dict[str, Any]) -> None:
    check_strategy(REGISTRY.strategy(name), options)


def test_the_derivative_check_catches_a_wrong_derivative() -> None:
    wrong = Nonlinearity("bad_sigmoid", lambda x: 1 / (1 + np.exp(-x)),
                         lambda out: out * (1 - out) * 1.001, "1/(1+exp(-x))", "wrong")
    with pytest.raises(AssertionError, match=re.escape(
            "bad_sigmoid: derivative 'wrong' from the output disagrees with finite differences "
            "at x = 0.0: 0.25025 vs 0.25000000003")):
        check_nonlinearity(wrong)


def test_the_derivative_check_catches_a_derivative_of_the_input() -> None:
    """The classic mistake: tanh's derivative written from x, not from the output."""
    from_input = Nonlinearity("tanh_from_x", np.tanh, lambda x: 1 - np.tanh(x) ** 2,
                              "tanh(x)", "1 - tanh(output)**2")
    with pytest.raises(AssertionError, match="tanh_from_x"):
        check_nonlinearity(from_input)


def test_the_strategy_check_catches_a_sample_seen_twice() -> None:
    greedy = Strategy("greedy", lambda n, options: [[0]] + [[i] for i in range(n)])
    with pytest.raises(AssertionError, match="must visit each once"):
        check_strategy(greedy)


def test_the_strategy_check_catches_a_nondeterministic_plan() -> None:
    rng = np.random.default_rng()
    shuffled = Strategy("shuffled", lambda n, options: [[int(i)] for i in rng.permutation(n)])
    with pytest.raises(AssertionError, match="not deterministic"):
        check_strategy(shuffled, sizes=(8,))
