"""Chapter 6's 'Edge case: overfitting', which the book argues but never runs, run
(``streetlights-overfitting``): a network of one weight layer, from the book's initial
weights ``[0.5, 0.48, -0.7]`` (alpha 0.1, stochastic), trained on two of the six-light rows
alone, ``[1, 1, 1] -> 1`` and ``[0, 0, 1] -> 0``; the other four rows
(``[1,0,1] -> 0, [0,1,1] -> 1, [0,1,1] -> 1, [1,0,1] -> 0``) are held out, and after
every pass the network is run forward on them, learning nothing.

The argument: the middle light is the one that correlates with walking (``[0, 1, 0]``
fits all six rows exactly), but these two rows are fitted exactly by other weights too.
Gradient descent finds one of those, the training error goes to 0, every delta with it,
and the network stops learning: it has memorised its two rows, not found the correlation,
and misses the held-out rows by 0.51 each.

By hand: every update moves the weights along a training row (``weight_delta = inputᵀ ·
delta``), so they stay in the start plus the span of ``[1,1,1]`` and ``[0,0,1]``; the
point of that plane that fits both rows is the start plus ``0.01·[1,1,1] + 0.69·[0,0,1]``
= ``[0.51, 0.49, 0]`` (least squares from the start, exact in fractions below). There
each held-out row is predicted 0.51 off its goal (``[1,0,1]`` gives 0.51 for 0,
``[0,1,1]`` 0.49 for 1): ``4 · 0.51² = 1.0404``.

The run (exact arithmetic): pass 0 ends with a training error of 0.912784 and a held-out
error of 2.05324; the held-out error is within 0.01 of 1.0404 from pass 12 on, within 0.001
from pass 29 (1.04042 at pass 59), and stays there, while the training error falls by
about 0.054 decades a pass, to 3.1e-23 at the last of 400 passes; the weights end at
``[0.51, 0.49, -4.6e-12]``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from steptrace.config import ExperimentConfig
from steptrace.engine.network import Network
from steptrace.matrices import Matrix
from steptrace.recording import run
from steptrace.trace.events import EpochEndEvent, Event
from tests.conftest import builtin_registry, present

REGISTRY = builtin_registry()
OVERFITTING = "streetlights-overfitting"
FULL_DATASET = "ch06-streetlights-full-dataset"
CORRELATED = [0.0, 1.0, 0.0]  # the middle light: what the six rows teach
MEMORISED = [0.51, 0.49, 0.0]  # what two of them leave the network with, by hand


def train(config: ExperimentConfig) -> tuple[list[float], list[float], Network]:
    """Each pass's summed training error and held-out error, and the trained network."""
    errors: list[float] = []
    held_out: list[float] = []

    def keep(event: Event) -> None:
        if isinstance(event, EpochEndEvent):
            errors.append(present(event.error))
            held_out.append(present(event.test_error))

    network = run(config, REGISTRY.resolve(config), keep, detail="epoch")
    assert len(errors) == len(held_out) == config.iterations
    return errors, held_out, network


def errors_of(weights: list[float]) -> tuple[float, float]:
    """The training and held-out errors of fixed ``weights``, learning nothing (one
    forward pass through the engine, ``train = false``)."""
    config = REGISTRY.experiment(OVERFITTING)
    fixed = config.model_copy(update={"weights": (Matrix([[w] for w in weights]),),
                                      "train": False, "iterations": 1})
    errors, held_out, _ = train(fixed)
    return errors[0], held_out[0]


def test_the_rows_are_the_six_light_data_split_two_and_four() -> None:
    """The experiment is the book's six-light data (ch06-streetlights-full-dataset, the
    same initial weights, alpha and strategy), its rows 3 and 5 (``[1,1,1] -> 1``,
    ``[0,0,1] -> 0``) trained, the other four held out, in their order."""
    config = REGISTRY.experiment(OVERFITTING)
    book = REGISTRY.experiment(FULL_DATASET)
    rows = list(zip(book.inputs.array.tolist(), present(book.goals).array.tolist(), strict=True))
    trained = list(zip(config.inputs.array.tolist(), present(config.goals).array.tolist(),
                       strict=True))
    held_out = list(zip(present(config.test_inputs).array.tolist(),
                        present(config.test_goals).array.tolist(), strict=True))
    assert trained == [rows[3], rows[2]] == [([1.0, 1.0, 1.0], [1.0]), ([0.0, 0.0, 1.0], [0.0])]
    assert held_out == [rows[0], rows[1], rows[4], rows[5]]
    assert config.weights == book.weights and config.weights is not None
    assert config.weights[0].array.ravel().tolist() == [0.5, 0.48, -0.7]
    assert (config.alpha, config.strategy.name, config.nonlinearities) == (0.1, "stochastic",
                                                                          ("linear",))


