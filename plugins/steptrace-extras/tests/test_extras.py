"""steptrace-extras, tested with steptrace's authoring kit (its pytest plugin) only."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from steptrace import Array
from steptrace.plugins.registry import Registry
from steptrace.testing import CliResult, GoldenCheck, check_nonlinearity, check_strategy

extras = pytest.importorskip("steptrace_extras", reason="pip install -e plugins/steptrace-extras")
Cli = Callable[..., CliResult]


@pytest.fixture
def steptrace_cli(steptrace_cli: Cli) -> Cli:
    """The command line with the built-ins and this plugin only (the kit's fixture)."""
    return functools.partial(steptrace_cli, plugins=[("extras", extras)])

GOLDEN = Path(__file__).parent / "golden"
REGISTRY = Registry.load()


def test_the_plugin_is_discovered_through_its_entry_point() -> None:
    listing = {p["name"]: p for p in REGISTRY.describe_plugins()}
    assert listing["extras"]["source"] == "entry point of steptrace-extras"
    assert listing["extras"]["version"] == "0.1.0"
    assert listing["extras"]["nonlinearities"] == ["gelu", "leaky_relu", "silu", "softplus"]
    assert listing["extras"]["nonlinearity_options"]["leaky_relu"]["slope"]["described"] == (
        "float, default 0.01: what a negative input is multiplied by (at least 0)")
    assert listing["extras"]["strategies"] == ["momentum", "nesterov"]
    assert REGISTRY.nonlinearities["leaky_relu"].plugin == "extras"


def test_leaky_relu_passes_the_derivative_check() -> None:
    assert check_nonlinearity(REGISTRY.nonlinearity("leaky_relu")) == 80  # the kink at 0 skipped
    x = np.array([[-2.0, 0.0, 3.0]])
    assert REGISTRY.nonlinearity("leaky_relu").function(x).tolist() == [[-0.02, 0.0, 3.0]]
    assert extras.leaky_relu(x, slope=0.2).tolist() == [[-0.4, 0.0, 3.0]]
    assert check_nonlinearity("leaky_relu", options={"slope": 0.2}) == 80


def test_gelu_derivative_of_its_input_against_finite_differences_and_the_closed_form() -> None:
    """GELU dips below 0 (its minimum is near x = -0.75): at -0.94 its slope is negative,
    and the output there is also the output of an input near -0.584, so only a derivative
    of the input can be right. The kit checks it from the input (at -4 to 4)."""
    gelu = REGISTRY.nonlinearity("gelu")
    assert gelu.derivative_of == "input"
    assert check_nonlinearity(gelu) == 81
    x = -0.94
    c, a = math.sqrt(2 / math.pi), 0.044715
    t = math.tanh(c * (x + a * x**3))
    closed = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * a * x * x)  # d/dx of the tanh form
    h = 1e-6
    numeric = float((gelu.function(np.array([x + h])) - gelu.function(np.array([x - h])))[0] / (2 * h))
    derivative = float(gelu.derivative(np.array([x]))[0])
    assert derivative == pytest.approx(-0.0671194990170567, rel=1e-14)
    assert derivative == pytest.approx(closed, rel=1e-14)
    assert derivative == pytest.approx(numeric, rel=1e-8)
    assert float(gelu.function(np.array([x]))[0]) == pytest.approx(0.5 * x * (1 + t), rel=1e-15)
    # the same output from two inputs: the output cannot say which slope applies
    y = float(gelu.function(np.array([x]))[0])
    other = float(gelu.function(np.array([-0.584017374667689]))[0])
    assert other == pytest.approx(y, abs=1e-15)
    assert float(gelu.derivative(np.array([-0.584017374667689]))[0]) == pytest.approx(0.0833246, abs=1e-7)


def test_an_output_derivative_of_gelu_is_caught_and_told_why() -> None:
    wrong = dataclasses.replace(REGISTRY.nonlinearity("gelu"), derivative_of="output")
    with pytest.raises(AssertionError, match=r"gelu is not monotonic on these inputs: .* "
                                             r"declare derivative_of=\"input\""):
        check_nonlinearity(wrong)


def test_silu_derivative_of_its_input() -> None:
    silu = REGISTRY.nonlinearity("silu")
    assert silu.derivative_of == "input"
    assert check_nonlinearity(silu) == 81
    x = -1.5  # below silu's minimum (near -1.278): the slope is negative
    s = 1 / (1 + math.exp(-x))
    assert float(silu.derivative(np.array([x]))[0]) == pytest.approx(s * (1 + x * (1 - s)), rel=1e-15)
    assert float(silu.derivative(np.array([x]))[0]) < 0


