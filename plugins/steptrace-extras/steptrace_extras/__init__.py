"""steptrace-extras: a plugin in its own distribution, as an outside author writes one.

It adds the ``leaky_relu`` (with a ``slope`` option), ``softplus``, ``gelu`` and ``silu``
nonlinearities, the ``momentum`` and ``nesterov`` strategies (Nesterov's with a look-ahead
gradient, ``step.gradient(at=...)``), six experiments on the book's streetlights that use
them, and a command, ``steptrace summary TRACE``, that reads a trace through
steptrace's Python API. It imports only what the
``steptrace`` package exports (``hookimpl``, the rule types, ``ExperimentConfig``, ``load``,
``portable``) and click.

softplus needs exp and log, gelu tanh, silu the sigmoid: they compute them with
``steptrace.portable`` (the same bits on every machine, which exact mode promises) and give
numpy's own as ``fast=`` for blas mode. gelu and silu are not monotonic (each has a minimum
below 0, so one output comes from two inputs): their derivatives take the weighted sum, the
layer's input (``derivative_of="input"``), not its output.
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

SLOPE = 0.01  # leaky_relu's default slope for negative inputs


def _slope(slope: float) -> float:
    if not slope >= 0:  # (a negative slope would make a negative input's output positive)
        raise ValueError(f"slope must be at least 0, not {slope}: give "
                         "{name = \"leaky_relu\", slope = 0.01}")
    return slope


def leaky_relu(x: Array, *, slope: float) -> Array:
    return np.where(x > 0, x, _slope(slope) * x)


def leaky_relu2deriv(output: Array, *, slope: float) -> Array:
    # From the output, the book's way: a positive output came from a positive input.
    return np.where(output > 0, 1.0, _slope(slope))


# GELU, the tanh form (Hendrycks and Gimpel): 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x**3).
# Computed as x * sigmoid(2u), the same function (0.5 (1 + tanh(u)) = sigmoid(2u)) without
# 1 + tanh(u)'s cancellation for negative x (where it would lose digits, and blas mode's
# np.tanh and exact mode's portable.tanh would then disagree far beyond an ulp).
GELU_C = math.sqrt(2 / math.pi)  # (math.sqrt is correctly rounded: the same bits everywhere)
GELU_A = 0.044715


def _gelu_2u(x: Array) -> Array:
    return 2 * GELU_C * (x + GELU_A * (x * x * x))


def gelu(x: Array) -> Array:
    return x * portable.sigmoid(_gelu_2u(x))


def gelu2deriv(x: Array) -> Array:
    # From the weighted sum x (gelu is not monotonic: its output does not tell x apart).
    # With s = sigmoid(2u) = 0.5 (1 + tanh(u)): 1 - tanh(u)**2 = 4 s (1 - s), so
    # 0.5 (1 + t) + 0.5 x (1 - t**2) C (1 + 3 A x**2) = s + 2 x s (1 - s) C (1 + 3 A x**2)
    s = portable.sigmoid(_gelu_2u(x))
    return s + 2 * x * s * (1 - s) * GELU_C * (1 + 3 * GELU_A * (x * x))


def fast_gelu(x: Array) -> Array:
    fast: Array = x / (1 + np.exp(-_gelu_2u(x)))
    return fast


def silu(x: Array) -> Array:
    # SiLU (swish): x * sigmoid(x)
    return x * portable.sigmoid(x)


def silu2deriv(x: Array) -> Array:
    # From the weighted sum x: sigmoid(x) + x sigmoid(x) (1 - sigmoid(x))
    s = portable.sigmoid(x)
    return s * (1 + x * (1 - s))


def fast_silu(x: Array) -> Array:
    fast: Array = x / (1 + np.exp(-x))
    return fast


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


def nesterov_learn(step: LearningStep) -> Learned:
    """Nesterov's accelerated gradient: velocity = beta * velocity + the gradient at the
    look-ahead weights w - alpha * (beta * velocity), where momentum alone would carry
    them; the engine then does weights -= alpha * velocity. The velocity starts at 0 and
    lives in ``step.state``. The look-ahead gradient is not the step's backpropagation:
    the trace holds no delta events for it, and the update events carry the velocity."""
    beta = step.options["beta"]
    velocity = step.state.get("velocity") or [np.zeros_like(w) for w in step.weights]
    ahead = step.weights_after([beta * v for v in velocity])  # w - alpha * (beta * v)
    gradients = step.gradient(at=ahead)  # the book's backprop at the look-ahead (untraced)
    velocity = [beta * v + g for v, g in zip(velocity, gradients, strict=True)]
    step.state["velocity"] = velocity
    return Learned([v.copy() for v in velocity], {"beta": beta})


@hookimpl
def register_nonlinearities(register: Callable[[Nonlinearity], None]) -> None:
    register(Nonlinearity("leaky_relu", leaky_relu, leaky_relu2deriv,
                          "x if x > 0 else slope * x", "1 if output > 0 else slope",
                          description="relu that lets a little through below 0",
                          options={"slope": Option(float, SLOPE, "what a negative input is "
                                                   "multiplied by (at least 0)")}))
    register(Nonlinearity("softplus", softplus, softplus2deriv, "log(1 + exp(x))",
                          "1 - exp(-output)", description="a smooth relu: log(1 + e**x)",
                          fast=fast_softplus))
    register(Nonlinearity("gelu", gelu, gelu2deriv,
                          "0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))",
                          "0.5 * (1 + t) + 0.5 * x * (1 - t**2) * sqrt(2/pi) * "
                          "(1 + 3 * 0.044715 * x**2), t = tanh(sqrt(2/pi) * (x + 0.044715 * x**3))",
                          description="Gaussian error linear unit, tanh form: a smooth relu "
                                      "that dips below 0", fast=fast_gelu, derivative_of="input"))
    register(Nonlinearity("silu", silu, silu2deriv, "x * sigmoid(x)",
                          "sigmoid(x) * (1 + x * (1 - sigmoid(x)))",
                          description="sigmoid-weighted linear unit (swish): x * sigmoid(x)",
                          fast=fast_silu, derivative_of="input"))


@hookimpl
def register_strategies(register: Callable[[Strategy], None]) -> None:
    register(Strategy("momentum", momentum_plan,
                      {"beta": Option(float, 0.9, "how much of the last velocity each step keeps"),
                       "batch_size": Option(int, 1, "how many samples make one update")},
                      learn=momentum_learn,
                      description="gradient descent with momentum: weights move by a running "
                                  "sum of past weight_deltas, decayed by beta (default 0.9)"))
    register(Strategy("nesterov", momentum_plan,
                      {"beta": Option(float, 0.9, "how much of the last velocity each step keeps"),
                       "batch_size": Option(int, 1, "how many samples make one update")},
                      learn=nesterov_learn,
                      description="Nesterov's accelerated gradient: momentum whose weight_delta "
                                  "is taken at the look-ahead weights w - alpha * beta * velocity"))


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
        **STREETLIGHTS, "name": "streetlights-nesterov",
        "title": "The ch. 6 network trained with Nesterov's accelerated gradient (beta 0.9)",
        "nonlinearities": ["relu", "linear"], "alpha": 0.05,
        "strategy": {"name": "nesterov", "beta": 0.9}}))
    register(ExperimentConfig.model_validate({
        **STREETLIGHTS, "name": "streetlights-leaky-relu",
        "title": "The ch. 6 network with leaky_relu in its hidden layer",
        "nonlinearities": ["leaky_relu", "linear"], "alpha": 0.2}))
    register(ExperimentConfig.model_validate({
        **STREETLIGHTS, "name": "streetlights-softplus",
        "title": "The ch. 6 network with softplus in its hidden layer",
        "nonlinearities": ["softplus", "linear"], "alpha": 0.5}))
    register(ExperimentConfig.model_validate({
        **STREETLIGHTS, "name": "streetlights-gelu",
        "title": "The ch. 6 network with gelu (tanh form) in its hidden layer",
        "nonlinearities": ["gelu", "linear"], "alpha": 0.2}))
    register(ExperimentConfig.model_validate({
        **STREETLIGHTS, "name": "streetlights-silu",
        "title": "The ch. 6 network with silu in its hidden layer",
        "nonlinearities": ["silu", "linear"], "alpha": 0.2}))


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
