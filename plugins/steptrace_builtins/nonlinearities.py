"""The book's nonlinearities. Each derivative takes the layer's *output*, as the book's
``relu2deriv(output)`` does, and sits right beside its function.

sigmoid and tanh compute with :mod:`steptrace.portable` (the same bits on every machine,
as exact mode promises); blas mode uses numpy's ``np.exp``/``np.tanh`` (``fast=``). They
are revision 2: revision 1 computed with ``np.exp``/``np.tanh`` in exact mode too, whose
last bits depend on the CPU."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from steptrace import Array, Nonlinearity, hookimpl, portable


def linear(x: Array) -> Array:
    return x


def linear2deriv(output: Array) -> Array:
    return np.ones_like(output)


def relu(x: Array) -> Array:
    # The book's relu: (x > 0) * x. For a negative x this is 0.0 * x = -0.0, a signed
    # zero; it is kept (it equals 0.0 and never changes a sum's value).
    return (x > 0) * x


def relu2deriv(output: Array) -> Array:
    # 1 where the neuron fired, 0 where relu switched it off: the book's `output > 0`.
    return (output > 0).astype(np.float64)


def sigmoid(x: Array) -> Array:
    return portable.sigmoid(x)


def fast_sigmoid(x: Array) -> Array:
    return 1 / (1 + np.exp(-x))


def sigmoid2deriv(output: Array) -> Array:
    # d/dx sigmoid(x) = sigmoid(x) * (1 - sigmoid(x)) = output * (1 - output)
    return output * (1 - output)


def tanh(x: Array) -> Array:
    return portable.tanh(x)


def fast_tanh(x: Array) -> Array:
    return np.tanh(x)


def tanh2deriv(output: Array) -> Array:
    # d/dx tanh(x) = 1 - tanh(x)**2 = 1 - output**2
    return 1 - output**2


@hookimpl
def register_nonlinearities(register: Callable[[Nonlinearity], None]) -> None:
    register(Nonlinearity("linear", linear, linear2deriv, "x", "1",
                          description="no nonlinearity: the layer passes its weighted sum on",
                          derivative_is_one=True))
    register(Nonlinearity("relu", relu, relu2deriv, "(x > 0) * x", "output > 0",
                          description="rectified linear unit: negatives become 0"))
    register(Nonlinearity("sigmoid", sigmoid, sigmoid2deriv, "1 / (1 + exp(-x))",
                          "output * (1 - output)", description="logistic sigmoid, into (0, 1)",
                          fast=fast_sigmoid, revision=2))
    register(Nonlinearity("tanh", tanh, tanh2deriv, "tanh(x)", "1 - output ** 2",
                          description="hyperbolic tangent, into (-1, 1)", fast=fast_tanh,
                          revision=2))
