"""The book's backpropagation against calculus that shares none of its code.

For one step on a batch of n samples, the book's rules (``delta`` at the output =
``(prediction - goal) * deriv(output)``, hidden deltas back through the weights before
the update, ``weight_delta = layer_inᵀ · delta`` divided by n when n > 1) are exactly
the gradients of

    L = 0.5 * sum((prediction - goal) ** 2) / n

with respect to the weights, and each delta event's ``delta`` (one row per sample) is
the gradient of ``0.5 * sum((prediction - goal) ** 2)`` (not divided by n) with
respect to that layer's pre-activation (the forward event's ``weighted_sum``).

1. PyTorch parity: hundreds of random networks trained for a few passes by steptrace
   and, independently, by torch float64 autograd with a manual SGD update, compared
   step by step (pre-activations, errors, deltas, weight_deltas, updated weights).
2. Finite differences (no torch): the central difference of L for every weight,
   against the first pass's weight_deltas.

``hot_and_cold`` is left out of both: it is not gradient descent (it probes the error a
step up and a step down and moves towards the smaller one), so its weight_delta is not
a gradient and has nothing to agree with.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from steptrace.config import ExperimentConfig
from steptrace.engine.network import initial_weights
from steptrace.engine.plan import Plan
from steptrace.recording import run
from steptrace.trace.events import DeltaEvent, EpochEndEvent, ErrorEvent, ForwardEvent, UpdateEvent
from tests.conftest import BOOK_REPORT, builtin_registry

REGISTRY = builtin_registry()
Array = NDArray[np.float64]

NONLINEARITIES = ("linear", "relu", "sigmoid", "tanh")
# Every gradient-descent built-in. Not hot_and_cold (see the module docstring).
STRATEGIES: tuple[dict[str, Any], ...] = (
    {"name": "stochastic"},
    {"name": "full"},
    {"name": "minibatch", "batch_size": 2},
    {"name": "minibatch", "batch_size": 3},
)
ARITHMETIC = ("exact", "blas")
ALPHAS = (0.001, 0.01, 0.1, 0.3)

TORCH_CASES = 256
FD_CASES = 64


def strategy_label(strategy: dict[str, Any]) -> str:
    size = strategy.get("batch_size")
    name: str = strategy["name"]
    return name + (f"-{size}" if size else "")


def make_config(index: int, *, iterations: int | None = None, binary_inputs: bool = True,
                offset: int = 0) -> ExperimentConfig:
    """Random network ``index``, built deterministically. The structure runs through every
    depth (1-3 weight layers), output nonlinearity, strategy and arithmetic in turn (a
    mixed-radix count over the index); hidden nonlinearities, widths (1-8), the number
    of samples (2-6), alpha, the seed of the weights and the data are drawn from a
    RandomState seeded with the index."""
    rng = np.random.RandomState(10_000 + offset + index)
    depth = 1 + index % 3
    output = NONLINEARITIES[(index // 3) % 4]
    strategy = STRATEGIES[(index // 12) % 4]
    arithmetic = ARITHMETIC[(index // 48) % 2]
    hidden = [NONLINEARITIES[rng.randint(4)] for _ in range(depth - 1)]
    layers = [int(rng.randint(1, 9)) for _ in range(depth + 1)]
    n = int(rng.randint(max(2, strategy.get("batch_size", 2)), 7))
    alpha = float(ALPHAS[rng.randint(len(ALPHAS))])
    if binary_inputs and rng.random_sample() < 0.25:  # streetlight-like 0/1 inputs
        inputs = rng.randint(0, 2, (n, layers[0])).astype(np.float64)
    else:
        inputs = 2 * rng.random_sample((n, layers[0])) - 1
    goals = rng.random_sample((n, layers[-1]))
    if output != "sigmoid":  # a sigmoid reaches (0, 1) only; the others get [-1, 1)
        goals = 2 * goals - 1
    return ExperimentConfig.model_validate({
        "name": f"parity-{index}",
        "layers": layers,
        "nonlinearities": [*hidden, output],
        "seed": int(rng.randint(2**31)),
        "alpha": alpha,
        "iterations": iterations if iterations is not None else int(rng.randint(1, 5)),
        "strategy": strategy,
        "arithmetic": arithmetic,
        "inputs": inputs.tolist(),
        "goals": goals.tolist(),
    })


def describe(config: ExperimentConfig) -> str:
    return (f"{config.name}: layers {list(config.layers)}, {list(config.nonlinearities)}, "
            f"{strategy_label(config.strategy.model_dump())}, {config.arithmetic}, "
            f"alpha {config.alpha}, seed {config.seed}, {len(config.inputs)} samples, "
            f"{config.iterations} pass(es)")


TORCH_CONFIGS = [make_config(i) for i in range(TORCH_CASES)]
FD_CONFIGS = [make_config(i, iterations=1, binary_inputs=False, offset=50_000) for i in range(FD_CASES)]


@dataclasses.dataclass
class Step:
    """The events of one gradient-descent step, by layer."""

    epoch: int
    samples: tuple[int, ...]
    forward: dict[int, ForwardEvent]
    error: ErrorEvent
    delta: dict[int, DeltaEvent]
    update: dict[int, UpdateEvent]


def steps_of(config: ExperimentConfig, plan: Plan) -> Iterator[Step]:
    """Run steptrace and cut its events into steps, checking their order on the way:
    forward 1..L, error, delta L..1, update L..1 per batch; epoch_end per pass."""
    events: list[Any] = []
    run(config, plan, events.append)
    last = len(config.layers) - 1
    stream = iter(events)
    for epoch in range(config.iterations):
        for batch in plan.batches:
            forward = [next(stream) for _ in range(last)]
            error = next(stream)
            delta = [next(stream) for _ in range(last)]
            update = [next(stream) for _ in range(last)]
            assert [type(e) for e in forward] == [ForwardEvent] * last
            assert isinstance(error, ErrorEvent)
            assert [type(e) for e in delta] == [DeltaEvent] * last
            assert [type(e) for e in update] == [UpdateEvent] * last
            assert [e.layer for e in forward] == list(range(1, last + 1))
            assert [e.layer for e in delta] == [e.layer for e in update] == list(range(last, 0, -1))
            for event in (*forward, error, *delta, *update):
                assert (event.epoch, event.samples) == (epoch, tuple(batch))
            yield Step(epoch, tuple(batch), {e.layer: e for e in forward}, error,
                       {e.layer: e for e in delta}, {e.layer: e for e in update})
        assert isinstance(next(stream), EpochEndEvent)
    assert next(stream, None) is None


class Compare:
    """``np.testing.assert_allclose`` with a message that names the case and the step, and
    a record of the largest relative differences seen: per matrix (``max |actual -
    desired| / max |desired|``) and per entry (``|actual - desired| / |desired|``, where
    an entry below 1e-6 of its matrix's largest is measured against that largest / 1e6:
    an entry that cancels down to ~0 keeps the absolute rounding of its terms, which
    divided by ~0 would say nothing)."""

    def __init__(self, rtol: float, atol: float) -> None:
        self.rtol, self.atol = rtol, atol
        self.per_matrix = 0.0
        self.per_entry = 0.0
        self.values = 0

    def __call__(self, actual: Any, desired: Any, what: str) -> None:
        actual, desired = np.asarray(actual, dtype=np.float64), np.asarray(desired, dtype=np.float64)
        assert actual.shape == desired.shape, f"{what}: shape {actual.shape} != {desired.shape}"
        np.testing.assert_allclose(actual, desired, rtol=self.rtol, atol=self.atol, err_msg=what)
        self.values += actual.size
        difference = np.abs(actual - desired)
        scale = np.max(np.abs(desired), initial=0.0)
        if scale > 0.0:
            self.per_matrix = max(self.per_matrix, float(np.max(difference)) / scale)
            floor = np.maximum(np.abs(desired), 1e-6 * scale)
            self.per_entry = max(self.per_entry, float(np.max(difference / floor)))

    def summary(self) -> str:
        return (f"largest relative difference {self.per_matrix:.1e} per matrix, "
                f"{self.per_entry:.1e} per entry")


# ---------------------------------------------------------------------------------------
# 1. PyTorch parity
# ---------------------------------------------------------------------------------------

TORCH_VERSION = "2.13.0"


def torch_module() -> Any:
    return pytest.importorskip(
        "torch", reason=f"PyTorch is not installed: install torch=={TORCH_VERSION} "
        f"(pip install torch=={TORCH_VERSION}) for the gradient parity tests")


# Both sides compute in float64 and differ only in rounding: the order of the sums
# (exact mode's left-to-right vs BLAS/torch kernels), numpy's vs torch's exp and tanh
# (each within an ulp or two), and torch's backward formulas (e.g. sigmoid's
# grad * (1 - y) * y) against the book's. That is ~1e-16 relative per operation; a
# few passes of training through up to three layers amplify it to ~1e-13 at most
# (seen: 2e-13 of a matrix's largest entry, 7.5e-14 absolute). rtol 1e-10 still
# catches any change of a rule: a derivative off by 1e-7 relative fails
# (test_the_torch_comparison_catches_a_slightly_wrong_rule). atol 1e-12 is for
# entries that cancel to ~0 (a sum of O(1) terms, or w - alpha * weight_delta, that
# comes out small keeps the terms' absolute rounding of ~1e-16 each; such entries
# differ by up to 1e-11 of themselves). The worst entry seen uses ~1% of
# atol + rtol * |expected|.
TORCH_RTOL, TORCH_ATOL = 1e-10, 1e-12


def torch_parity(config: ExperimentConfig, plan: Plan, compare: Compare) -> int:
    """Train ``config`` with steptrace and with torch autograd side by side; compare every
    step. Returns the number of steps compared."""
    torch = torch_module()
    activation = {"linear": lambda z: z, "relu": torch.relu, "sigmoid": torch.sigmoid,
                  "tanh": torch.tanh}
    inputs = torch.tensor(config.inputs, dtype=torch.float64)
    goals = torch.tensor(config.goals, dtype=torch.float64)
    weights = [torch.tensor(w, dtype=torch.float64, requires_grad=True)
               for w in initial_weights(config)]
    last = len(weights)
    batches = [b for _ in range(config.iterations) for b in plan.batches]
    steps = 0
    for batch, step in itertools.zip_longest(batches, steps_of(config, plan)):
        assert step is not None and batch is not None, "steptrace ran a different number of steps"
        where = f"{describe(config)}; epoch {step.epoch}, samples {list(step.samples)}"
        n = len(batch)
        layer = inputs[batch]
        weighted_sums = {}
        for k in range(1, last + 1):
            z = layer @ weights[k - 1]
            z.retain_grad()
            weighted_sums[k] = z
            layer = activation[config.nonlinearities[k - 1]](z)
        goal = goals[batch]
        loss = 0.5 * ((layer - goal) ** 2).sum() / n
        loss.backward()

        for k in range(1, last + 1):
            compare(step.forward[k].weighted_sum, weighted_sums[k].detach().numpy(),
                    f"{where}: weighted_sum of layer {k}")
        compare(step.error.error, ((layer - goal) ** 2).sum().item(), f"{where}: error")
        for k in range(last, 0, -1):
            # z.grad is d L / d z with L divided by n; the book's delta is not divided.
            compare(step.delta[k].delta, (weighted_sums[k].grad * n).numpy(),
                    f"{where}: delta of layer {k}")
        with torch.no_grad():
            for k in range(last, 0, -1):
                w = weights[k - 1]
                compare(step.update[k].weight_delta, w.grad.numpy(),
                        f"{where}: weight_delta of weights_{k - 1}_{k}")
                w -= config.alpha * w.grad
                w.grad = None
                compare(step.update[k].weights, w.detach().numpy(), f"{where}: weights_{k - 1}_{k} after")
        steps += 1
    return steps


def test_torch_cases_cover_every_rule() -> None:
    seen: set[tuple[object, ...]] = set()
    for config in TORCH_CONFIGS:
        *hidden, output = config.nonlinearities
        label = strategy_label(config.strategy.model_dump())
        seen |= {("output", output, label, config.arithmetic), ("depth", len(hidden) + 1)}
        seen |= {("hidden", h, label, config.arithmetic) for h in hidden}
        seen |= {("hidden-output", h, output) for h in hidden}
        seen |= {("alpha", config.alpha), ("samples", len(config.inputs)),
                 ("iterations", config.iterations)}
        seen |= {("width", w) for w in config.layers}
        if config.strategy.name != "stochastic":
            plan = REGISTRY.resolve(config)
            seen |= {("batch", label, len(b)) for b in plan.batches}
    labels = [strategy_label(s) for s in STRATEGIES]
    expected = {
        *itertools.product(["output", "hidden"], NONLINEARITIES, labels, ARITHMETIC),
        *itertools.product(["hidden-output"], NONLINEARITIES, NONLINEARITIES),
        *(("depth", d) for d in (1, 2, 3)), *(("alpha", a) for a in ALPHAS),
        *(("samples", n) for n in range(2, 7)), *(("iterations", i) for i in range(1, 5)),
        *(("width", w) for w in range(1, 9)),
        ("batch", "minibatch-2", 1), ("batch", "minibatch-3", 1),  # a last, shorter batch
    }
    assert expected <= seen, sorted(expected - seen)


def test_gradient_parity_with_torch() -> None:
    """Every case, step by step, against torch autograd; the summary reports the largest
    relative difference over all of them."""
    torch = torch_module()
    compare = Compare(TORCH_RTOL, TORCH_ATOL)
    steps = 0
    for config in TORCH_CONFIGS:
        steps += torch_parity(config, REGISTRY.resolve(config), compare)
    assert steps > 2 * len(TORCH_CONFIGS)
    # Rounding differs somewhere (torch is not steptrace), but never by more than rounding.
    assert 0.0 < compare.per_matrix < TORCH_RTOL
    BOOK_REPORT.append(
        f"gradient parity with torch {torch.__version__}: {len(TORCH_CONFIGS)} networks, "
        f"{steps} steps, {compare.values} values, {compare.summary()}")


def wrong_by(nonlinearity: str, factor: float, plan: Plan) -> Plan:
    """The plan with one nonlinearity's derivative multiplied by ``factor``."""
    replaced = []
    for act in plan.nonlinearities:
        if act.name == nonlinearity:
            def wrong(out: Array, d: Callable[[Array], Array] = act.derivative) -> Array:
                return d(out) * factor

            act = dataclasses.replace(act, derivative=wrong)
        replaced.append(act)
    return dataclasses.replace(plan, nonlinearities=tuple(replaced))