def test_gelu_and_silu_take_the_weighted_sum_in_a_recorded_delta() -> None:
    """The hidden delta event's derivative is gelu'(weighted_sum) of the forward event."""
    for name in ("gelu", "silu"):
        config = REGISTRY.experiment(f"streetlights-{name}")
        events: list[Any] = []
        from steptrace.recording import run

        run(config, REGISTRY.resolve(config), events.append)
        forward = next(e for e in events if e.kind == "forward" and e.layer == 1)
        delta = next(e for e in events if e.kind == "delta" and e.layer == 1)
        rule = REGISTRY.nonlinearity(name)
        assert delta.derivative is not None
        assert list(delta.derivative[0]) == rule.derivative(np.array(forward.weighted_sum))[0].tolist()
        assert any(x < 0 for x in forward.weighted_sum[0])


def test_the_leaky_relu_slope_is_in_a_recorded_delta() -> None:
    """nonlinearities = [{name = "leaky_relu", slope = 0.2}, "linear"]: the hidden layer's
    derivative is 0.2 where the weighted sum was negative, its output 0.2 times it."""
    base = REGISTRY.experiment("streetlights-leaky-relu")
    config = base.model_validate({**base.model_dump(),
                                  "nonlinearities": [{"name": "leaky_relu", "slope": 0.2}, "linear"]})
    from steptrace.recording import run

    events: list[Any] = []
    run(config, REGISTRY.resolve(config), events.append)
    forward = next(e for e in events if e.kind == "forward" and e.layer == 1)
    delta = next(e for e in events if e.kind == "delta" and e.layer == 1)
    assert forward.weighted_sum[0][0] == -0.3724210421335121
    assert forward.layer_out[0][0] == 0.2 * -0.3724210421335121
    assert list(delta.derivative[0]) == [0.2, 1.0, 0.2, 0.2]
    default: list[Any] = []
    run(base, REGISTRY.resolve(base), default.append)
    assert list(next(e for e in default if e.kind == "delta" and e.layer == 1).derivative[0]) == [
        0.01, 1.0, 0.01, 0.01]


def test_softplus_passes_the_derivative_check_and_agrees_with_numpys() -> None:
    """Its derivative from the output; its portable arithmetic within a few ulps of
    numpy's logaddexp (which blas mode uses), far out on both sides too."""
    assert check_nonlinearity(REGISTRY.nonlinearity("softplus")) == 81
    x = np.array([-800.0, -40.0, -1.0, -0.0, 1e-300, 0.5, 30.0, 800.0, np.inf])
    assert np.allclose(extras.softplus(x), np.logaddexp(0.0, x), rtol=4e-16, atol=0)
    assert extras.softplus(np.array([-np.inf]))[0] == 0.0


@pytest.mark.parametrize("options", [{}, {"beta": 0.5}, {"beta": 0.9, "batch_size": 2}])
def test_momentum_passes_the_strategy_contract(options: dict[str, Any]) -> None:
    check_strategy(REGISTRY.strategy("momentum"), options)


def test_momentum_with_beta_0_is_plain_gradient_descent(tmp_path: Path) -> None:
    """With beta = 0 the velocity is the weight_delta: the same weights as stochastic."""
    base = REGISTRY.experiment("streetlights-momentum")
    plain = base.model_validate({**base.model_dump(), "strategy": {"name": "stochastic"}})
    zero = base.model_validate({**base.model_dump(), "strategy": {"name": "momentum", "beta": 0.0}})
    from steptrace.recording import run

    weights = []
    for config in (plain, zero):
        network = run(config, REGISTRY.resolve(config))
        weights.append([w.tolist() for w in network.weights])
    assert weights[0] == weights[1]


