"""steptrace against computations that share none of its code.

- exact mode against a plain-Python loop (tests/reference.py): bit for bit, for every
  built-in experiment, including full and mini-batch gradient descent, for which the
  book prints no numbers;
- blas mode against the book's own numpy loop, within a relative 1e-12;
- the seeded initial weights against the values stored with the book's outputs.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest

from steptrace.config import ExperimentConfig
from steptrace.engine.network import initial_weights
from steptrace.engine.plan import Plan
from steptrace.recording import run
from steptrace.trace.events import EpochEndEvent, Event, UpdateEvent
from tests import reference
from tests.conftest import book_cells, builtin_registry, present

REGISTRY = builtin_registry()
BUILTINS = sorted(REGISTRY.experiments)


def bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


def record(config: ExperimentConfig) -> tuple[Plan, list[float], list[list[list[float]]]]:
    plan = REGISTRY.resolve(config)
    errors: list[float] = []
    final: dict[int, list[list[float]]] = {}

    def keep(event: Event) -> None:
        if isinstance(event, EpochEndEvent):
            assert event.error is not None
            errors.append(event.error)
        elif isinstance(event, UpdateEvent):
            assert event.weights is not None
            final[event.layer] = [list(row) for row in event.weights]

    run(config, plan, keep)
    return plan, errors, [final[k] for k in sorted(final)]


GRADIENT_DESCENT = [name for name in BUILTINS if REGISTRY.experiment(name).train
                    and REGISTRY.experiment(name).strategy.name != "hot_and_cold"]
FORWARD_ONLY = [name for name in BUILTINS if not REGISTRY.experiment(name).train]


def test_every_builtin_is_checked_by_a_reference() -> None:
    assert sorted([*GRADIENT_DESCENT, *FORWARD_ONLY, "ch04-hot-and-cold-learning"]) == BUILTINS
    assert len(FORWARD_ONLY) == 11


@pytest.mark.parametrize("name", GRADIENT_DESCENT)
def test_exact_mode_equals_plain_python_bit_for_bit(name: str) -> None:
    config = REGISTRY.experiment(name)
    assert config.arithmetic == "exact"
    plan, errors, weights = record(config)
    assert config.goals is not None
    ref_errors, ref_weights = reference.train(
        [list(r) for r in config.inputs], [list(r) for r in config.goals],
        [w.tolist() for w in initial_weights(config)], config.nonlinearities, config.alpha,
        config.iterations, plan.batches, ascent=config.delta == "goal - prediction",
        frozen=config.frozen)
    assert len(errors) == config.iterations
    assert bits(errors) == bits(ref_errors)
    for mine, theirs in zip(weights, ref_weights, strict=True):
        assert bits([x for row in mine for x in row]) == bits([x for row in theirs for x in row])


@pytest.mark.parametrize("name", ["streetlights-full-gd", "streetlights-minibatch"])
def test_batched_strategies_learn(name: str) -> None:
    """The strategies the book prints no numbers for: errors fall by orders of magnitude."""
    _, errors, _ = record(REGISTRY.experiment(name))
    assert errors[0] > 0.1
    assert errors[-1] < 1e-5
    assert errors[-1] < errors[len(errors) // 2] < errors[0]


def book_numpy_loop(strategy: str, iterations: int = 60, batch_size: int = 2) -> list[float]:
    """The book's ch. 6 cell, verbatim but for the batching (np.dot: BLAS order)."""
    random = np.random.RandomState(1)
    streetlights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]])
    walk_vs_stop = np.array([[1, 1, 0, 0]]).T
    alpha, hidden_size = 0.2, 4
    weights_0_1 = 2 * random.random_sample((3, hidden_size)) - 1
    weights_1_2 = 2 * random.random_sample((hidden_size, 1)) - 1
    size = {"stochastic": 1, "full": 4, "minibatch": batch_size}[strategy]
    errors = []
    for _ in range(iterations):
        layer_2_error = 0
        for i in range(0, len(streetlights), size):
            layer_0 = streetlights[i:i + size]
            layer_1 = (np.dot(layer_0, weights_0_1) > 0) * np.dot(layer_0, weights_0_1)
            layer_2 = np.dot(layer_1, weights_1_2)
            layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i + size]) ** 2)
            layer_2_delta = layer_2 - walk_vs_stop[i:i + size]
            layer_1_delta = layer_2_delta.dot(weights_1_2.T) * (layer_1 > 0)
            n = len(layer_0)
            weight_delta_1_2 = layer_1.T.dot(layer_2_delta)
            weight_delta_0_1 = layer_0.T.dot(layer_1_delta)
            weights_1_2 -= alpha * (weight_delta_1_2 / n if n > 1 else weight_delta_1_2)
            weights_0_1 -= alpha * (weight_delta_0_1 / n if n > 1 else weight_delta_0_1)
        errors.append(float(layer_2_error))
    return errors


@pytest.mark.parametrize(("name", "strategy", "iterations"), [
    ("ch06-streetlights-backprop", "stochastic", 60),
    ("streetlights-full-gd", "full", 300),
    ("streetlights-minibatch", "minibatch", 300),
])
def test_blas_mode_agrees_with_the_books_numpy_loop(name: str, strategy: str, iterations: int) -> None:
    config = REGISTRY.experiment(name).model_copy(update={"arithmetic": "blas"})
    _, errors, _ = record(config)
    expected = book_numpy_loop(strategy, iterations)
    np.testing.assert_allclose(errors, expected, rtol=1e-12, atol=0)