@pytest.mark.parametrize("nonlinearity", ["sigmoid", "tanh", "relu"])
def test_the_torch_comparison_catches_a_slightly_wrong_rule(nonlinearity: str) -> None:
    torch_module()
    config = next(c for c in TORCH_CONFIGS
                  if c.nonlinearities[0] == nonlinearity and len(c.nonlinearities) > 1)
    plan = REGISTRY.resolve(config)
    torch_parity(config, plan, Compare(TORCH_RTOL, TORCH_ATOL))  # the real rule agrees
    with pytest.raises(AssertionError, match=r": delta of layer \d"):
        torch_parity(config, wrong_by(nonlinearity, 1 + 1e-7, plan), Compare(TORCH_RTOL, TORCH_ATOL))


# ---------------------------------------------------------------------------------------
# 2. Finite differences (no torch)
# ---------------------------------------------------------------------------------------

H = 1e-6
# The central difference (L(w + h) - L(w - h)) / 2h is off from dL/dw by h² / 6 times the
# third derivative of L (truncation, ~1e-13 here) plus the rounding of the two losses
# divided by 2h: each loss is summed with math.fsum (off by an ulp or two of L,
# ~1e-16 * L), so the quotient is off by ~1e-16 * L / 1e-6 = 1e-10 * L, and L reaches
# ~10 for the wider networks: ~1e-9 absolute (seen: 1.7e-9), i.e. ~1e-8 relative to a
# typical gradient of 0.1. FD_ATOL 1e-8 and FD_RTOL 1e-6 cover that with a margin of
# ~25 (the worst entry seen uses 4% of atol + rtol * |expected|); a derivative off by
# 1e-4 relative still fails (test_finite_differences_catch_a_wrong_rule). A smaller h
# would lose more to the rounding of L, a larger one more to truncation: 1e-6
# balances them.
FD_RTOL, FD_ATOL = 1e-6, 1e-8


