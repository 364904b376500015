"""The engine alone: one step of the book's algorithm, returned in the book's names; the
default learning rule and a strategy's own take the same path."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from steptrace.engine.network import Network, Step, initial_weights, training_data
from steptrace.engine.plan import Plan
from steptrace.engine.rules import Array, Learned, LearningStep, Strategy, gradient_descent
from steptrace.recording import run
from steptrace.trace.events import Event
from tests.conftest import builtin_registry, present

REGISTRY = builtin_registry()


def steps_of(name: str, learn: Callable[[LearningStep], Learned] | None = None,
             **changes: object) -> tuple[Network, list[Step]]:
    """Train an experiment, keeping a copy of every step (its weights are the network's,
    which the next step updates in place)."""
    config = REGISTRY.experiment(name).model_copy(update=changes)
    plan = REGISTRY.resolve(config)
    if learn is not None:
        plan = Plan(plan.nonlinearities, Strategy("own", plan.strategy.plan, learn=learn),
                    plan.batches)
    network = Network.from_config(config, plan)
    steps: list[Step] = []

    def keep(epoch: int, samples: tuple[int, ...], step: Step) -> None:
        steps.append(step._replace(weights=tuple(w.copy() for w in step.weights)))

    network.train(*training_data(config), config.iterations, keep)
    return network, steps


def test_a_step_is_the_books_cell_line_for_line() -> None:
    """The first step of ch. 6's backprop (blas: np.dot, as the book), against the book's
    cell written out: every value, bit for bit, under its name in the book."""
    _, steps = steps_of("ch06-streetlights-backprop", arithmetic="blas")
    config = REGISTRY.experiment("ch06-streetlights-backprop")
    weights_0_1, weights_1_2 = initial_weights(config)
    streetlights, walk_vs_stop = config.inputs.array, present(config.goals).array
    alpha, i = config.alpha, 0

    def relu(x: Array) -> Array:
        return (x > 0) * x

    def relu2deriv(output: Array) -> Array:
        return np.asarray(output > 0, dtype=np.float64)

    layer_0 = streetlights[i:i + 1]
    layer_1 = relu(np.dot(layer_0, weights_0_1))
    layer_2 = np.dot(layer_1, weights_1_2)
    layer_2_error = np.sum((layer_2 - walk_vs_stop[i:i + 1]) ** 2)
    layer_2_delta = layer_2 - walk_vs_stop[i:i + 1]
    layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
    weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
    weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)

    step = steps[0]
    same = np.array_equal
    assert same(step.layer[0], layer_0) and same(step.layer[1], layer_1) and same(step.layer[2], layer_2)
    assert same(step.weighted_sum[2], layer_2)  # (linear output: the weighted sum is the layer)
    assert step.error == layer_2_error
    assert same(step.delta[2], layer_2_delta) and same(step.delta[1], layer_1_delta)
    assert same(present(step.derivative[1]), relu2deriv(layer_1)) and step.derivative[2] is None
    assert same(step.weight_delta[1], layer_1.T.dot(layer_2_delta))
    assert same(step.weights[0], weights_0_1) and same(step.weights[1], weights_1_2)
    assert step.details == {}


def test_gradient_descent_as_a_strategys_own_rule_is_the_default_bit_for_bit() -> None:
    """The default rule runs without building a LearningStep; the same rule handed in as a
    strategy's own (through LearningStep and the checks of its answer) gives the same
    weights and deltas, bit for bit, on a deep, a batched and a frozen-weight run."""
    for name in ("ch06-streetlights-backprop", "streetlights-minibatch", "ch05-freeze-one-weight"):
        plain, plain_steps = steps_of(name)
        ruled, ruled_steps = steps_of(name, learn=lambda step: gradient_descent(step))
        assert len(plain_steps) == len(ruled_steps) > 0
        for a, b in zip(plain_steps, ruled_steps, strict=True):
            for k in range(1, len(a.delta)):
                assert np.array_equal(a.delta[k], b.delta[k]), name
            for x, y in zip(a.weights, b.weights, strict=True):
                assert np.array_equal(x, y), name
        assert all(np.array_equal(x, y) for x, y in zip(plain.weights, ruled.weights, strict=True))


def test_a_rule_asking_for_the_gradient_twice_gets_it_once() -> None:
    """step.gradient() is worked out once a step: asked again, it gives the same numbers
    (copies: the rule may change them), and the trace holds one round of deltas a step."""
    calls: list[list[Array]] = []

    def twice(step: LearningStep) -> Learned:
        first = step.gradient()
        first[0][...] = 99.0  # the rule's own copy
        calls.append(step.gradient())
        return Learned(calls[-1])

    _, ruled = steps_of("ch06-streetlights-backprop", learn=twice)
    _, plain = steps_of("ch06-streetlights-backprop")
    assert all(np.array_equal(x, y) for a, b in zip(plain, ruled, strict=True)
               for x, y in zip(a.weights, b.weights, strict=True))
    config = REGISTRY.experiment("ch06-streetlights-backprop")
    plan = REGISTRY.resolve(config)
    plan = Plan(plan.nonlinearities, Strategy("twice", plan.strategy.plan, learn=twice), plan.batches)
    events: list[Event] = []
    run(config, plan, events.append)
    deltas = [e for e in events if e.kind == "delta"]
    assert len(deltas) == 2 * 4 * config.iterations  # two layers, four samples a pass
