"""A nonlinearity's options (``{name = "leaky_relu", slope = 0.2}``) and derivatives of the
input (``derivative_of = "input"``): configs, checks, the trace, replay, diff, the narration
and the page. The rules are steptrace-extras' (leaky_relu's slope, gelu)."""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from steptrace.config import ExperimentConfig, dump_json, dump_toml, load_config
from steptrace.engine.rules import Nonlinearity, Option
from steptrace.errors import ConfigError
from steptrace.plugins.hookspecs import hookimpl
from steptrace.plugins.registry import Registry
from steptrace.testing import CliResult
from steptrace.views.html import uneditable

extras = pytest.importorskip("steptrace_extras", reason="pip install -e plugins/steptrace-extras")
Cli = Callable[..., CliResult]
REGISTRY = Registry.load()
BASE = REGISTRY.experiment("streetlights-leaky-relu")


@pytest.fixture
def steptrace_cli(steptrace_cli: Cli) -> Cli:
    return functools.partial(steptrace_cli, plugins=[("extras", extras)])


def with_layer_1(entry: object, config: ExperimentConfig = BASE) -> ExperimentConfig:
    return ExperimentConfig.model_validate({**config.model_dump(), "nonlinearities": [entry, "linear"]})


def test_a_bare_name_and_a_table_without_options_are_the_same_config_written_as_today() -> None:
    table = with_layer_1({"name": "leaky_relu"})
    assert table == BASE and table.nonlinearity_options == ({}, {})
    assert dump_json(table) == dump_json(BASE)
    assert '"nonlinearities": [\n    "leaky_relu",\n    "linear"\n  ]' in dump_json(BASE)


def test_options_are_kept_compared_and_written_back_as_the_table_they_were_given_as() -> None:
    slope = with_layer_1({"name": "leaky_relu", "slope": 0.2})
    assert slope.nonlinearities == ("leaky_relu", "linear")
    assert slope.nonlinearity_options == ({"slope": 0.2}, {})
    assert slope.nonlinearity_label(1) == "leaky_relu(slope 0.2)"
    assert slope != BASE and slope != with_layer_1({"name": "leaky_relu", "slope": 0.3})
    assert json.loads(slope.model_dump_json())["nonlinearities"] == [
        {"name": "leaky_relu", "slope": 0.2}, "linear"]
    toml = dump_toml(slope)
    assert 'nonlinearities = [\n  { name = "leaky_relu", slope = 0.2 },\n  "linear",\n]' in toml
    assert ExperimentConfig.model_validate(tomllib.loads(toml)) == slope
    assert slope.model_copy(update={"arithmetic": "blas"}).nonlinearity_options[0] == {"slope": 0.2}


