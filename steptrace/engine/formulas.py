"""The book's step, one formula a function: the only place steptrace writes them.

Lay these beside chapter 6's "Putting it all together" cell::

    layer_1 = relu(np.dot(layer_0, weights_0_1))                             # forward
    layer_2 = np.dot(layer_1, weights_1_2)                                   # forward
    layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)            # error
    layer_2_delta = (layer_2 - walk_vs_stop[i:i+1])                          # output_delta
    layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)   # hidden_delta
    weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)                      # weight_delta, update
    weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)                      # weight_delta, update

Every function is pure (``update`` alone changes its ``weights`` in place, as the book's
``-=`` does) and takes the arithmetic's ``dot`` or ``total`` where it sums
(:mod:`steptrace.engine.arithmetic`: ``exact`` gives the same bits everywhere, ``blas`` is
numpy's). The engine's :class:`~steptrace.engine.network.Network` trains with them; a
trace's state (:mod:`steptrace.trace.state`) derives what a trace leaves out with them; the
learner's check (:mod:`steptrace.learner`) recomputes a learner's step with them, in
``blas`` arithmetic. A batch is a matrix of rows, one per sample; its weight_delta is
averaged over the rows (the book's full and mini-batch gradient descent).
"""

from __future__ import annotations

from collections.abc import Callable

from steptrace.engine.rules import Array

Dot = Callable[[Array, Array], Array]
Total = Callable[[Array], float]
Activation = Callable[[Array], Array]


def forward(dot: Dot, act: Activation, layer_in: Array, weights: Array) -> tuple[Array, Array]:
    """``layer_k = act(layer_{k-1} · weights_{k-1}_k)``: the weighted sum, and the layer."""
    weighted_sum = dot(layer_in, weights)
    return weighted_sum, act(weighted_sum)


def squared_errors(prediction: Array, goal: Array) -> Array:
    """``(prediction - goal) ** 2``, one per output (chapter 5 prints them so)."""
    return (prediction - goal) ** 2


def error(total: Total, prediction: Array, goal: Array) -> float:
    """The book's error: ``sum((prediction - goal) ** 2)`` over every output (and row)."""
    return total((prediction - goal) ** 2)


def miss(prediction: Array, goal: Array, ascent: bool) -> Array:
    """How far the prediction missed: ``prediction - goal``; in the book's ascent form
    (whose updates add), ``goal - prediction``."""
    return goal - prediction if ascent else prediction - goal


def output_delta(prediction: Array, goal: Array, ascent: bool, derivative: Array | None) -> Array:
    """``layer_out_delta = prediction - goal`` (or ``goal - prediction``), times the output
    layer's derivative where it has one (``None``: a linear output, derivative 1)."""
    delta = goal - prediction if ascent else prediction - goal
    return delta if derivative is None else delta * derivative


def transposed(matrix: Array) -> Array:
    """The ``ᵀ`` of the book's formulas: ``weights_k_{k+1}ᵀ`` in a hidden delta,
    ``layer_{k-1}ᵀ`` in a weight_delta (a narration shows these operands as they are
    multiplied)."""
    return matrix.T


def back(dot: Dot, delta_above: Array, weights: Array) -> Array:
    """``layer_{k+1}_delta · weights_k_{k+1}ᵀ``: a delta carried back through the weights
    it came by (the weights *before* this step's update), before the derivative."""
    return dot(delta_above, weights.T)


def backs(dot_each: Dot, deltas_above: Array, weights: Array) -> Array:
    """:func:`back` of each of a stack of steps (``deltas_above[i]`` through ``weights[i]``;
    ``dot_each``: the arithmetic's, :mod:`steptrace.engine.arithmetic`), the bits
    :func:`back` gives each, at once."""
    return dot_each(deltas_above, weights.transpose(0, 2, 1))


def hidden_delta(dot: Dot, delta_above: Array, weights: Array, derivative: Array | None) -> Array:
    """``layer_k_delta = layer_{k+1}_delta · weights_k_{k+1}ᵀ * relu2deriv(layer_k)``
    (``derivative`` is ``relu2deriv(layer_k)``; ``None`` for a linear layer)."""
    carried = dot(delta_above, weights.T)
    return carried if derivative is None else carried * derivative


def summed_weight_delta(dot: Dot, layer_in: Array, delta: Array) -> Array:
    """``layer_{k-1}ᵀ · layer_k_delta``: what moves ``weights_{k-1}_k``, summed over the
    batch's rows (one sample: nothing to sum)."""
    return dot(layer_in.T, delta)


def batch_mean(summed: Array, rows: int) -> Array:
    """A batch's summed weight_delta averaged over its ``rows`` (one row: as it is)."""
    return summed / rows if rows > 1 else summed


def weight_delta(dot: Dot, layer_in: Array, delta: Array) -> Array:
    """Gradient descent's ``weight_delta = layer_{k-1}ᵀ · layer_k_delta``, averaged over
    the batch."""
    rows = len(layer_in)
    summed = dot(layer_in.T, delta)
    return summed / rows if rows > 1 else summed


def updated(weights: Array, weight_delta: Array, alpha: float, ascent: bool) -> Array:
    """``weights - alpha * weight_delta`` (``+`` in the ascent form), as a new matrix:
    the same bits :func:`update` leaves in place."""
    change = alpha * weight_delta  # alpha times the product, in the book's order
    return weights + change if ascent else weights - change


def update(weights: Array, weight_delta: Array, alpha: float, ascent: bool,
           frozen: Array | None) -> None:
    """``weights -= alpha * weight_delta`` in place, as the book does (``+=`` in the ascent
    form). A frozen weight's delta is set to 0 first, as the book's ``weight_deltas[0] = 0``."""
    if frozen is not None:
        weight_delta[frozen] = 0.0
    change = alpha * weight_delta  # alpha times the product, in the book's order
    if ascent:
        weights += change
    else:
        weights -= change
