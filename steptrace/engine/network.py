"""The training loop of *Grokking Deep Learning*, chapter 6, for any depth, with events.

Lay it beside the book's "Putting it all together" cell::

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
and ``delta[k]`` its ``layer_k_delta``; a batch of samples (``full``, ``minibatch``)
is a matrix with one row per sample, and its weight_delta is averaged over the
batch. Every sum goes through :mod:`steptrace.engine.arithmetic`, so ``exact`` mode gives the
same bits on every machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from types import MappingProxyType
from typing import Any

import numpy as np

from steptrace.config import ExperimentConfig
from steptrace.engine.arithmetic import ARITHMETIC, Arithmetic
from steptrace.engine.plan import Plan
from steptrace.engine.rules import Array, Learned, LearningStep
from steptrace.errors import PluginError, printable
from steptrace.matrices import json_ones, json_rows
from steptrace.trace.events import Event, Record, typed

Emit = Callable[[Record], None]  # handed each step's record (see steptrace.trace.events)


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
    state: dict[str, Any] = field(default_factory=dict)  # a learning rule's, for the run
    lean: bool = False  # events without what earlier events determine (step-detail traces)

    @classmethod
    def from_config(cls, config: ExperimentConfig, plan: Plan) -> Network:
        weights = initial_weights(config)
        frozen = frozen_masks(config, [w.shape for w in weights])
        return cls(
            weights=weights,
            plan=plan,
            alpha=config.alpha,
            arithmetic=ARITHMETIC[config.arithmetic],
            ascent=config.delta == "goal - prediction",
            learning=config.train,
            frozen=frozen,
            options=config.strategy.options,
        )

    def train(
        self,
        inputs: Array,
        goals: Array | None,
        iterations: int,
        emit: Emit | None = None,
        after_pass: Callable[[float | None], None] | None = None,
    ) -> list[float | None]:
        """Run ``iterations`` passes over the data; return each pass's summed error (None
        without goals), also handed to ``after_pass`` as each pass ends. With ``emit``,
        every step is also handed over as a record (:data:`steptrace.trace.events.Record`)."""
        seq = 0
        batches = [tuple(batch) for batch in self.plan.batches]
        all_samples = tuple(chain.from_iterable(batches)) if emit is not None else ()
        # A contiguous batch is a slice (a view, no copy), as the book's streetlights[i:i+1].
        rows = [_rows(batch) for batch in batches]
        errors: list[float | None] = []
        try:  # one try around the whole run: the inner loop pays nothing for it
            with np.errstate(all="ignore"):  # overflow to inf and NaN is recorded, not warned of
                for iteration in range(iterations):
                    error_for_pass: float | None = None if goals is None else 0.0
                    for samples, where in zip(batches, rows, strict=True):
                        goal = None if goals is None else goals[where]
                        error, seq = self.step(inputs[where], goal, iteration, samples, seq, emit)
                        if error is not None and error_for_pass is not None:
                            error_for_pass += error
                    if emit is not None:
                        record = {"seq": seq, "epoch": iteration, "samples": all_samples,
                                  "layer": len(self.weights), "kind": "epoch_end"}
                        if error_for_pass is not None:
                            record["error"] = error_for_pass
                        emit(record)
                        seq += 1
                    errors.append(error_for_pass)
                    if after_pass is not None:
                        after_pass(error_for_pass)
        except Exception as error:  # a plugin's rule that raised is the plugin's failure
            blamed = self.plan.blame(error, (emit, after_pass))
            if blamed is None:
                raise
            raise blamed from error
        return errors

    def forward(self, layer_0: Array, weights: Sequence[Array]) -> list[Array]:
        """``layer_k = act_k(layer_{k-1} · weights_{k-1}_k)``, every layer, no events."""
        layer = [layer_0]
        for k, act in enumerate(self.plan.nonlinearities):
            layer.append(act.function(self.arithmetic.dot(layer[k], weights[k])))
        return layer

    def step(
        self,
        layer_0: Array,
        goal: Array | None,
        epoch: int,
        samples: tuple[int, ...],
        seq: int,
        emit: Emit | None,
    ) -> tuple[float | None, int]:
        """One step on one batch (the rows of ``samples``): forward, error, deltas,
        updates. Returns the batch's error (None without a goal) and the next seq."""
        dot, weights, act = self.arithmetic.dot, self.weights, self.plan.nonlinearities
        last = len(weights)  # the output layer's number

        # forward: layer_k = act_k(layer_{k-1} · weights_{k-1}_k)
        layer = [layer_0]
        for k in range(1, last + 1):
            weighted_sum = dot(layer[k - 1], weights[k - 1])
            layer.append(act[k - 1].function(weighted_sum))
            if emit is not None:
                record = {"seq": seq, "epoch": epoch, "samples": samples, "layer": k,
                          "kind": "forward", "nonlinearity": act[k - 1].name}
                if not self.lean:
                    record["layer_in"] = json_rows(layer[k - 1])
                record["weighted_sum"] = json_rows(weighted_sum)
                record["layer_out"] = json_rows(layer[k])
                emit(record)
                seq += 1
        if goal is None:  # a forward pass only: nothing to compare with
            return None, seq

        # error = sum((prediction - goal) ** 2)
        prediction = layer[last]
        error = self.arithmetic.total((prediction - goal) ** 2)
        if emit is not None:
            record = {"seq": seq, "epoch": epoch, "samples": samples, "layer": last, "kind": "error"}
            if not self.lean:
                record["prediction"] = json_rows(prediction)
                record["goal"] = json_rows(goal)
            record["error"] = error
            emit(record)
            seq += 1
        if not self.learning:
            return error, seq
        rule = self.plan.strategy.learn
        if rule is not None:
            return error, self.learn_by_rule(rule, layer, goal, error, epoch, samples, seq, emit)

        # the book's gradient descent: the deltas, back from the output; then
        # weights_{k-1}_k -= alpha * layer_{k-1}ᵀ · delta_k, the last weights first
        delta, seq = self.backpropagate(layer, goal, epoch, samples, seq, emit)
        for k in range(last, 0, -1):
            seq = self.update(k, gradient(dot, layer[k - 1], delta[k]), epoch, samples, seq, emit)
        return error, seq

    def learn_by_rule(
        self,
        rule: Callable[[LearningStep], Learned],
        layer: list[Array],
        goal: Array,
        error: float,
        epoch: int,
        samples: tuple[int, ...],
        seq: int,
        emit: Emit | None,
    ) -> int:
        """The strategy's own learning rule decides how the weights move."""
        dot, total, weights = self.arithmetic.dot, self.arithmetic.total, self.weights
        layer_0, last = layer[0], len(weights)

        def weight_deltas() -> list[Array]:  # gradient descent's, with its delta events
            nonlocal seq
            delta, seq = self.backpropagate(layer, goal, epoch, samples, seq, emit)
            return [gradient(dot, layer[k - 1], delta[k]) for k in range(1, last + 1)]

        # The rule sees the step read-only (it returns weight_deltas; the engine applies
        # them): a write into the weights, which a replay would not see, fails at once.
        learned = rule(LearningStep(
            layer_0=read_only(layer_0), goal=read_only(goal),
            weights=tuple(map(read_only, weights)), prediction=read_only(layer[last]),
            error=error, options=MappingProxyType(self.options),
            predict=lambda other: self.forward(layer_0, other)[-1],
            error_of=lambda guess: total((guess - goal) ** 2),
            gradient=weight_deltas, state=self.state))
        deltas, details = self.check_learned(rule, learned)
        for k in range(last, 0, -1):
            seq = self.update(k, deltas[k - 1], epoch, samples, seq, emit,
                              rule=self.plan.strategy.name, details=details)
        return seq

    def check_learned(self, rule: Callable[[LearningStep], Learned], learned: Learned
                      ) -> tuple[list[Array], dict[str, float]]:
        """A learning rule's answer, checked to fit the network (one weight_delta of each
        weight matrix's shape, named numbers for details) and copied (float64 arrays the
        update may change; floats). PluginError naming the plugin if it does not fit."""
        problem = None
        try:
            deltas = [np.array(d, dtype=np.float64) for d in learned.weight_deltas]
            details = {str(name): float(value) for name, value in dict(learned.details).items()}
        except (TypeError, ValueError) as error:
            problem, deltas, details = f"numbers that are not numbers ({error})", [], {}
        for name in details:
            try:
                printable(name)
            except ValueError as error:
                problem = f"a detail whose name {error}"
        if problem is None and len(deltas) != len(self.weights):
            problem = f"{len(deltas)} weight_delta(s) for {len(self.weights)} weight matrices"
        for k, (delta, weights) in enumerate(zip(deltas, self.weights, strict=False)):
            if problem is None and delta.shape != weights.shape:
                problem = (f"a weight_delta of shape {delta.shape} for weights_{k}_{k + 1} "
                           f"{weights.shape}")
        if problem is not None:
            plugin = self.plan.authors.get(getattr(rule, "__module__", ""), "of the strategy")
            raise PluginError(f"plugin {plugin}: strategy {self.plan.strategy.name!r} learning "
                              f"rule returned {problem}")
        return deltas, details

    def backpropagate(
        self,
        layer: list[Array],
        goal: Array,
        epoch: int,
        samples: tuple[int, ...],
        seq: int,
        emit: Emit | None,
    ) -> tuple[list[Array], int]:
        """Each layer's delta (``delta[k]`` for layer k), computed from the output back."""
        dot, act, weights = self.arithmetic.dot, self.plan.nonlinearities, self.weights
        last = len(weights)
        prediction = layer[last]

        # delta: at the output, prediction - goal (times the output's derivative, 1 when
        # linear); then back through the weights *before* this step's update.
        delta: list[Array] = [prediction] * (last + 1)
        for k in range(last, 0, -1):
            rule = act[k - 1]
            if k == last:
                delta[k] = goal - prediction if self.ascent else prediction - goal
            else:
                delta[k] = dot(delta[k + 1], weights[k].T)
            if rule.derivative_is_one:  # times 1: nothing to do (the derivative is for the events)
                derivative = None
            else:
                derivative = rule.derivative(layer[k])
                delta[k] = delta[k] * derivative
            if emit is not None:
                emit({"seq": seq, "epoch": epoch, "samples": samples, "layer": k, "kind": "delta",
                      "nonlinearity": rule.name,
                      "derivative": (json_ones(layer[k].shape) if derivative is None
                                     else json_rows(derivative)),
                      "delta": json_rows(delta[k])})
                seq += 1

        return delta, seq

    def update(
        self,
        k: int,
        weight_delta: Array,
        epoch: int,
        samples: tuple[int, ...],
        seq: int,
        emit: Emit | None,
        rule: str | None = None,
        details: dict[str, float] | None = None,
    ) -> int:
        """``weights_{k-1}_k -= alpha * weight_delta`` (``+=`` in the ascent form)."""
        apply_update(self.weights[k - 1], weight_delta, self.alpha, self.ascent, self.frozen[k - 1])
        if emit is not None:
            record = {"seq": seq, "epoch": epoch, "samples": samples, "layer": k, "kind": "update",
                      "alpha": self.alpha}
            if not (self.lean and rule is None):  # gradient descent's is derived from the deltas
                record["weight_delta"] = json_rows(weight_delta)
            if not self.lean:
                record["weights"] = json_rows(self.weights[k - 1])
            if rule is not None:
                record["rule"] = rule
                record["details"] = details
            emit(record)
            seq += 1
        return seq


