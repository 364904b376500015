"""What a plugin contributes: a nonlinearity or a gradient-descent strategy.

Both are plain frozen dataclasses. The core never names one: it looks rules up by
the name a plugin registered them under (see :mod:`steptrace.registry`).
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
    """

    name: str
    function: Callable[[Array], Array]
    derivative: Callable[[Array], Array]
    formula: str
    derivative_formula: str
    derivative_name: str = ""
    description: str = ""

    @property
    def deriv_name(self) -> str:
        """The name the narration uses for the derivative (``relu2deriv``)."""
        return self.derivative_name or f"{self.name}2deriv"


@dataclass(frozen=True)
class Strategy:
    """A gradient-descent strategy: which samples form each weight update.

    ``plan(n_samples, options)`` returns, for one pass over the data, the list of
    batches (lists of sample indices, in order). The engine runs forward, error and
    delta on each batch and makes one update per batch, with the weight_delta
    averaged over the batch. ``plan`` raises ``ValueError`` with a one-line message
    when an option is wrong; ``options`` names the options it accepts and their
    types (shown in ``--help`` texts and checked before ``plan`` is called).
    """

    name: str
    plan: Callable[[int, Mapping[str, Any]], Batches]
    options: Mapping[str, type] = field(default_factory=dict)
    description: str = ""
