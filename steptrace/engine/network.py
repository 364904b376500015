"""The network of *Grokking Deep Learning*, chapter 6, for any depth: the maths alone.

Lay :meth:`Network.step` beside the book's "Putting it all together" cell::

    for iteration in range(60):
        layer_2_error = 0
        for i in range(len(streetlights)):
            layer_0 = streetlights[i:i+1]
            layer_1 = relu(np.dot(layer_0, weights_0_1))
            layer_2 = np.dot(layer_1, weights_1_2)
            layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)
            layer_2_delta = (layer_2 - walk_vs_stop[i:i+1])
            layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
            weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
            weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)

Here ``layer[k]`` is the book's ``layer_k``, ``weights[k]`` its ``weights_k_{k+1}``
and ``delta[k]`` its ``layer_k_delta``; a batch of samples (the ``full`` and
``minibatch`` strategies) is a matrix with one row per sample, and its weight_delta is
averaged over the batch. Every sum goes through :mod:`steptrace.engine.arithmetic`, so
``exact`` mode gives the same bits on every machine.

A step returns what it computed as a :class:`Step`; :meth:`Network.train` runs the
passes and hands each step on. When the experiment has held-out rows (``test_inputs``,
``test_goals``), each pass ends with a forward pass over them that learns nothing
(:meth:`Network.held_out_error`): they are never trained on. How a step
is reported (events, traces, detail levels) is :mod:`steptrace.trace.emitter`'s business,
not this module's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from steptrace.config import ExperimentConfig
from steptrace.engine.arithmetic import ARITHMETIC, Arithmetic
from steptrace.engine.formulas import error, forward, hidden_delta, output_delta, update, weight_delta
from steptrace.engine.own_rule import learn_by_rule
from steptrace.engine.plan import Plan
from steptrace.engine.rules import Array, Nonlinearity

NOTHING: Array = np.zeros((0, 0))  # index 0 of weighted_sum and delta: layer_0 has none
NOTHING.flags.writeable = False
NO_DETAILS: Mapping[str, float] = MappingProxyType({})


class Step(NamedTuple):
    """What one step computed on one batch, in the book's names; index ``k`` is layer k.

    ``derivative[k]`` is None where the layer's derivative is 1 (a linear layer: the
    engine does not multiply by it). ``delta`` is empty when the learning rule did not
    back-propagate (hot and cold); ``weight_delta`` and ``weights`` (after the update)
    are empty when nothing was learned: a forward pass, or a run that does not train.
    A Step describes the step just taken, for whoever :meth:`Network.train` hands it to:
    every array is the step's own, except ``weights``, which are the network's, and the
    next step updates them in place, as the book's loop does (a new 784 × 40 matrix every
    step cost B2 a fifth of its time): read or copy them before the next step.
    """

    layer: Sequence[Array]  # layer[0]: the batch's input rows; layer[-1]: the prediction
    weighted_sum: Sequence[Array]  # weighted_sum[k] = layer[k-1] · weights[k-1], before act_k
    goal: Array | None
    error: float | None  # sum((prediction - goal) ** 2); None without a goal
    derivative: Sequence[Array | None] = ()  # deriv_k(layer[k])
    delta: Sequence[Array] = ()  # delta[k], the book's layer_k_delta
    weight_delta: Sequence[Array] = ()  # weight_delta[k] moves weights[k]
    weights: Sequence[Array] = ()  # weights[k] after the update (see below)
    details: Mapping[str, float] = NO_DETAILS  # what a strategy's own rule decided on


#: What a learning rule decided (weight_deltas, details), and the back-propagation it
#: asked for, if any (delta, derivative).
Learning = tuple[Sequence[Array], Mapping[str, float], Sequence[Array], Sequence[Array | None]]


def initial_weights(config: ExperimentConfig) -> list[Array]:
    """The config's weights, or the book's seeded draw: ``np.random.seed(s)``, then layer
    by layer ``2*np.random.random(shape) - 1`` (same stream, no global state)."""
    if config.weights is not None:
        return [matrix.array.copy() for matrix in config.weights]
    random = np.random.RandomState(config.seed)
    return [
        2 * random.random_sample((n_in, n_out)) - 1
        for n_in, n_out in zip(config.layers, config.layers[1:], strict=False)
    ]


@dataclass
class Network:
    """A dense network without bias, trained the book's way. ``train`` runs it."""

    weights: list[Array]
    plan: Plan
    alpha: float
    arithmetic: Arithmetic
    ascent: bool  # the book's ascent form: delta = goal - prediction, weights +=
    frozen: list[Array | None]  # per weights: True where a weight never moves (None: none)
    learning: bool = True  # False: forward passes (and errors) only
    options: dict[str, Any] = field(default_factory=dict)  # the strategy's
    rule_state: dict[str, Any] = field(default_factory=dict)  # a learning rule's, for the run
    #: How weights learn: gradient_descent, or the strategy's own rule (own_rule.learn_by_rule).
    learn: Callable[[list[Array], Array, float, list[Array]], Learning] = field(init=False)
    #: The arithmetic's dot and total, and each layer's nonlinearity (act[k - 1] is layer
    #: k's) with its function and derivative (None where it is 1: times 1 changes nothing)
    #: at hand: the step runs thousands of times a second.
    dot: Callable[[Array, Array], Array] = field(init=False)
    total: Callable[[Array], float] = field(init=False)
    act: Sequence[Nonlinearity] = field(init=False)
    function: Sequence[Callable[[Array], Array]] = field(init=False)
    derivative: Sequence[Callable[[Array], Array] | None] = field(init=False)
    #: per layer (of_input[k - 1] is layer k's): whether its derivative takes the weighted
    #: sum (derivative_of="input": GELU, SiLU) rather than the layer's output (the book's)
    of_input: Sequence[bool] = field(init=False)
    #: what gradient descent takes back, the output layer first: (k, layer k's derivative or
    #: None, whether it takes the weighted sum), worked out once, not at every step
    backward: Sequence[tuple[int, Callable[[Array], Array] | None, bool]] = field(init=False)

    def __post_init__(self) -> None:
        self.learn = (partial(learn_by_rule, self) if self.plan.strategy.own_rule
                      else self.gradient_descent)
        self.dot, self.total = self.arithmetic.dot, self.arithmetic.total
        # exact mode computes with the portable functions, blas mode with the fast ones
        self.act = [act if self.arithmetic.mode == "exact" or act.fast is None
                    else replace(act, function=act.fast) for act in self.plan.nonlinearities]
        self.function = [act.function for act in self.act]
        self.derivative = [None if act.derivative_is_one else act.derivative for act in self.act]
        self.of_input = [act.derivative_of == "input" for act in self.act]
        self.backward = [(k, self.derivative[k - 1], self.of_input[k - 1])
                         for k in range(len(self.act), 0, -1)]

    @classmethod
    def from_config(cls, config: ExperimentConfig, plan: Plan) -> Network:
        weights = initial_weights(config)
        return cls(
            weights=weights,
            plan=plan,
            alpha=config.alpha,
            arithmetic=ARITHMETIC[config.arithmetic],
            ascent=config.ascent,
            learning=config.train,
            frozen=frozen_masks(config, [w.shape for w in weights]),
            options=dict(plan.options),
        )

    def step(self, layer_0: Array, goal: Array | None) -> Step:
        """One step of the book's algorithm on one batch: forward, error, learn, update."""
        dot, function, weights = self.dot, self.function, self.weights
        last = len(weights)  # the output layer's number

        # layer_k = act_k(layer_{k-1} · weights_{k-1}_k)
        layer, weighted_sum = [layer_0], [NOTHING]
        for k in range(1, last + 1):
            weighted, layer_k = forward(dot, function[k - 1], layer[k - 1], weights[k - 1])
            weighted_sum.append(weighted)
            layer.append(layer_k)
        if goal is None:  # a forward pass only: nothing to compare with
            return Step(layer, weighted_sum, None, None)

        # error = sum((prediction - goal) ** 2)
        layer_error = error(self.total, layer[last], goal)
        if not self.learning:
            return Step(layer, weighted_sum, goal, layer_error)

        # the strategy's learning rule; by default the book's gradient descent
        weight_deltas, details, delta, derivative = self.learn(layer, goal, layer_error,
                                                               weighted_sum)

        # weights_{k-1}_k -= alpha * weight_delta, the last weights first
        alpha, ascent, frozen = self.alpha, self.ascent, self.frozen
        for k in range(last, 0, -1):
            update(weights[k - 1], weight_deltas[k - 1], alpha, ascent, frozen[k - 1])
        # (a NamedTuple's own constructor is a Python function: made as the tuple it is)
        return tuple.__new__(Step, (layer, weighted_sum, goal, layer_error, derivative, delta,
                                    weight_deltas, tuple(weights), details))

    def gradient_descent(self, layer: list[Array], goal: Array, error: float = 0.0,
                         weighted_sum: Sequence[Array] = (), *,
                         weights: Sequence[Array] | None = None) -> Learning:
        """The book's learning rule: each layer's delta, from the output back (through the
        weights *before* this step's update), and each weight_delta, averaged over the
        batch. (The error is not needed: it is taken as every learning rule is handed it.)
        A layer whose derivative takes its input is handed its ``weighted_sum``.
        ``weights``: those ``layer`` and ``weighted_sum`` were computed with, when not the
        network's (a learning rule's look-ahead, ``step.gradient(at=...)``)."""
        dot = self.dot
        if weights is None:
            weights = self.weights
        last = len(weights)  # the output layer's number
        delta: list[Array] = [NOTHING] * (last + 1)
        derivative: list[Array | None] = [None] * (last + 1)
        weight_deltas: list[Array] = [NOTHING] * last
        for k, relu2deriv, of_input in self.backward:
            # relu2deriv(layer_k) (gelu2deriv(weighted_sum_k)); None where it is 1
            deriv = derivative[k] = None if relu2deriv is None else relu2deriv(
                weighted_sum[k] if of_input else layer[k])
            if k == last:  # layer_2_delta = layer_2 - goal
                delta_k = delta[k] = output_delta(layer[k], goal, self.ascent, deriv)
            else:  # layer_1_delta = layer_2_delta · weights_1_2ᵀ * relu2deriv(layer_1)
                delta_k = delta[k] = hidden_delta(dot, delta[k + 1], weights[k], deriv)
            # weight_delta = layer_{k-1}ᵀ · layer_k_delta
            weight_deltas[k - 1] = weight_delta(dot, layer[k - 1], delta_k)
        return weight_deltas, NO_DETAILS, delta, derivative

    def forward(self, layer_0: Array, weights: Sequence[Array]) -> list[Array]:
        """``layer_k = act_k(layer_{k-1} · weights_{k-1}_k)``, every layer, with other weights."""
        layer = [layer_0]
        for k, act in enumerate(self.act):
            layer.append(forward(self.dot, act.function, layer[k], weights[k])[1])
        return layer

    def forward_with_sums(self, layer_0: Array,
                          weights: Sequence[Array]) -> tuple[list[Array], list[Array]]:
        """:meth:`forward`, with each layer's weighted sum too (``weighted_sum[0]`` is
        empty, as a step's): what :meth:`gradient_descent` needs at other weights."""
        layer, weighted_sum = [layer_0], [NOTHING]
        for k, function in enumerate(self.function):
            weighted, layer_k = forward(self.dot, function, layer[k], weights[k])
            weighted_sum.append(weighted)
            layer.append(layer_k)
        return layer, weighted_sum

    def held_out_error(self, inputs: Array, goals: Array) -> float:
        """The error on held-out rows with the weights as they are, learning nothing: the
        rows forward together (``layer_k = act_k(layer_{k-1} · weights_{k-1}_k)``; in exact
        arithmetic a row's numbers are those it has alone), then each row's
        ``sum((prediction - goal) ** 2)`` added in order from 0, as the book's loop adds up
        a pass's ``layer_2_error``."""
        prediction = self.forward(inputs, self.weights)[-1]
        total = self.total
        summed = 0.0
        for row in range(len(inputs)):
            summed += error(total, prediction[row:row + 1], goals[row:row + 1])
        return summed

    def train(
        self,
        inputs: Array,
        goals: Array | None,
        iterations: int,
        each_step: Callable[[int, tuple[int, ...], Step], None] | None = None,
        each_pass: Callable[[int, float | None, float | None], None] | None = None,
        held_out: tuple[Array, Array] | None = None,
    ) -> list[float | None]:
        """Run ``iterations`` passes over the data, batch by batch as the strategy planned;
        hand each step to ``each_step(pass, samples, step)`` and each pass's summed error
        (None without goals) to ``each_pass(pass, error, test_error)``, where ``test_error``
        is the error on the ``held_out`` rows (inputs, goals) with the weights at the end of
        the pass (:meth:`held_out_error`; None without them). Returns the passes' errors."""
        batches = [tuple(batch) for batch in self.plan.batches]
        # A contiguous batch is a slice (a view, no copy), as the book's streetlights[i:i+1].
        rows = [_rows(batch) for batch in batches]
        errors: list[float | None] = []
        try:  # one try around the whole run: the inner loop pays nothing for it
            with np.errstate(all="ignore"):  # overflow to inf and NaN is recorded, not warned of
                for iteration in range(iterations):
                    error_for_pass: float | None = None if goals is None else 0.0
                    for samples, where in zip(batches, rows, strict=True):
                        step = self.step(inputs[where], None if goals is None else goals[where])
                        if error_for_pass is not None and step.error is not None:
                            error_for_pass += step.error
                        if each_step is not None:
                            each_step(iteration, samples, step)
                    errors.append(error_for_pass)
                    if each_pass is not None:
                        each_pass(iteration, error_for_pass,
                                  None if held_out is None else self.held_out_error(*held_out))
        except Exception as failure:  # a plugin's rule that raised is the plugin's failure
            blamed = self.plan.blame(failure)
            if blamed is None:
                raise
            raise blamed from failure
        return errors


def frozen_masks(config: ExperimentConfig, shapes: Sequence[tuple[int, ...]]) -> list[Array | None]:
    """Per weight matrix, True where a weight is frozen (None: nothing frozen there)."""
    masks: list[Array | None] = [None] * len(shapes)
    for k, i, j in config.frozen:
        mask = masks[k]
        if mask is None:
            mask = masks[k] = np.zeros(shapes[k], dtype=bool)
        mask[i, j] = True
    return masks


def _rows(batch: tuple[int, ...]) -> slice | list[int]:
    start, size = batch[0], len(batch)
    if size == 1 or (batch[-1] - start == size - 1 and batch == tuple(range(start, start + size))):
        return slice(start, start + size)
    return list(batch)


def training_data(config: ExperimentConfig) -> tuple[Array, Array | None]:
    """A config's inputs and goals (None without goals) as float64 arrays (read-only)."""
    return config.inputs.array, None if config.goals is None else config.goals.array


def held_out_data(config: ExperimentConfig) -> tuple[Array, Array] | None:
    """A config's held-out rows and their goals as float64 arrays (read-only), or None."""
    if config.test_inputs is None or config.test_goals is None:
        return None
    return config.test_inputs.array, config.test_goals.array
