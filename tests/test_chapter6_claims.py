"""What chapter 6 argues but never runs, run: the streetlights of its backprop cell
(``[1,0,1] [0,1,1] [0,0,1] [1,1,1]`` -> ``1 1 0 0``) have no input that correlates with
the goal on its own, so

- one weight layer cannot learn them: its error plateaus (``streetlights-no-hidden-layer``,
  'Learning indirect correlation');
- a hidden layer without a nonlinearity does not help, a stack of linear layers being one
  linear layer: its error plateaus too (``streetlights-linear-hidden-layer``, 'Linear vs.
  nonlinear', 'Why the neural network still doesn't work');
- the same hidden layer with relu learns them (``ch06-streetlights-backprop``, the book's
  own cell: no new experiment is needed for it).

The three share the data, alpha 0.2, seed 1 and the stochastic strategy (asserted below),
so the only differences are the hidden layer and its nonlinearity. Every number is exact
arithmetic: the thresholds are the runs' numbers with margin, not a tolerance for noise.
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
NO_HIDDEN = "streetlights-no-hidden-layer"
LINEAR_HIDDEN = "streetlights-linear-hidden-layer"
RELU_HIDDEN = "ch06-streetlights-backprop"


def train(config: ExperimentConfig) -> tuple[list[float], Network]:
    """Each pass's summed error (the ``epoch_end`` events') and the trained network."""
    errors: list[float] = []

    def keep(event: Event) -> None:
        if isinstance(event, EpochEndEvent):
            errors.append(present(event.error))

    network = run(config, REGISTRY.resolve(config), keep, detail="epoch")
    assert len(errors) == config.iterations
    return errors, network


def passes(name: str, iterations: int | None = None) -> tuple[list[float], Network]:
    config = REGISTRY.experiment(name)
    if iterations is not None:
        config = config.model_copy(update={"iterations": iterations})
    return train(config)


def whole_data_error(name: str, weights: list[np.ndarray] | tuple[np.ndarray, ...],
                     nonlinearities: tuple[str, ...] | None = None) -> float:
    """The error of fixed ``weights`` over all four samples, learning nothing (one forward
    pass through the engine, ``train = false``): what the trained network scores."""
    config = REGISTRY.experiment(name)
    layers = (config.layers[0], *(w.shape[1] for w in weights))
    forward = config.model_copy(update={
        "layers": layers, "nonlinearities": nonlinearities or config.nonlinearities,
        "weights": tuple(Matrix(w.copy()) for w in weights), "seed": None,
        "train": False, "iterations": 1})
    return train(forward)[0][0]


def spread(errors: list[float]) -> float:
    return max(errors) - min(errors)


def test_the_three_runs_differ_only_in_the_hidden_layer() -> None:
    """The comparison is fair: same data, alpha, seed, strategy and arithmetic; only the
    layers, the nonlinearities, the passes (and the names and texts) differ."""
    relu = REGISTRY.experiment(RELU_HIDDEN).model_dump()
    same_but = {"name", "title", "source", "layers", "nonlinearities", "iterations", "book_view"}
    for name in (NO_HIDDEN, LINEAR_HIDDEN):
        other = REGISTRY.experiment(name).model_dump()
        assert {key for key in relu if relu[key] != other[key]} <= same_but, name
    assert REGISTRY.experiment(NO_HIDDEN).layers == (3, 1)
    assert REGISTRY.experiment(LINEAR_HIDDEN).layers == (3, 4, 1)
    assert REGISTRY.experiment(LINEAR_HIDDEN).nonlinearities == ("linear", "linear")
    assert REGISTRY.experiment(RELU_HIDDEN).nonlinearities == ("relu", "linear")


def test_no_input_correlates_with_the_goal_on_its_own() -> None:
    """The premise ('Learning indirect correlation'): every input column's covariance with
    the goal is exactly 0 (the third light is always on; the first two are each on for
    one walk and one stop). The goal is the first light XOR the second."""
    config = REGISTRY.experiment(NO_HIDDEN)
    inputs = [[Fraction(x) for x in row] for row in config.inputs.array.tolist()]
    goals = [Fraction(row[0]) for row in present(config.goals).array.tolist()]
    n = len(goals)
    goal_mean = sum(goals) / n
    for column in range(3):
        values = [row[column] for row in inputs]
        mean = sum(values) / n
        assert sum((v - mean) * (g - goal_mean) for v, g in zip(values, goals, strict=True)) == 0
    assert goals == [row[0] != row[1] for row in inputs]


def test_one_weight_layer_plateaus() -> None:
    """'Learning indirect correlation': with no input correlated with the goal, a network
    of one weight layer has nothing to learn beyond the average, and its error stops
    falling far from 0.

    The run: the error falls from 6.51 (pass 1) to 1.5625 by pass ~200 and stays there,
    equal to 13 digits over the last 100 of 300 passes (spread 3.6e-14): each pass ends
    at the same weights, [0, -1/8, 3/8], a cycle the four samples' updates go round:
    each sample is predicted 5/8 off its goal (0.375 for a walk, 0.625 for a stop), worse,
    sample by sample, than predicting 0.5 for all four.
    Asserted: the last pass above 1.5 (it is 1.5625), the last 100 passes within 1e-9
    of each other, the weights at [0, -0.125, 0.375]; and the trained layer, run forward
    over the four samples, scores above 1.0, the least any single weight layer can
    (predicting 0.5 for every sample, the least-squares fit; it scores 1.15625). That it
    first fell by more than 4x shows it learned what it could: the plateau is a floor,
    not a network that never moved."""
    errors, network = passes(NO_HIDDEN)
    assert errors[0] > 4 * errors[-1]
    assert errors[-1] > 1.5
    assert spread(errors[-100:]) < 1e-9
    np.testing.assert_allclose(network.weights[0].ravel(), [0.0, -0.125, 0.375], atol=1e-12)
    assert whole_data_error(NO_HIDDEN, network.weights) > 1.0


def test_a_linear_hidden_layer_is_still_one_linear_layer_and_plateaus() -> None:
    """'Linear vs. nonlinear': a hidden layer without a nonlinearity multiplies by two
    matrices, and that is one multiplication by their product: the network is still one
    linear layer and, on this data, no better than one ('Why the neural network still
    doesn't work': it would not converge).

    The run (300 passes): 3.86 at pass 1, 1.360 at pass 60 (where the relu network is at
    1.5e-05), 1.3254 at pass 300, falling by 0.0024 over its last 100 passes; run to 3000
    passes it settles at 1.32434677 (spread over its last 1000 passes 1e-13): 300 passes
    are within 0.0011 of where it ends. Asserted: every pass from 60 on above 1.3 (the
    least is 1.3243); the last 100 of 300 passes within 0.01, and 3000 passes ending
    within 0.002 of 300 and within 1e-9 over their last 1000 (more passes do not help).
    The trained weights_0_1 · weights_1_2, as one weight layer, score exactly what the
    two layers score over the four samples (1.1203, above the 1.0 no linear layer can
    beat). Its plateau is lower than the single layer's (1.32 against 1.5625, both pass
    errors of stochastic updates): the extra matrix changes the steps, not what can be
    represented."""
    errors, network = passes(LINEAR_HIDDEN)
    assert min(errors[59:]) > 1.3
    assert spread(errors[-100:]) < 0.01
    longer, _ = passes(LINEAR_HIDDEN, iterations=3000)
    assert longer[:300] == errors
    assert abs(longer[-1] - errors[-1]) < 0.002
    assert spread(longer[-1000:]) < 1e-9
    assert min(longer) > 1.3

    two_layers = whole_data_error(LINEAR_HIDDEN, network.weights)
    weights_0_1, weights_1_2 = network.weights
    one_layer = whole_data_error(LINEAR_HIDDEN, [weights_0_1 @ weights_1_2], ("linear",))
    assert abs(two_layers - one_layer) < 1e-12
    assert two_layers > 1.0


def test_the_same_hidden_layer_with_relu_learns_it() -> None:
    """'The secret to sometimes correlation', 'Putting it all together': with relu the
    hidden layer can switch its units off for some samples, so it is no longer one linear
    layer, and the network learns what neither linear network could. The book prints
    1.5055622665134859e-05 at pass 60 (the test of the whole book checks that digit for
    digit); that is ~90,000 times below the linear hidden layer's plateau.

    Asserted: below 1e-4 at pass 60 (margin ~6.6x over its 1.5e-05) while the linear
    network is above 1.3 at the same pass; the trained network, run forward over the
    four samples, also below 1e-4 (it scores 9.0e-06); and its weights_0_1 ·
    weights_1_2 as one linear layer do not do what it does: they score above 1.0 (5.35),
    as every linear layer must, because relu is what keeps the two layers from collapsing
    into one."""
    errors, network = passes(RELU_HIDDEN)
    assert len(errors) == 60
    assert errors[-1] < 1e-4
    linear, _ = passes(LINEAR_HIDDEN, iterations=60)
    assert linear[-1] > 1.3
    assert whole_data_error(RELU_HIDDEN, network.weights) < 1e-4
    weights_0_1, weights_1_2 = network.weights
    assert whole_data_error(RELU_HIDDEN, [weights_0_1 @ weights_1_2], ("linear",)) > 1.0
