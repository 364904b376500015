"""steptrace-extras, tested with steptrace's authoring kit (its pytest plugin) only."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

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
    assert listing["extras"]["nonlinearities"] == ["leaky_relu", "softplus"]
    assert listing["extras"]["strategies"] == ["momentum"]
    assert REGISTRY.nonlinearities["leaky_relu"].plugin == "extras"


def test_leaky_relu_passes_the_derivative_check() -> None:
    assert check_nonlinearity(REGISTRY.nonlinearity("leaky_relu")) == 80  # the kink at 0 skipped
    x = np.array([[-2.0, 0.0, 3.0]])
    assert extras.leaky_relu(x).tolist() == [[-0.02, 0.0, 3.0]]


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


@pytest.mark.parametrize("name", ["streetlights-momentum", "streetlights-leaky-relu",
                                  "streetlights-softplus"])
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


def test_bad_options_are_one_line_errors(steptrace_cli: Cli, tmp_path: Path) -> None:
    experiment = tmp_path / "bad.json"
    config = REGISTRY.experiment("streetlights-momentum").model_dump()
    config["strategy"] = {"name": "momentum", "beta": 1.5}
    import json

    experiment.write_text(json.dumps(config))
    result = steptrace_cli("record", experiment, "-o", tmp_path / "t.jsonl")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {experiment}: strategy momentum: beta must be at least 0 "
                             "and below 1, not 1.5\n")


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
