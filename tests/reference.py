"""An independent re-implementation of the book's training loop in plain Python floats.

No numpy, no steptrace code: lists, left-to-right sums, the book's order of operations
(hidden deltas from the weights *before* the update; ``w -= alpha * (x * d)``, the
product first). The tests compare steptrace's exact mode with it bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

Matrix = list[list[float]]

ACTIVATIONS: dict[str, tuple[Callable[[float], float], Callable[[float], float]]] = {
    "linear": (lambda x: x, lambda out: 1.0),
    "relu": (lambda x: (x > 0) * x, lambda out: float(out > 0)),
    # math.exp/tanh may differ from numpy's in the last ulp: compare these with a tolerance
    "sigmoid": (lambda x: 1 / (1 + math.exp(-x)), lambda out: out * (1 - out)),
    "tanh": (math.tanh, lambda out: 1 - out**2),
}


def dot_row(row: Sequence[float], weights: Matrix, j: int) -> float:
    total = row[0] * weights[0][j]
    for k in range(1, len(row)):
        total = total + row[k] * weights[k][j]
    return total


def train(
    inputs: Matrix,
    goals: Matrix,
    weights: list[Matrix],
    activations: Sequence[str],
    alpha: float,
    iterations: int,
    batches: Sequence[Sequence[int]],
    ascent: bool = False,
    frozen: Sequence[Sequence[int]] = (),
) -> tuple[list[float], list[Matrix]]:
    """Train; return every pass's summed error and the final weights."""
    weights = [[list(row) for row in w] for w in weights]
    n_layers = len(weights)
    errors = []
    for _ in range(iterations):
        pass_error = 0.0
        for batch in batches:
            grads = [[[0.0] * len(w[0]) for _ in w] for w in weights]
            first = [True] * n_layers
            batch_error = None
            for i in batch:
                layers = [list(inputs[i])]
                for k in range(n_layers):
                    f = ACTIVATIONS[activations[k]][0]
                    layers.append([f(dot_row(layers[k], weights[k], j))
                                   for j in range(len(weights[k][0]))])
                out = layers[-1]
                for j, (p, g) in enumerate(zip(out, goals[i], strict=True)):
                    sq = (p - g) * (p - g)
                    batch_error = sq if batch_error is None else batch_error + sq
                    del j
                deltas: list[list[float]] = [[] for _ in range(n_layers + 1)]
                d_out = ACTIVATIONS[activations[-1]][1]
                deltas[n_layers] = [((g - p) if ascent else (p - g)) * d_out(p)
                                    for p, g in zip(out, goals[i], strict=True)]
                for k in range(n_layers - 1, 0, -1):
                    d = ACTIVATIONS[activations[k - 1]][1]
                    w = weights[k]
                    row = []
                    for j in range(len(layers[k])):
                        back = deltas[k + 1][0] * w[j][0]
                        for m in range(1, len(deltas[k + 1])):
                            back = back + deltas[k + 1][m] * w[j][m]
                        row.append(back * d(layers[k][j]))
                    deltas[k] = row
                # layer_inᵀ · delta, summed over the batch in sample order
                for k in range(n_layers, 0, -1):
                    for a, x in enumerate(layers[k - 1]):
                        for b, delta in enumerate(deltas[k]):
                            product = x * delta
                            grads[k - 1][a][b] = product if first[k - 1] else grads[k - 1][a][b] + product
                    first[k - 1] = False
            for k, a, b in frozen:  # the book's weight_deltas[0] = 0
                grads[k][a][b] = 0.0
            for k in range(n_layers, 0, -1):
                for a in range(len(weights[k - 1])):
                    for b in range(len(weights[k - 1][0])):
                        g = grads[k - 1][a][b]
                        if len(batch) > 1:
                            g = g / len(batch)
                        if ascent:
                            weights[k - 1][a][b] = weights[k - 1][a][b] + alpha * g
                        else:
                            weights[k - 1][a][b] = weights[k - 1][a][b] - alpha * g
            assert batch_error is not None  # every batch has a sample
            pass_error = pass_error + batch_error
        errors.append(pass_error)
    return errors, weights


def predict(inputs: Matrix, weights: list[Matrix], activations: Sequence[str]) -> Matrix:
    """Forward passes only: each row's output layer."""
    outputs = []
    for row in inputs:
        layer = list(row)
        for k, w in enumerate(weights):
            f = ACTIVATIONS[activations[k]][0]
            layer = [f(dot_row(layer, w, j)) for j in range(len(w[0]))]
        outputs.append(layer)
    return outputs


def hot_and_cold(weight: float, input: float, goal_prediction: float, step_amount: float,
                 iterations: int) -> tuple[list[float], float]:
    """The book's ch. 4 loop, verbatim; ``** 2`` as ``x * x`` (correctly rounded)."""
    errors = []
    for _ in range(iterations):
        prediction = input * weight
        errors.append((prediction - goal_prediction) * (prediction - goal_prediction))
        up_prediction = input * (weight + step_amount)
        up_error = (goal_prediction - up_prediction) * (goal_prediction - up_prediction)
        down_prediction = input * (weight - step_amount)
        down_error = (goal_prediction - down_prediction) * (goal_prediction - down_prediction)
        if down_error < up_error:
            weight = weight - step_amount
        if down_error > up_error:
            weight = weight + step_amount
    return errors, weight
