"""The book's gradient-descent strategies: which samples form each weight update.

stochastic: update after every sample. full: one update per pass, weight_delta
averaged over the whole dataset. minibatch: one update per ``batch_size`` samples,
averaged per batch (a last, shorter batch takes the remainder).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from steptrace import Batches, Option, Strategy, hookimpl


def stochastic(n_samples: int, options: Mapping[str, Any]) -> Batches:
    return [[i] for i in range(n_samples)]


def full(n_samples: int, options: Mapping[str, Any]) -> Batches:
    return [list(range(n_samples))]


def minibatch(n_samples: int, options: Mapping[str, Any]) -> Batches:
    if "batch_size" not in options:
        raise ValueError("needs batch_size, e.g. [strategy] name = \"minibatch\"  batch_size = 2")
    size = options["batch_size"]
    if not 1 <= size <= n_samples:
        raise ValueError(f"batch_size must be between 1 and the {n_samples} samples, not {size}")
    return [list(range(start, min(start + size, n_samples))) for start in range(0, n_samples, size)]


@hookimpl
def register_strategies(register: Callable[[Strategy], None]) -> None:
    register(Strategy("stochastic", stochastic,
                      description="update after every sample (the book's ch. 6 loops)"))
    register(Strategy("full", full,
                      description="one update per pass, weight_delta averaged over the dataset"))
    register(Strategy("minibatch", minibatch,
                      {"batch_size": Option(int, doc="how many samples make one update")},
                      description="one update per batch_size samples, averaged per batch"))
