"""A strategy's own learning rule (hot and cold, momentum, Nesterov), run for one step.

The book's gradient descent is the engine's own (:meth:`Network.gradient_descent`); a
strategy may bring another (:class:`~steptrace.engine.rules.Strategy` ``learn``). This
module is the adapter between the two: it shows the rule the step read-only (a write into
the weights, which a replay would not see, fails at once), hands it gradient descent's
weight_deltas if it asks (worked out once a step, and traced), or those at weights of its
choosing (``step.gradient(at=...)``: a look-ahead, never traced), and checks what it
answers to fit the network, naming the plugin when it does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from steptrace.engine.formulas import error, updated
from steptrace.engine.rules import Array, Learned, LearningStep
from steptrace.errors import PluginError, printable

if TYPE_CHECKING:
    from steptrace.engine.network import Learning, Network


def learn_by_rule(network: Network, layer: list[Array], goal: Array, step_error: float,
                  weighted_sum: list[Array]) -> Learning:
    """The strategy's own learning rule on this step: its weight_deltas and what it decided
    on, and the deltas and derivatives if it asked for gradient descent's (``step.gradient()``;
    a look-ahead's, ``step.gradient(at=...)``, are not the step's and are not handed on)."""
    backpropagated: list[Learning] = []
    running = [True]  # False once learn(step) has returned: the step is over

    def gradient(at: Sequence[Array] | None = None) -> list[Array]:
        if not running[0]:
            raise outside_the_step(network, "step.gradient()")
        if at is not None:  # at weights of the rule's choosing: the same arithmetic, untraced
            weights = look_ahead(network, at)
            ahead, sums = network.forward_with_sums(layer[0], weights)
            return list(network.gradient_descent(ahead, goal, step_error, sums,
                                                 weights=weights)[0])
        if not backpropagated:  # gradient descent's weight_deltas, worked out once
            backpropagated.append(network.gradient_descent(layer, goal, step_error, weighted_sum))
        return [weight_delta.copy() for weight_delta in backpropagated[0][0]]

    def weights_after(weight_deltas: Sequence[Array]) -> list[Array]:
        if not running[0]:
            raise outside_the_step(network, "step.weights_after()")
        return [moved(network, k, weight_delta)
                for k, weight_delta in enumerate(fitting(network, weight_deltas,
                                                         "step.weights_after() weight_deltas"))]

    last = len(network.weights)
    try:
        learned = network.plan.strategy.learn(LearningStep(
            layer_0=read_only(layer[0]), goal=read_only(goal),
            weights=tuple(map(read_only, network.weights)), prediction=read_only(layer[last]),
            error=step_error, options=MappingProxyType(network.options),
            predict=lambda other: network.forward(layer[0], other)[-1],
            error_of=lambda guess: error(network.total, guess, goal),
            gradient=gradient, weights_after=weights_after, state=network.rule_state))
    finally:
        running[0] = False
    weight_deltas, details = check_learned(network, learned)
    _, _, delta, derivative = backpropagated[0] if backpropagated else (None, None, [], [])
    return weight_deltas, details, delta, derivative


def blamed(network: Network, problem: str) -> PluginError:
    """``problem`` as the failure of the strategy's learning rule, naming its plugin."""
    strategy = network.plan.strategy
    plugin = network.plan.authors.get(getattr(strategy.learn, "__module__", ""), "of the strategy")
    return PluginError(f"plugin {plugin}: strategy {strategy.name!r} learning rule {problem}")


def outside_the_step(network: Network, called: str) -> PluginError:
    return blamed(network, f"called {called} after its step was over: a step's gradient and "
                           "weights are asked for while learn(step) runs, not kept for later")


def fitting(network: Network, arrays: Any, what: str) -> list[Array]:
    """``arrays`` as float64 arrays, one of each weight matrix's shape; PluginError naming
    the plugin (and ``what`` it gave) when they do not fit."""
    try:
        given = [np.asarray(array, dtype=np.float64) for array in arrays]
    except (TypeError, ValueError) as failure:
        raise blamed(network, f"gave {what} that are not arrays of numbers ({failure})") from None
    if len(given) != len(network.weights):
        raise blamed(network, f"gave {what} of {len(given)} matrices; the network has "
                              f"{len(network.weights)} (weights_0_1 ... weights_"
                              f"{len(network.weights) - 1}_{len(network.weights)})")
    for k, (array, weights) in enumerate(zip(given, network.weights, strict=True)):
        if array.shape != weights.shape:
            raise blamed(network, f"gave {what} with weights_{k}_{k + 1} of shape {array.shape}, "
                                  f"not the step's {weights.shape}")
    return given


def look_ahead(network: Network, at: Sequence[Array]) -> list[Array]:
    """The weights a rule gave ``step.gradient(at=...)``, checked: one of each weight
    matrix's shape, finite (unless the run's own weights are not: a diverged run, which the
    trace records, looks ahead from inf and NaN too)."""
    given = fitting(network, at, "step.gradient(at=...) weights")
    if all(np.isfinite(weights).all() for weights in network.weights):
        for k, array in enumerate(given):
            bad = np.argwhere(~np.isfinite(array))
            if len(bad):
                i, j = bad[0]
                raise blamed(network, f"gave step.gradient(at=...) a weight that is not finite "
                                      f"(weights_{k}_{k + 1}[{i}, {j}] = {float(array[i, j])!r}) while "
                                      "the step's weights are all finite")
    return given


def moved(network: Network, k: int, weight_delta: Array) -> Array:
    """``weights_k_{k+1} - alpha * weight_delta`` (``+`` in the ascent form) as a new matrix,
    frozen weights unmoved: the bits the engine's update would leave."""
    frozen = network.frozen[k]
    if frozen is not None:
        weight_delta = weight_delta.copy()
        weight_delta[frozen] = 0.0
    return updated(network.weights[k], weight_delta, network.alpha, network.ascent)


def check_learned(network: Network, learned: Learned) -> tuple[list[Array], dict[str, float]]:
    """A learning rule's answer, checked to fit the network (one weight_delta of each
    weight matrix's shape, named numbers for details) and copied (float64 arrays the
    update may change; floats). PluginError naming the plugin if it does not fit."""
    problem = None
    try:
        deltas = [np.array(d, dtype=np.float64) for d in learned.weight_deltas]
        details = {str(name): float(value) for name, value in dict(learned.details).items()}
    except (TypeError, ValueError) as failure:
        problem, deltas, details = f"numbers that are not numbers ({failure})", [], {}
    for name in details:
        try:
            printable(name)
        except ValueError as failure:
            problem = f"a detail whose name {failure}"
    if problem is None and len(deltas) != len(network.weights):
        problem = f"{len(deltas)} weight_delta(s) for {len(network.weights)} weight matrices"
    for k, (delta, weights) in enumerate(zip(deltas, network.weights, strict=False)):
        if problem is None and delta.shape != weights.shape:
            problem = f"a weight_delta of shape {delta.shape} for weights_{k}_{k + 1} {weights.shape}"
    if problem is not None:
        raise blamed(network, f"returned {problem}")
    return deltas, details


def read_only(array: Array) -> Array:
    """A view of ``array`` that cannot be written to (writing raises ValueError)."""
    view = array.view()
    view.flags.writeable = False
    return view
