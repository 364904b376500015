"""What a plugin contributes to the engine: a nonlinearity, a strategy, a learning rule.

All are plain frozen dataclasses and functions. The core never names one: it looks
rules up by the name a plugin registered them under (see :mod:`steptrace.plugins.registry`).
The book's gradient descent is the default learning rule (:func:`gradient_descent`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Batches = Sequence[Sequence[int]]


@dataclass(frozen=True)
class Nonlinearity:
    """An activation and its derivative, the book's way.

    ``derivative`` takes the layer's *output* (what ``function`` returned), as the
    book's ``relu2deriv(output)`` does: ``output > 0`` for relu, ``output*(1-output)``
    for sigmoid, ``1-output**2`` for tanh. Both work elementwise on float64 arrays.
    The formulas are shown in the narration.

    Exact mode promises the same bits on every machine, so ``function`` and
    ``derivative`` must be portable: basic arithmetic (``+ - * /``, comparisons), and for
    anything transcendental the functions of :mod:`steptrace.portable` (``exp``,
    ``expm1``, ``log1p``, ``tanh``, ``sigmoid``), never ``np.exp``/``np.tanh``/``np.log``,
    whose last bits depend on the CPU. ``fast``, if given, is the same function written
    with numpy's own (faster, machine-dependent) functions: blas mode uses it, exact mode
    never does.
    """

    name: str
    function: Callable[[Array], Array]
    derivative: Callable[[Array], Array]
    formula: str
    derivative_formula: str
    derivative_name: str = ""
    description: str = ""
    #: The derivative is 1 everywhere (a linear layer): the engine skips multiplying by it
    #: (``x * 1.0 == x`` bit for bit, so this changes speed, never numbers).
    derivative_is_one: bool = False
    #: ``function`` with numpy's machine-tuned functions (``np.tanh``), for blas mode
    fast: Callable[[Array], Array] | None = None
    #: bumped by its plugin whenever the numbers it computes change (not for a release
    #: that leaves them alone): replay refuses a trace of another revision
    revision: int = 1

    @property
    def deriv_name(self) -> str:
        """The name the narration uses for the derivative (``relu2deriv``)."""
        return self.derivative_name or f"{self.name}2deriv"


@dataclass(frozen=True)
class LearningStep:
    """What a learning rule sees of one step, after the forward pass and the error.

    ``predict(weights)`` runs a forward pass of this step's inputs with other weights
    (same arithmetic, no events); ``error_of(prediction)`` is the book's summed squared
    error against this step's goal; ``gradient()`` runs the book's backpropagation for
    this step and returns gradient descent's weight_deltas, averaged over the batch (its
    deltas are then part of the step: a trace holds them as ``delta`` events; it is worked
    out once a step, and a second call returns the same numbers). ``state`` is the
    rule's own dict, kept from step to step for the whole run (momentum keeps its velocity
    there) and empty at the start of every run, so a replay sees the same. Nothing else
    may be mutated.
    """

    layer_0: Array
    goal: Array
    weights: Sequence[Array]
    prediction: Array
    error: float
    options: Mapping[str, Any]
    predict: Callable[[Sequence[Array]], Array]
    error_of: Callable[[Array], float]
    gradient: Callable[[], list[Array]]
    state: dict[str, Any]


@dataclass(frozen=True)
class Learned:
    """A learning rule's answer: one weight_delta per weight matrix (the engine applies
    ``weights -= alpha * weight_delta``), and the numbers that decided it, by name."""

    weight_deltas: Sequence[Array]
    details: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Option:
    """One option a strategy takes: its type (``float``, ``int``, ``bool`` or ``str``; an
    int is taken where a float is declared, and becomes one), its default (``None``: the
    option has none, and a rule that needs it says so from ``plan``), and one line of doc.
    ``steptrace plugins`` and ``experiments --show`` list them."""

    type: type
    default: Any = None
    doc: str = ""

    def describe(self) -> str:
        """``float, default 0.9: how much of the last velocity is kept``."""
        text = self.type.__name__ + ("" if self.default is None else f", default {self.default!r}")
        return f"{text}: {self.doc}" if self.doc else text


@dataclass(frozen=True)
class Strategy:
    """A strategy: which samples form each weight update, and (optionally) how weights move.

    ``plan(n_samples, options)`` returns, for one pass over the data, the list of
    batches (lists of sample indices, in order). The engine runs forward and error on
    each batch and makes one update per batch. ``plan`` raises ``ValueError`` with a
    one-line message when an option's value is wrong. ``options`` declares the options
    the strategy takes, each an :class:`Option` (type, default, doc; a bare type is an
    option without default or doc): they are checked before ``plan`` is called, and
    ``plan`` and ``learn`` get them with the defaults filled in.

    ``learn(step) -> Learned`` decides how the weights move; by default it is the book's
    :func:`gradient_descent`: deltas backwards, then ``weights -= alpha * layer_inᵀ ·
    delta`` averaged over the batch. A strategy with a rule of its own (the book's hot and
    cold learning, momentum) gives its ``learn``: each ``update`` event then names the
    strategy and carries the rule's ``details``; ``delta`` events are traced when (and
    only when) the rule calls ``step.gradient()``.
    """

    name: str
    plan: Callable[[int, Mapping[str, Any]], Batches]
    options: Mapping[str, Option | type] = field(default_factory=dict)
    description: str = ""
    learn: Callable[[LearningStep], Learned] = field(default_factory=lambda: gradient_descent)
    #: bumped by its plugin whenever the batches or the weights it makes change (not for a
    #: release that leaves them alone): replay refuses a trace of another revision
    revision: int = 1

    @property
    def declared(self) -> dict[str, Option]:
        """Each option as an :class:`Option` (a bare type made one)."""
        return {name: option if isinstance(option, Option) else Option(option)
                for name, option in self.options.items()}

    @property
    def own_rule(self) -> bool:
        """Whether weights move by a rule of the strategy's own, not gradient descent."""
        return self.learn is not gradient_descent


def gradient_descent(step: LearningStep) -> Learned:
    """The book's learning rule: each weight_delta is ``layer_{k-1}ᵀ · layer_k_delta``,
    averaged over the batch (the engine then does ``weights -= alpha * weight_delta``)."""
    return Learned(step.gradient())