def read_only(array: Array) -> Array:
    """A view of ``array`` that cannot be written to (writing raises ValueError)."""
    view = array.view()
    view.flags.writeable = False
    return view


def frozen_masks(config: ExperimentConfig, shapes: Sequence[tuple[int, ...]]) -> list[Array | None]:
    """Per weight matrix, True where a weight is frozen (None: nothing frozen there)."""
    masks: list[Array | None] = [None] * len(shapes)
    for k, i, j in config.frozen:
        mask = masks[k]
        if mask is None:
            mask = masks[k] = np.zeros(shapes[k], dtype=bool)
        mask[i, j] = True
    return masks


def gradient(dot: Callable[[Array, Array], Array], layer_in: Array, delta: Array) -> Array:
    """Gradient descent's ``weight_delta = layer_inᵀ · delta``, averaged over the batch."""
    weight_delta = dot(layer_in.T, delta)
    if len(layer_in) > 1:
        weight_delta = weight_delta / len(layer_in)
    return weight_delta


def apply_update(weights: Array, weight_delta: Array, alpha: float, ascent: bool,
                 frozen: Array | None) -> None:
    """``weights -= alpha * weight_delta`` in place (``+=`` in the ascent form). A frozen
    weight's delta is set to 0 first, as the book's ``weight_deltas[0] = 0``."""
    if frozen is not None:
        weight_delta[frozen] = 0.0
    change = alpha * weight_delta  # alpha times the product, in the book's order
    if ascent:
        weights += change
    else:
        weights -= change


def _rows(batch: tuple[int, ...]) -> slice | list[int]:
    start, size = batch[0], len(batch)
    if size == 1 or (batch[-1] - start == size - 1 and batch == tuple(range(start, start + size))):
        return slice(start, start + size)
    return list(batch)


def training_data(config: ExperimentConfig) -> tuple[Array, Array | None]:
    """A config's inputs and goals (None without goals) as float64 arrays (read-only)."""
    return config.inputs.array, None if config.goals is None else config.goals.array


def run(config: ExperimentConfig, plan: Plan, emit: Callable[[Event], None] | None = None) -> Network:
    """Train a config's network to the end, handing every event, typed, to ``emit``."""
    network = Network.from_config(config, plan)
    inputs, goals = training_data(config)
    network.train(inputs, goals, config.iterations,
                  None if emit is None else lambda record: emit(typed(record)))
    return network