def loss_and_pattern(layer_0: np.ndarray, goal: np.ndarray, weights: list[np.ndarray],
                     config: ExperimentConfig) -> tuple[float, tuple[bytes, ...]]:
    """L = 0.5 * sum((prediction - goal)**2) / n, computed with numpy and the registry's
    nonlinearities, and which relu neurons fired (the side of the kink each is on)."""
    layer = layer_0
    pattern = []
    for w, name in zip(weights, config.nonlinearities, strict=True):
        z = layer @ w
        if name == "relu":
            pattern.append((z > 0).tobytes())
        layer = REGISTRY.nonlinearity(name).function(z)
    return 0.5 * math.fsum(((layer - goal) ** 2).ravel()) / len(layer_0), tuple(pattern)


def finite_differences(config: ExperimentConfig, plan: Plan, compare: Compare) -> tuple[int, int, int]:
    """Every step of the first pass: each weight_delta against the central difference of L
    at the weights before that step. Returns (steps, weights compared, weights skipped).

    A relu has a kink at 0, where L is not differentiable and a difference across it
    measures neither side's slope. The inputs are continuous draws (no exact zeros, so no
    pre-activation sits exactly on the kink); a weight whose ±h probe moves any relu
    neuron of the batch to the other side is skipped (and counted)."""
    inputs = np.array(config.inputs)
    goals = np.array(config.goals)
    weights = initial_weights(config)
    steps = compared = skipped = 0
    for step in steps_of(config, plan):
        where = f"{describe(config)}; epoch {step.epoch}, samples {list(step.samples)}"
        batch = list(step.samples)
        layer_0, goal = inputs[batch], goals[batch]
        _, pattern = loss_and_pattern(layer_0, goal, weights, config)
        for k in range(1, len(weights) + 1):
            gradient = np.full(weights[k - 1].shape, np.nan)
            for index in np.ndindex(gradient.shape):
                losses = []
                for sign in (+1, -1):
                    probe = [w.copy() for w in weights]
                    probe[k - 1][index] += sign * H
                    loss, probe_pattern = loss_and_pattern(layer_0, goal, probe, config)
                    losses.append(loss if probe_pattern == pattern else math.nan)
                gradient[index] = (losses[0] - losses[1]) / (2 * H)
            smooth = ~np.isnan(gradient)
            skipped += int(np.sum(~smooth))
            compared += int(np.sum(smooth))
            weight_delta = np.array(step.update[k].weight_delta)
            compare(weight_delta[smooth], gradient[smooth],
                    f"{where}: weight_delta of weights_{k - 1}_{k} vs finite differences")
        weights = [np.array(step.update[k].weights) for k in range(1, len(weights) + 1)]
        steps += 1
    return steps, compared, skipped