def test_the_correlated_weights_fit_every_row_and_so_do_others_on_the_training_rows() -> None:
    """The premise: ``[0, 1, 0]`` (the middle light) predicts all six rows exactly; the
    two training rows alone are fitted exactly by ``[0.51, 0.49, 0]`` as well, which misses
    every held-out row: nothing in those two rows tells the two apart."""
    assert errors_of(CORRELATED) == (0.0, 0.0)
    trained, held_out = errors_of(MEMORISED)
    assert trained < 1e-30
    assert abs(held_out - 4 * 0.51**2) < 1e-12


def test_by_hand_gradient_descent_ends_at_the_least_squares_fit_from_the_start() -> None:
    """Every update adds a multiple of a training row to the weights, so they end at the
    fit of both rows nearest the start: ``w0 + Xᵀ (X Xᵀ)⁻¹ (y - X w0)``, in fractions
    exactly ``[51/100, 49/100, 0]``."""
    w0 = [Fraction(1, 2), Fraction(12, 25), Fraction(-7, 10)]
    rows, goals = [[1, 1, 1], [0, 0, 1]], [Fraction(1), Fraction(0)]
    miss = [g - sum(x * w for x, w in zip(row, w0, strict=True)) for row, g in zip(rows, goals, strict=True)]
    # (X Xᵀ) a = miss, with X Xᵀ = [[3, 1], [1, 1]]
    a0 = (miss[0] - miss[1]) / 2
    a1 = miss[1] - a0
    fit = [w + a0 * x0 + a1 * x1 for w, x0, x1 in zip(w0, rows[0], rows[1], strict=True)]
    assert fit == [Fraction(51, 100), Fraction(49, 100), Fraction(0)]
    assert [float(w) for w in fit] == MEMORISED


def test_it_memorises_the_training_rows_and_stops_learning() -> None:
    """'Edge case: overfitting', run: the training error goes to (as good as) 0 — below
    1e-20 at pass 400 (it is 3.1e-23) — while the held-out error never goes below 1.04 and
    ends at 1.0404, where the hand computation puts it; the weights end within 0.02 of
    ``[0.51, 0.49, 0]`` (within 1e-9: they are there) and more than 0.5 from the correlated
    ``[0, 1, 0]``. The held-out error did fall at first (2.05 at pass 0: the start missed
    everything), and then stopped: over the last 300 passes it moves by less than 1e-6
    (1.3e-07), while the training error falls by 16 orders of magnitude more — the network
    is still fitting its two rows ever better and learning nothing more about the other
    four."""
    errors, held_out, network = train(REGISTRY.experiment(OVERFITTING))
    weights = network.weights[0].ravel()
    assert errors[-1] < 1e-20
    assert errors[0] > 0.9 and held_out[0] > 2.0
    assert min(held_out) > 1.04
    assert abs(held_out[-1] - 1.0404) < 1e-12
    assert max(held_out[100:]) - min(held_out[100:]) < 1e-6
    assert errors[99] / errors[-1] > 1e15
    np.testing.assert_allclose(weights, MEMORISED, atol=0.02)
    np.testing.assert_allclose(weights, MEMORISED, atol=1e-9)
    assert np.abs(weights - CORRELATED).max() > 0.5
    assert abs(weights[1] - 1.0) > 0.5  # the middle light's weight is nowhere near 1


def test_more_passes_do_not_help() -> None:
    """Stopped learning, not slow learning: 2000 passes end where 400 do, the training
    error at the floor of float64's rounding (below 1e-30) and the held-out error still
    1.0404 to 12 digits; the weights have not moved toward ``[0, 1, 0]``."""
    config = REGISTRY.experiment(OVERFITTING)
    errors, held_out, network = train(config.model_copy(update={"iterations": 2000}))
    assert errors[-1] < 1e-30
    assert abs(held_out[-1] - 1.0404) < 1e-12
    np.testing.assert_allclose(network.weights[0].ravel(), MEMORISED, atol=1e-12)