@pytest.mark.parametrize(("entry", "message"), [
    ("{ slope = 0.2 }", "nonlinearities[0] (layer_1's): a table needs the nonlinearity's name: "
                        '{name = "leaky_relu", slope = 0.2}'),
    ('{ name = "leaky_relu", slope = [1] }',
     "nonlinearities[0] (layer_1's): option slope must be a number, true/false or a string, not list"),
    ('{ name = "leaky_relu", slope = nan }',
     "nonlinearities[0] (layer_1's): option slope is nan: it must be finite"),
])
def test_a_malformed_table_is_one_line_naming_the_layer(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(dump_toml(BASE).replace('nonlinearities = ["leaky_relu", "linear"]',
                                            f'nonlinearities = [{entry}, "linear"]'))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == f"{path}: {message}"


@pytest.mark.parametrize(("entry", "message"), [
    # an outside plugin's rule: named with its plugin (a built-in's, relu's: not)
    ({"name": "leaky_relu", "slop": 0.2},
     "layer_1's nonlinearity leaky_relu (plugin extras 0.1.0) has no option 'slop': did you mean "
     "'slope'? its options: slope (float, default 0.01: what a negative input is multiplied by "
     "(at least 0))"),
    ({"name": "leaky_relu", "slope": "steep"},
     "layer_1's nonlinearity leaky_relu (plugin extras 0.1.0): option slope takes a number, not "
     "'steep'"),
    ({"name": "leaky_relu", "slope": True},
     "layer_1's nonlinearity leaky_relu (plugin extras 0.1.0): option slope takes a number, not "
     "True"),
    ({"name": "gelu", "slope": 0.2},
     "layer_1's nonlinearity gelu (plugin extras 0.1.0) takes no options, not 'slope': give it "
     "by name alone (\"gelu\")"),
    ({"name": "relu", "slope": 0.2},
     "layer_1's nonlinearity relu takes no options, not 'slope': give it by name alone (\"relu\")"),
])
def test_options_are_checked_against_what_the_nonlinearity_declares(entry: dict[str, object],
                                                                     message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        REGISTRY.resolve(with_layer_1(entry))
    assert str(raised.value) == message


def test_a_plugin_strategys_bad_option_names_its_plugin() -> None:
    nesterov = REGISTRY.experiment("streetlights-nesterov").model_dump()
    config = ExperimentConfig.model_validate(
        {**nesterov, "strategy": {"name": "nesterov", "momentum": 0.9}})
    with pytest.raises(ConfigError) as raised:
        REGISTRY.resolve(config)
    assert str(raised.value) == (
        "strategy nesterov (plugin extras 0.1.0) has no option 'momentum': its options: beta "
        "(float, default 0.9: how much of the last velocity each step keeps); batch_size (int, "
        "default 1: how many samples make one update)")
    stochastic = ExperimentConfig.model_validate(
        {**nesterov, "strategy": {"name": "stochastic", "momentum": 0.9}})
    with pytest.raises(ConfigError) as raised:
        REGISTRY.resolve(stochastic)
    assert str(raised.value) == "strategy stochastic has no option 'momentum': its options: none"


def test_an_int_is_taken_for_a_float_option_and_reaches_the_function() -> None:
    plan = REGISTRY.resolve(with_layer_1({"name": "leaky_relu", "slope": 1}))
    x = np.array([[-2.0, 3.0]])
    assert plan.nonlinearities[0].function(x).tolist() == [[-2.0, 3.0]]
    assert plan.nonlinearities[0].derivative(x).tolist() == [[1.0, 1.0]]
    default = REGISTRY.resolve(BASE).nonlinearities[0]
    assert default.function(x).tolist() == [[-0.02, 3.0]]


def test_a_nonlinearity_option_needs_a_default() -> None:
    with pytest.raises(ValueError, match="option slope needs a default"):
        Nonlinearity("bent", extras.leaky_relu, extras.leaky_relu2deriv, "x", "1",
                     options={"slope": Option(float)})
    with pytest.raises(ValueError, match='derivative_of is "output" or "input", not \'weighted\''):
        Nonlinearity("bent", extras.gelu, extras.gelu2deriv, "x", "1",
                     derivative_of="weighted")  # type: ignore[arg-type]


@pytest.fixture
def slopes(steptrace_cli: Cli, tmp_path: Path) -> dict[float, Path]:
    traces = {}
    for slope in (0.2, 0.3):
        experiment = tmp_path / f"slope-{slope}.toml"
        experiment.write_text(dump_toml(with_layer_1({"name": "leaky_relu", "slope": slope}).model_copy(
            update={"name": f"slope-{slope}"})))
        traces[slope] = tmp_path / f"slope-{slope}.jsonl"
        done = steptrace_cli("record", experiment, "-o", traces[slope])
        assert done.exit_code == 0, done.stderr
    return traces


def test_the_trace_records_the_options_and_replays_bit_for_bit(steptrace_cli: Cli,
                                                                slopes: dict[float, Path]) -> None:
    header = json.loads(slopes[0.2].read_text().splitlines()[0])
    assert header["config"]["nonlinearities"] == [{"name": "leaky_relu", "slope": 0.2}, "linear"]
    replayed = steptrace_cli("replay", slopes[0.2])
    assert replayed.exit_code == 0, replayed.stderr
    assert replayed.stdout.startswith(f"{slopes[0.2]}: all 1740 events match (bit for bit)\n")


def test_a_trace_of_slope_0_2_does_not_replay_under_slope_0_3(steptrace_cli: Cli,
                                                               slopes: dict[float, Path],
                                                               tmp_path: Path) -> None:
    lines = slopes[0.2].read_text().splitlines(keepends=True)
    assert '"slope":0.2}' in lines[0]
    edited = tmp_path / "edited.jsonl"
    edited.write_text(lines[0].replace('"slope":0.2}', '"slope":0.3}') + "".join(lines[1:]))
    replayed = steptrace_cli("replay", edited)
    assert replayed.exit_code == 1
    # layer_1's first weighted sum is -0.3724210421335121: 0.2 and 0.3 times it
    assert replayed.stderr == (
        f"Error: {edited}: replay diverges at event 0 (forward, epoch 0, samples [0], layer 1): "
        "field layer_out[0][0]: recorded -0.07448420842670243, recomputed -0.11172631264005363 "
        "(|Δ| 0.0372, relative 0.333); every rule is the one that recorded it (the same plugin, "
        "release and revision): a rule's code changed without a new revision, or the trace was "
        "edited\n")


def test_diff_names_the_option_that_differs(steptrace_cli: Cli, slopes: dict[float, Path]) -> None:
    result = steptrace_cli("diff", slopes[0.2], slopes[0.3])
    assert result.exit_code == 1
    assert (f"  config field nonlinearities[0].slope: {slopes[0.2]} 0.2, {slopes[0.3]} 0.3 "
            "(|Δ| 0.1, relative 0.333)") in result.stdout.splitlines()
    assert "first divergence at event 0 (forward, epoch 0, samples [0], layer 1):" in result.stdout


def test_the_narration_names_the_options_and_the_derivative_of_the_input(
        steptrace_cli: Cli, slopes: dict[float, Path], tmp_path: Path) -> None:
    shown = steptrace_cli("show", slopes[0.2], "--epoch", "0", "--sample", "0").stdout.splitlines()
    assert shown[1].startswith("[0] layer_1 = leaky_relu(slope 0.2)(layer_0 · weights_0_1) = "
                               "leaky_relu(slope 0.2)([-0.3724, 0.5183, -1.161, -0.0249]) = "
                               "[-0.07448, 0.5183, -0.2323, -0.004979]")
    # the derivative named with the same options as the forward line's nonlinearity
    assert shown[5] == ("[4] layer_1_delta = layer_2_delta · weights_1_2ᵀ * "
                        "leaky_relu2deriv(slope 0.2)(layer_1) = [0.2046, -0.2618, 0.3272, -0.118] "
                        "* [0.2, 1, 0.2, 0.2] = [0.04092, -0.2618, 0.06544, -0.0236]")
    gelu = tmp_path / "gelu.jsonl"
    assert steptrace_cli("record", "streetlights-gelu", "-o", gelu).exit_code == 0
    shown = steptrace_cli("show", gelu, "--epoch", "0", "--sample", "0").stdout.splitlines()
    assert shown[1].startswith("[0] layer_1 = gelu(layer_0 · weights_0_1) = gelu([-0.3724, ")
    assert shown[5].startswith("[4] layer_1_delta = layer_2_delta · weights_1_2ᵀ * "
                               "gelu2deriv(layer_0 · weights_0_1) = ")
    # gelu'(-1.161) is below 0: the weighted sum went in, not the output
    assert "* [0.2162, 0.8785, -0.113, 0.4801] = " in shown[5]


def test_the_page_of_a_recorded_trace_names_the_derivative_with_its_options(
        steptrace_cli: Cli, slopes: dict[float, Path], tmp_path: Path) -> None:
    from tests.test_viewer import page_data

    page = tmp_path / "slope.html"
    assert steptrace_cli("html", slopes[0.2], "-o", page).exit_code == 0
    named = set(re.findall(r"leaky_relu2deriv[^\"]*", json.dumps(page_data(page))))
    assert named == {"leaky_relu2deriv(slope 0.2)(layer_1)"}


class Bent:
    """A plugin of a nonlinearity with an option whose derivative takes the weighted sum."""

    @hookimpl
    def register_nonlinearities(self, register: Callable[[Nonlinearity], None]) -> None:
        register(Nonlinearity(
            "bent", lambda x, *, tilt: extras.leaky_relu(x, slope=tilt),
            lambda x, *, tilt: np.where(x > 0, 1.0, tilt), "x if x > 0 else tilt * x",
            "1 if x > 0 else tilt", derivative_of="input",
            options={"tilt": Option(float, 0.01, "what a negative input is multiplied by")}))


def test_a_derivative_of_the_input_is_named_with_its_options(steptrace_cli: Cli,
                                                             tmp_path: Path) -> None:
    experiment = tmp_path / "bent.toml"
    experiment.write_text(dump_toml(with_layer_1({"name": "bent", "tilt": 0.2}).model_copy(
        update={"name": "bent"})))
    trace = tmp_path / "bent.jsonl"
    plugins = [("extras", extras), ("bent", Bent())]
    assert steptrace_cli("record", experiment, "-o", trace, plugins=plugins).exit_code == 0
    shown = steptrace_cli("show", trace, "--epoch", "0", "--sample", "0",
                          plugins=plugins).stdout.splitlines()
    assert shown[1].startswith("[0] layer_1 = bent(tilt 0.2)(layer_0 · weights_0_1) = ")
    assert shown[5].startswith("[4] layer_1_delta = layer_2_delta · weights_1_2ᵀ * "
                               "bent2deriv(tilt 0.2)(layer_0 · weights_0_1) = ")
    assert "* [0.2, 1, 0.2, 0.2] = " in shown[5]


def test_the_page_says_an_optioned_nonlinearity_is_recorded_only() -> None:
    relu = REGISTRY.experiment("streetlights-momentum")  # relu: the page computes it
    assert uneditable(relu.model_copy(update={"strategy": BASE.strategy}), REGISTRY) is None
    slope = with_layer_1({"name": "leaky_relu", "slope": 0.2})
    assert uneditable(slope, REGISTRY) == (
        "its layer_1 has the nonlinearity leaky_relu(slope 0.2), given options, and the page "
        "computes no nonlinearity with options")
    assert uneditable(REGISTRY.experiment("streetlights-gelu"), REGISTRY) == (
        "its nonlinearity gelu (from the plugin extras 0.1.0) is not one the page computes: it "
        "computes linear, relu, sigmoid, tanh")


def test_plugins_lists_a_nonlinearitys_options(steptrace_cli: Cli) -> None:
    """Under its nonlinearities, not its strategies; in --json apart from the strategies'
    options (a strategy and a nonlinearity may share a name)."""
    listed = steptrace_cli("plugins").stdout.splitlines()
    start = listed.index("  nonlinearities: gelu, leaky_relu, silu, softplus")
    assert listed[start + 1] == ("    leaky_relu option slope: float, default 0.01: what a "
                                 "negative input is multiplied by (at least 0)")
    assert listed[start + 2] == "  strategies: momentum, nesterov"
    entry = next(e for e in json.loads(steptrace_cli("plugins", "--json").stdout)
                 if e["name"] == "extras")
    assert list(entry["nonlinearity_options"]) == ["leaky_relu"]
    assert list(entry["options"]) == ["momentum", "nesterov"]
    shown = steptrace_cli("experiments", "--show", "streetlights-leaky-relu").stdout.splitlines()
    at = shown.index('nonlinearities = ["leaky_relu", "linear"]')
    assert shown[at + 1] == ("# leaky_relu option slope: float, default 0.01: what a negative "
                             "input is multiplied by (at least 0)")


class Steep:
    """A plugin whose experiment gives its layer's nonlinearity an option."""

    @hookimpl
    def register_experiments(self, register: Callable[[ExperimentConfig], None]) -> None:
        register(ExperimentConfig.model_validate({
            "name": "steep", "inputs": [[1.0]], "goals": [[0.5]], "layers": [1, 1], "seed": 1,
            "alpha": 0.1, "iterations": 2,
            "nonlinearities": [{"name": "leaky_relu", "slope": 0.2}]}))


def test_the_experiments_table_names_a_layers_options(steptrace_cli: Cli) -> None:
    listed = steptrace_cli("experiments", plugins=[("extras", extras), Steep()]).stdout.splitlines()
    assert [line.split()[:4] for line in listed if line.startswith("steep ")] == [
        ["steep", "1-1", "leaky_relu(slope", "0.2)"]]


def test_an_experiment_from_python_takes_and_keeps_a_layers_options(tmp_path: Path) -> None:
    """steptrace.experiment() of a file whose layer has options; a table assigned to
    nonlinearities; another setting changed after it: the options stay, and the run is the
    file's, number for number."""
    import steptrace

    path = tmp_path / "slope.toml"
    path.write_text(dump_toml(ExperimentConfig.model_validate(
        {**with_layer_1({"name": "leaky_relu", "slope": 0.2}).model_dump(), "name": "slope"})))
    from_file = steptrace.experiment(str(path))
    assert from_file.nonlinearity_options == ({"slope": 0.2}, {})
    config = steptrace.experiment("streetlights-leaky-relu")
    # (a table where the field's type says a name: checked and split when assigned)
    config.nonlinearities = [{"name": "leaky_relu", "slope": 0.2}, "linear"]  # type: ignore[assignment]
    config.iterations = 60  # (another setting: the options stay)
    assert config.nonlinearity_options == ({"slope": 0.2}, {})
    assert config.nonlinearity_label(1) == "leaky_relu(slope 0.2)"
    ran = steptrace.record(config)
    assert ran.errors == steptrace.record(str(path)).errors
    assert ran.errors[-1] == 0.01656746117264398  # slope 0.2's (the default 0.01's differs)
    with pytest.raises(ConfigError, match=r"^a layer's options are set in nonlinearities, as a "
                                          r"table: config\.nonlinearities = "):
        config.nonlinearity_options = ({}, {})  # type: ignore[misc]
    config.nonlinearities = ("leaky_relu", "linear")
    assert config.nonlinearity_options == ({}, {})
    assert steptrace.record(config).errors[-1] != ran.errors[-1]