def test_gradients_match_finite_differences() -> None:
    compare = Compare(FD_RTOL, FD_ATOL)
    steps = compared = skipped = 0
    for config in FD_CONFIGS:
        s, c, k = finite_differences(config, REGISTRY.resolve(config), compare)
        steps, compared, skipped = steps + s, compared + c, skipped + k
    assert {name for c in FD_CONFIGS for name in c.nonlinearities} == set(NONLINEARITIES)
    assert {strategy_label(c.strategy.model_dump()) for c in FD_CONFIGS} == {
        strategy_label(s) for s in STRATEGIES}
    assert steps > len(FD_CONFIGS) and compared > 1000
    assert skipped < 0.01 * compared  # the kink is rare with continuous data
    assert 0.0 < compare.per_matrix < FD_RTOL
    BOOK_REPORT.append(
        f"gradients against central finite differences (h = {H:g}): {len(FD_CONFIGS)} networks, "
        f"{steps} steps, {compared} weights ({skipped} skipped at a relu kink), {compare.summary()}")


@pytest.mark.parametrize("nonlinearity", ["sigmoid", "tanh"])
def test_finite_differences_catch_a_wrong_rule(nonlinearity: str) -> None:
    config = next(c for c in FD_CONFIGS
                  if c.nonlinearities[0] == nonlinearity and len(c.nonlinearities) > 1)
    plan = REGISTRY.resolve(config)
    finite_differences(config, plan, Compare(FD_RTOL, FD_ATOL))  # the real rule agrees
    with pytest.raises(AssertionError, match="finite differences"):
        finite_differences(config, wrong_by(nonlinearity, 1 + 1e-4, plan), Compare(FD_RTOL, FD_ATOL))


def test_finite_differences_skip_a_weight_whose_probe_crosses_the_relu_kink() -> None:
    # relu(w * 1.0) with w = 3e-7: the probe w - h = -7e-7 switches the neuron off, so the
    # central difference would measure half the slope; that weight is skipped, the other
    # (whose probes leave the neuron on) is compared.
    config = ExperimentConfig.model_validate({
        "name": "kink", "layers": [1, 1, 1], "nonlinearities": ["relu", "linear"],
        "weights": [[[3e-7]], [[0.5]]], "alpha": 0.1, "iterations": 1,
        "inputs": [[1.0]], "goals": [[1.0]],
    })
    compare = Compare(FD_RTOL, FD_ATOL)
    assert finite_differences(config, REGISTRY.resolve(config), compare) == (1, 1, 1)
    assert compare.values == 1
