"""steptrace-extras: a plugin in its own distribution, as an outside author writes one.

It adds the ``leaky_relu`` and ``softplus`` nonlinearities, a ``momentum`` strategy, three
experiments on the book's streetlights that use them, and a command, ``steptrace summary
TRACE``, that reads a trace through steptrace's Python API. It imports only what the
``steptrace`` package exports (``hookimpl``, the rule types, ``ExperimentConfig``, ``load``,
``portable``) and click.

softplus needs exp and log: it computes them with ``steptrace.portable`` (the same bits on
every machine, which exact mode promises) and gives numpy's own as ``fast=`` for blas mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
import numpy as np

import steptrace
from steptrace import (
    Array,
    Batches,
    ExperimentConfig,
    Learned,
    LearningStep,
    Nonlinearity,
    Option,
    Strategy,
    hookimpl,
    portable,
)

SLOPE = 0.01  # leaky_relu's slope for negative inputs


def leaky_relu(x: Array) -> Array:
    return np.where(x > 0, x, SLOPE * x)


def leaky_relu2deriv(output: Array) -> Array:
    # From the output, the book's way: a positive output came from a positive input.
    return np.where(output > 0, 1.0, SLOPE)


def softplus(x: Array) -> Array:
    # log(1 + e**x), written so that e**x never overflows: max(x, 0) + log(1 + e**-|x|)
    return np.maximum(x, 0.0) + portable.log1p(portable.exp(-np.abs(x)))


def softplus2deriv(output: Array) -> Array:
    # d/dx softplus(x) = sigmoid(x) = 1 - e**-output, from the output: -expm1(-output)
    return -portable.expm1(-output)


def fast_softplus(x: Array) -> Array:
    return np.logaddexp(0.0, x)


def momentum_plan(n_samples: int, options: Mapping[str, Any]) -> Batches:
    beta, size = options["beta"], options["batch_size"]  # (declared with defaults, below)
    if not (math.isfinite(beta) and 0 <= beta < 1):
        raise ValueError(f"beta must be at least 0 and below 1, not {beta}")
    if not 1 <= size <= n_samples:
        raise ValueError(f"batch_size must be between 1 and the {n_samples} samples, not {size}")
    return [list(range(start, min(start + size, n_samples)))
            for start in range(0, n_samples, size)]


def momentum_learn(step: LearningStep) -> Learned:
    """velocity = beta * velocity + weight_delta; the engine then does
    weights -= alpha * velocity. The velocity starts at 0 and lives in ``step.state``."""
    beta = step.options["beta"]
    gradients = step.gradient()  # the book's backprop (its deltas are traced as delta events)
    velocity = step.state.get("velocity") or [np.zeros_like(g) for g in gradients]
    velocity = [beta * v + g for v, g in zip(velocity, gradients, strict=True)]
    step.state["velocity"] = velocity
    return Learned([v.copy() for v in velocity], {"beta": beta})


@hookimpl
def register_nonlinearities(register: Callable[[Nonlinearity], None]) -> None:
    register(Nonlinearity("leaky_relu", leaky_relu, leaky_relu2deriv,
                          f"x if x > 0 else {SLOPE} * x", f"1 if output > 0 else {SLOPE}",
                          description="relu that lets a little through below 0"))
    register(Nonlinearity("softplus", softplus, softplus2deriv, "log(1 + exp(x))",
                          "1 - exp(-output)", description="a smooth relu: log(1 + e**x)",
                          fast=fast_softplus))


@hookimpl
def register_strategies(register: Callable[[Strategy], None]) -> None:
    register(Strategy("momentum", momentum_plan,
                      {"beta": Option(float, 0.9, "how much of the last velocity each step keeps"),
                       "batch_size": Option(int, 1, "how many samples make one update")},
                      learn=momentum_learn,
                      description="gradient descent with momentum: weights move by a running "
                                  "sum of past weight_deltas, decayed by beta (default 0.9)"))


STREETLIGHTS = {
    "layers": [3, 4, 1], "seed": 1, "iterations": 60, "input_name": "streetlights",
    "goal_name": "walk_vs_stop", "inputs": [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]],
    "goals": [[1], [1], [0], [0]], "book_view": {"epoch": "Error:{error}", "every": 10},
}


@hookimpl
def register_experiments(register: Callable[[ExperimentConfig], None]) -> None:
    register(ExperimentConfig.model_validate({
        **STREETLIGHTS, "name": "streetlights-momentum",
        "title": "The ch. 6 network trained with momentum (beta 0.9)",
        "nonlinearities": ["relu", "linear"], "alpha": 0.05,
        "strategy": {"name": "momentum", "beta": 0.9}}))
    register(ExperimentConfig.model_validate({
        **STREETLIGHTS, "name": "streetlights-leaky-relu",
        "title": "The ch. 6 network with leaky_relu in its hidden layer",
        "nonlinearities": ["leaky_relu", "linear"], "alpha": 0.2}))
    register(ExperimentConfig.model_validate({
        **STREETLIGHTS, "name": "streetlights-softplus",
        "title": "The ch. 6 network with softplus in its hidden layer",
        "nonlinearities": ["softplus", "linear"], "alpha": 0.5}))


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command()
    @click.argument("trace", type=click.Path(path_type=Path))
    def summary(trace: Path) -> None:
        """Each pass's error and the final weights of TRACE (from steptrace-extras)."""
        loaded = steptrace.load(trace)
        click.echo(f"{loaded.config.name}: {len(loaded.events)} events, "
                   f"{len(loaded.errors)} pass(es)")
        for epoch, error in enumerate(loaded.errors):
            click.echo(f"  pass {epoch}: error {error!r}")
        for k, weights in enumerate(loaded.weights):
            click.echo(f"  final weights_{k}_{k + 1}: {weights.tolist()!r}")