def test_exact_and_blas_modes_agree_within_1e_12() -> None:
    config = REGISTRY.experiment("ch06-streetlights-backprop")
    _, exact, exact_weights = record(config)
    _, blas, blas_weights = record(config.model_copy(update={"arithmetic": "blas"}))
    np.testing.assert_allclose(blas, exact, rtol=1e-12, atol=0)
    for a, b in zip(exact_weights, blas_weights, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)


def test_seeded_initial_weights_are_the_books() -> None:
    cell = book_cells(6)["ch06-streetlights-backprop"]
    stored = cell["initial_weights_seed1"]
    weights = initial_weights(REGISTRY.experiment("ch06-streetlights-backprop"))
    assert weights[0].tolist() == stored["weights_0_1"]
    assert weights[1].tolist() == stored["weights_1_2"]


def random_config(layers: list[int], nonlinearities: list[str], strategy: str | dict[str, Any], seed: int,
                  alpha: float = 0.05, iterations: int = 5) -> ExperimentConfig:
    data = np.random.RandomState(seed + 100)
    n = 7
    return ExperimentConfig.model_validate({
        "name": "random", "layers": layers, "nonlinearities": nonlinearities, "seed": seed,
        "alpha": alpha, "iterations": iterations, "strategy": strategy,
        "inputs": data.random_sample((n, layers[0])).round(3).tolist(),
        "goals": data.random_sample((n, layers[-1])).round(3).tolist(),
    })


DEEP = [
    ([3, 5, 4, 2], ["relu", "relu", "linear"], "stochastic"),
    ([2, 6, 3, 3, 1], ["relu", "relu", "relu", "linear"], {"name": "minibatch", "batch_size": 3}),
    ([4, 8, 2], ["relu", "relu"], "full"),
    ([1, 1], ["linear"], "stochastic"),
]


@pytest.mark.parametrize(("layers", "nonlinearities", "strategy"), DEEP)
@pytest.mark.parametrize("seed", [0, 7])
def test_deeper_networks_equal_plain_python_bit_for_bit(layers: list[int], nonlinearities: list[str],
                                                        strategy: str | dict[str, Any], seed: int) -> None:
    config = random_config(layers, nonlinearities, strategy, seed)
    plan, errors, weights = record(config)
    assert config.goals is not None
    ref_errors, ref_weights = reference.train(
        [list(r) for r in config.inputs], [list(r) for r in config.goals],
        [w.tolist() for w in initial_weights(config)], config.nonlinearities, config.alpha,
        config.iterations, plan.batches)
    assert bits(errors) == bits(ref_errors)
    for mine, theirs in zip(weights, ref_weights, strict=True):
        assert bits([x for row in mine for x in row]) == bits([x for row in theirs for x in row])


@pytest.mark.parametrize("nonlinearities", [["sigmoid", "linear"], ["tanh", "sigmoid"],
                                            ["tanh", "tanh"]])
def test_sigmoid_and_tanh_match_plain_python_closely(nonlinearities: list[str]) -> None:
    config = random_config([3, 4, 2], nonlinearities, "stochastic", seed=3, alpha=0.5,
                           iterations=20)
    plan, errors, weights = record(config)
    assert config.goals is not None
    ref_errors, ref_weights = reference.train(
        [list(r) for r in config.inputs], [list(r) for r in config.goals],
        [w.tolist() for w in initial_weights(config)], config.nonlinearities, config.alpha,
        config.iterations, plan.batches)
    np.testing.assert_allclose(errors, ref_errors, rtol=1e-12)
    assert errors[-1] < errors[0]
    for mine, theirs in zip(weights, ref_weights, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", FORWARD_ONLY)
def test_forward_only_runs_equal_plain_python_bit_for_bit(name: str) -> None:
    config = REGISTRY.experiment(name)
    events: list[Event] = []
    run(config, REGISTRY.resolve(config), events.append)
    last = len(config.layers) - 1
    outputs = [e.layer_out[0] for e in events if e.kind == "forward" and e.layer == last]
    expected = reference.predict([list(r) for r in config.inputs],
                                 [w.tolist() for w in initial_weights(config)],
                                 config.nonlinearities)
    assert [bits(list(o)) for o in outputs] == [bits(o) for o in expected]
    assert {e.kind for e in events} <= {"forward", "error", "epoch_end"}
    errors = [e.error for e in events if e.kind == "error"]
    if config.goals is not None:
        assert bits(errors) == bits([sum((p - g) * (p - g) for p, g in zip(o, goal, strict=True))
                                     for o, goal in zip(expected, config.goals, strict=True)])
    else:
        assert errors == []


def test_hot_and_cold_equals_the_books_loop_bit_for_bit() -> None:
    config = REGISTRY.experiment("ch04-hot-and-cold-learning")
    _, errors, weights = record(config)
    ref_errors, ref_weight = reference.hot_and_cold(0.5, 0.5, 0.8, 0.001, 1101)
    assert bits(errors) == bits(ref_errors)
    assert bits([weights[0][0][0]]) == bits([ref_weight])
    assert errors[-1] < 1e-26 < errors[0]


def test_a_frozen_weight_never_moves_and_the_error_still_falls() -> None:
    config = REGISTRY.experiment("ch05-freeze-one-weight")
    events: list[Event] = []
    run(config, REGISTRY.resolve(config), events.append)
    updates = [e for e in events if isinstance(e, UpdateEvent)]
    assert len(updates) == 3
    assert all(present(u.weights)[0][0] == 0.1 and present(u.weight_delta)[0][0] == 0.0 for u in updates)
    assert present(updates[-1].weights)[1][0] != 0.2
    errors = [e.error for e in events if e.kind == "error"]
    assert errors[0] > errors[1] > errors[2]
