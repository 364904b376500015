"""Hot and cold learning (ch. 4): a strategy whose own rule moves the weights.

The book's loop, for its single weight::

    up_error = (goal_prediction - input * (weight + step_amount)) ** 2
    down_error = (goal_prediction - input * (weight - step_amount)) ** 2
    if down_error < up_error: weight = weight - step_amount
    if down_error > up_error: weight = weight + step_amount

Every weight is probed this way in turn, the others held where they are (for one
weight this is exactly the book's). The engine applies ``weights -= alpha *
weight_delta``, so a weight_delta is ``+step_amount`` (move down), ``-step_amount``
(move up) or 0; the book's alpha is 1. This plugin uses only steptrace's public
hooks and types: it is the proof that a strategy can change how weights move.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from steptrace import Batches, Learned, LearningStep, Option, Strategy, hookimpl


def plan(n_samples: int, options: Mapping[str, Any]) -> Batches:
    step_amount = options.get("step_amount")
    if step_amount is None:
        raise ValueError('needs step_amount, e.g. [strategy] name = "hot_and_cold"  step_amount = 0.001')
    if not (math.isfinite(step_amount) and step_amount > 0):
        raise ValueError(f"step_amount must be a positive number, not {step_amount}")
    return [[i] for i in range(n_samples)]  # one sample at a time, as the book does


def learn(step: LearningStep) -> Learned:
    step_amount = step.options["step_amount"]
    weight_deltas = [np.zeros_like(weights) for weights in step.weights]
    details: dict[str, float] = {}
    only_one = sum(weights.size for weights in step.weights) == 1
    for k, weights in enumerate(step.weights):
        for index in np.ndindex(weights.shape):
            up = [w.copy() for w in step.weights]
            up[k][index] = weights[index] + step_amount
            down = [w.copy() for w in step.weights]
            down[k][index] = weights[index] - step_amount
            up_prediction, down_prediction = step.predict(up), step.predict(down)
            up_error, down_error = step.error_of(up_prediction), step.error_of(down_prediction)
            if down_error < up_error:
                weight_deltas[k][index] = step_amount  # weight -= step_amount
            elif down_error > up_error:
                weight_deltas[k][index] = -step_amount  # weight += step_amount
            which = "" if only_one else f" weights_{k}_{k + 1}{list(index)}"
            if up_prediction.size == 1:
                details[f"up_prediction{which}"] = float(up_prediction.flat[0])
            details[f"up_error{which}"] = up_error
            if down_prediction.size == 1:
                details[f"down_prediction{which}"] = float(down_prediction.flat[0])
            details[f"down_error{which}"] = down_error
    return Learned(weight_deltas, details)


@hookimpl
def register_strategies(register: Callable[[Strategy], None]) -> None:
    register(Strategy(
        "hot_and_cold", plan,
        {"step_amount": Option(float, doc="how far each weight is tried up and down (no default)")},
        learn=learn,
        description="ch. 4 hot and cold learning: try each weight step_amount up and down, "
                    "keep the direction with the smaller error"))