def test_momentum_matches_a_plain_numpy_loop() -> None:
    """The same training written out by hand: velocity = beta*velocity + weight_delta."""
    config = REGISTRY.experiment("streetlights-momentum")
    from steptrace.engine.network import initial_weights
    from steptrace.recording import run

    w01, w12 = initial_weights(config)
    v01, v12 = np.zeros_like(w01), np.zeros_like(w12)
    inputs, goals = np.array(config.inputs), np.array(config.goals)
    for _ in range(config.iterations):
        for i in range(len(inputs)):
            layer_0 = inputs[i:i + 1]
            layer_1 = (layer_0 @ w01 > 0) * (layer_0 @ w01)
            layer_2 = layer_1 @ w12
            delta_2 = layer_2 - goals[i:i + 1]
            delta_1 = delta_2 @ w12.T * (layer_1 > 0)
            v12 = 0.9 * v12 + layer_1.T @ delta_2
            v01 = 0.9 * v01 + layer_0.T @ delta_1
            w12 = w12 - config.alpha * v12
            w01 = w01 - config.alpha * v01
    network = run(config, REGISTRY.resolve(config))
    np.testing.assert_allclose(network.weights[0], w01, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(network.weights[1], w12, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("options", [{}, {"beta": 0.5}, {"beta": 0.9, "batch_size": 2}])
def test_nesterov_passes_the_strategy_contract(options: dict[str, Any]) -> None:
    check_strategy(REGISTRY.strategy("nesterov"), options)


def test_nesterov_with_beta_0_is_plain_gradient_descent() -> None:
    """With beta = 0 the look-ahead is the weights themselves and the velocity the
    weight_delta: the same weights as stochastic, bit for bit."""
    base = REGISTRY.experiment("streetlights-nesterov")
    from steptrace.recording import run

    weights = []
    for strategy in ({"name": "stochastic"}, {"name": "nesterov", "beta": 0.0}):
        config = base.model_validate({**base.model_dump(), "strategy": strategy})
        weights.append([w.tobytes() for w in run(config, REGISTRY.resolve(config)).weights])
    assert weights[0] == weights[1]


def nesterov_by_hand(config: Any, dot: Callable[[Array, Array], Array],
                     batch_size: int) -> list[tuple[Array, Array]]:
    """The ch. 6 network (relu, then linear) trained with Nesterov's accelerated gradient,
    written out: the gradient at the look-ahead w - alpha * (beta * v), then
    v = beta * v + gradient and w -= alpha * v. Every step's weights."""
    from steptrace.engine.network import initial_weights

    w01, w12 = initial_weights(config)
    v01, v12 = np.zeros_like(w01), np.zeros_like(w12)
    alpha, beta = config.alpha, 0.9
    streetlights, walk_vs_stop = config.inputs.array, config.goals.array
    weights = []
    for _ in range(config.iterations):
        for i in range(0, len(streetlights), batch_size):
            layer_0, goal = streetlights[i:i + batch_size], walk_vs_stop[i:i + batch_size]
            ahead_0_1 = w01 - alpha * (beta * v01)  # the look-ahead weights
            ahead_1_2 = w12 - alpha * (beta * v12)
            layer_1 = (dot(layer_0, ahead_0_1) > 0) * dot(layer_0, ahead_0_1)  # relu
            layer_2 = dot(layer_1, ahead_1_2)
            layer_2_delta = layer_2 - goal
            layer_1_delta = dot(layer_2_delta, ahead_1_2.T) * (layer_1 > 0)
            gradient_1_2, gradient_0_1 = dot(layer_1.T, layer_2_delta), dot(layer_0.T, layer_1_delta)
            if len(layer_0) > 1:  # averaged over the batch
                gradient_1_2, gradient_0_1 = gradient_1_2 / len(layer_0), gradient_0_1 / len(layer_0)
            v12 = beta * v12 + gradient_1_2
            v01 = beta * v01 + gradient_0_1
            w12 = w12 - alpha * v12
            w01 = w01 - alpha * v01
            weights.append((w01, w12))
    return weights


@pytest.mark.parametrize(("arithmetic", "batch_size"), [("exact", 1), ("exact", 2), ("blas", 1),
                                                        ("blas", 2)])
def test_nesterov_matches_a_plain_numpy_loop_bit_for_bit(arithmetic: str, batch_size: int) -> None:
    """Every weight after every step of streetlights-nesterov equals, bit for bit, that of
    the loop written out above: in exact arithmetic with the engine's exact dot (plain
    np.dot sums in another order here, and leaves the engine's bits after ~16 steps), in
    blas arithmetic with np.dot itself."""
    from steptrace.engine.arithmetic import exact_dot
    from steptrace.recording import run

    base = REGISTRY.experiment("streetlights-nesterov")
    config = base.model_validate({**base.model_dump(), "arithmetic": arithmetic, "strategy": {
        "name": "nesterov", "beta": 0.9, "batch_size": batch_size}})
    events: list[Any] = []
    run(config, REGISTRY.resolve(config), events.append)
    updates = [e for e in events if e.kind == "update"]  # weights_1_2's, then weights_0_1's
    recorded = [(np.array(updates[n + 1].weights), np.array(updates[n].weights))
                for n in range(0, len(updates), 2)]
    by_hand = nesterov_by_hand(config, exact_dot if arithmetic == "exact" else np.dot, batch_size)
    assert len(recorded) == len(by_hand) == 60 * 4 // batch_size
    for step, (engine, loop) in enumerate(zip(recorded, by_hand, strict=True)):
        for k in (0, 1):
            assert engine[k].tobytes() == loop[k].tobytes(), (
                f"step {step}: weights_{k}_{k + 1} {engine[k].tolist()} != {loop[k].tolist()}")
    assert not [e for e in events if e.kind == "delta"]  # a look-ahead is never traced
    if (arithmetic, batch_size) == ("exact", 1):
        assert recorded[0][1].tolist() == [[-0.5910955005369651], [0.7719921296136174],
                                           [-0.9452248136041477], [0.34093502035680445]]
        assert events[-1].error == 2.605274670349978e-14


def test_nesterov_converges_faster_than_momentum() -> None:
    """The same network, alpha and beta: after 60 passes momentum's summed error is
    2.578e-12, Nesterov's 2.605e-14, a hundredth of it."""
    from steptrace.recording import run

    final = {}
    for name in ("streetlights-momentum", "streetlights-nesterov"):
        config = REGISTRY.experiment(name)
        events: list[Any] = []
        run(config, REGISTRY.resolve(config), events.append, detail="epoch")
        final[name] = events[-1].error
    assert final == {"streetlights-momentum": 2.5782392877410974e-12,
                     "streetlights-nesterov": 2.605274670349978e-14}


@pytest.mark.parametrize("name", ["streetlights-momentum", "streetlights-nesterov",
                                  "streetlights-leaky-relu", "streetlights-softplus",
                                  "streetlights-gelu", "streetlights-silu"])
def test_golden_trace(name: str, golden_trace: GoldenCheck) -> None:
    golden_trace(name, GOLDEN / f"{name}.jsonl")


def test_record_and_replay_from_the_command_line(steptrace_cli: Cli, tmp_path: Path) -> None:
    trace = tmp_path / "momentum.jsonl"
    recorded = steptrace_cli("record", "streetlights-momentum", "-o", trace)
    assert recorded.exit_code == 0, recorded.stderr
    replayed = steptrace_cli("replay", trace)
    assert replayed.stdout == (f"{trace}: all 1740 events match (bit for bit)\n"
                               f"{trace}: the header agrees with experiment "
                               "'streetlights-momentum' (extras 0.1.0)\n")
    assert '"strategy:momentum":"extras 0.1.0"' in trace.read_text().splitlines()[0]


def test_nesterov_records_and_replays_from_the_command_line(steptrace_cli: Cli,
                                                            tmp_path: Path) -> None:
    """Its trace holds no delta events (the look-ahead's are not the step's): 5 events a
    step, 1260 in all; its updates carry the velocity as weight_delta, and replay
    re-executes the look-ahead and matches every one, bit for bit."""
    trace = tmp_path / "nesterov.jsonl"
    recorded = steptrace_cli("record", "streetlights-nesterov", "-o", trace)
    assert recorded.exit_code == 0, recorded.stderr
    replayed = steptrace_cli("replay", trace)
    assert replayed.stdout == (f"{trace}: all 1260 events match (bit for bit)\n"
                               f"{trace}: the header agrees with experiment "
                               "'streetlights-nesterov' (extras 0.1.0)\n")
    lines = trace.read_text().splitlines()
    assert '"kind":"delta"' not in trace.read_text()
    assert lines[4] == ('{"seq":3,"epoch":0,"samples":[0],"layer":2,"kind":"update","alpha":0.05,'
                        '"weight_delta":[[0.0],[-0.3151451366345312],[0.0],[0.0]],'
                        '"rule":"nesterov","details":{"beta":0.9}}')


def test_bad_options_are_one_line_errors(steptrace_cli: Cli, tmp_path: Path) -> None:
    experiment = tmp_path / "bad.json"
    config = REGISTRY.experiment("streetlights-momentum").model_dump()
    config["strategy"] = {"name": "momentum", "beta": 1.5}
    import json

    experiment.write_text(json.dumps(config))
    result = steptrace_cli("record", experiment, "-o", tmp_path / "t.jsonl")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {experiment}: strategy momentum (plugin extras 0.1.0): "
                             "beta must be at least 0 and below 1, not 1.5\n")


def test_a_plugin_command_reads_a_trace_through_the_public_api(steptrace_cli: Cli,
                                                               tmp_path: Path) -> None:
    """`steptrace summary` (the plugin's command) loads a step-detail trace with
    steptrace.load: every pass's error, and final weights that the trace leaves out
    (derived back) equal those of an `all`-detail trace of the same run."""
    step, every = tmp_path / "step.jsonl", tmp_path / "all.jsonl"
    for path, detail in ((step, "step"), (every, "all")):
        done = steptrace_cli("record", "streetlights-momentum", "-o", path, "--detail", detail)
        assert done.exit_code == 0, done.stderr
    shown = [steptrace_cli("summary", path) for path in (step, every)]
    assert shown[0].exit_code == 0, shown[0].stderr
    assert shown[0].stdout == shown[1].stdout
    lines = shown[0].stdout.splitlines()
    assert lines[0] == "streetlights-momentum: 1740 events, 60 pass(es)"
    assert len([line for line in lines if line.startswith("  pass ")]) == 60
    assert lines[-2].startswith("  final weights_0_1: [[") and lines[-1].startswith("  final weights_1_2: [[")
