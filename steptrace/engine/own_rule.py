"""A strategy's own learning rule (hot and cold, momentum), run for one step of the engine.

The book's gradient descent is the engine's own (:meth:`Network.gradient_descent`); a
strategy may bring another (:class:`~steptrace.engine.rules.Strategy` ``learn``). This
module is the adapter between the two: it shows the rule the step read-only (a write into
the weights, which a replay would not see, fails at once), hands it gradient descent's
weight_deltas if it asks (worked out once a step), and checks what it answers to fit the
network, naming the plugin when it does not.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from steptrace.engine.formulas import error
from steptrace.engine.rules import Array, Learned, LearningStep
from steptrace.errors import PluginError, printable

if TYPE_CHECKING:
    from steptrace.engine.network import Learning, Network


def learn_by_rule(network: Network, layer: list[Array], goal: Array, step_error: float,
                  weighted_sum: list[Array]) -> Learning:
    """The strategy's own learning rule on this step: its weight_deltas and what it decided
    on, and the deltas and derivatives if it asked for gradient descent's (``step.gradient()``)."""
    backpropagated: list[Learning] = []

    def gradient() -> list[Array]:  # gradient descent's weight_deltas, worked out once
        if not backpropagated:
            backpropagated.append(network.gradient_descent(layer, goal, step_error, weighted_sum))
        return [weight_delta.copy() for weight_delta in backpropagated[0][0]]

    last = len(network.weights)
    learned = network.plan.strategy.learn(LearningStep(
        layer_0=read_only(layer[0]), goal=read_only(goal),
        weights=tuple(map(read_only, network.weights)), prediction=read_only(layer[last]),
        error=step_error, options=MappingProxyType(network.options),
        predict=lambda other: network.forward(layer[0], other)[-1],
        error_of=lambda guess: error(network.total, guess, goal),
        gradient=gradient, state=network.rule_state))
    weight_deltas, details = check_learned(network, learned)
    _, _, delta, derivative = backpropagated[0] if backpropagated else (None, None, [], [])
    return weight_deltas, details, delta, derivative


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
        plan = network.plan
        strategy = plan.strategy
        plugin = plan.authors.get(getattr(strategy.learn, "__module__", ""), "of the strategy")
        raise PluginError(f"plugin {plugin}: strategy {strategy.name!r} learning rule "
                          f"returned {problem}")
    return deltas, details


def read_only(array: Array) -> Array:
    """A view of ``array`` that cannot be written to (writing raises ValueError)."""
    view = array.view()
    view.flags.writeable = False
    return view
