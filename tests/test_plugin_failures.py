"""A plugin's failure is the plugin's: named with its version, exit 2, never "a steptrace bug"."""

from __future__ import annotations

import json
import os
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Protocol

import numpy as np
import pytest

from steptrace.engine.rules import Learned, LearningStep, Strategy
from steptrace.plugins.hookspecs import hookimpl
from steptrace.plugins.loading import load_plugins
from steptrace.plugins.registry import Registry
from steptrace.recording import run
from steptrace.testing import check_strategy
from steptrace.trace.events import Event
from tests.conftest import RunCli, builtin_registry

HEADER = """
    import numpy as np
    from steptrace.plugins.hookspecs import hookimpl
    from steptrace.engine.rules import Learned, Nonlinearity, Strategy

    def one_at_a_time(n_samples, options):
        return [[i] for i in range(n_samples)]
"""
PLUGINS = {
    # a learning rule that raises in a helper of its own
    "raising_rule": """
        def velocity(step):
            return 1 / 0

        def learn(step):
            velocity(step)
            return Learned([np.zeros_like(w) for w in step.weights])

        @hookimpl
        def register_strategies(register):
            register(Strategy("raising_rule", one_at_a_time, learn=learn))
    """,
    "raising_function": """
        def function(x):
            raise ArithmeticError("no function today")

        @hookimpl
        def register_nonlinearities(register):
            register(Nonlinearity("raising_function", function, lambda out: out * 0 + 1,
                                  "x", "1"))
    """,
    "raising_derivative": """
        def derivative(output):
            return {}["no derivative today"]

        @hookimpl
        def register_nonlinearities(register):
            register(Nonlinearity("raising_derivative", lambda x: x * 1.0, derivative, "x", "1"))
    """,
    "raising_plan": """
        def plan(n_samples, options):
            return options["missing"]

        @hookimpl
        def register_strategies(register):
            register(Strategy("raising_plan", plan))
    """,
    "raising_command": """
        @hookimpl
        def register_commands(cli):
            @cli.command()
            def explode():
                raise RuntimeError("the command blew up")
    """,
    "scribbler": """
        def learn(step):
            step.weights[0][0, 0] = 0.5  # forbidden: a rule returns weight_deltas
            return Learned([np.zeros_like(w) for w in step.weights])

        @hookimpl
        def register_strategies(register):
            register(Strategy("scribbler", one_at_a_time, learn=learn))
    """,
    # rules whose answers do not fit the network
    "too_few": """
        def learn(step):
            return Learned([np.zeros_like(step.weights[0])])

        @hookimpl
        def register_strategies(register):
            register(Strategy("too_few", one_at_a_time, learn=learn))
    """,
    "misshapen": """
        def learn(step):
            return Learned([np.zeros((2, 2)) for w in step.weights])

        @hookimpl
        def register_strategies(register):
            register(Strategy("misshapen", one_at_a_time, learn=learn))
    """,
    "wordy": """
        def learn(step):
            return Learned([np.zeros_like(w) for w in step.weights], {"why": "because"})

        @hookimpl
        def register_strategies(register):
            register(Strategy("wordy", one_at_a_time, learn=learn))
    """,
    "shouty": """
        def learn(step):
            return Learned([np.zeros_like(w) for w in step.weights], {"\\x1b[31m": 2.0})

        @hookimpl
        def register_strategies(register):
            register(Strategy("shouty", one_at_a_time, learn=learn))
    """,
    # a working rule that calls the book's gradient from inside itself
    "gentle": """
        def learn(step):
            return Learned(step.gradient())

        @hookimpl
        def register_strategies(register):
            register(Strategy("gentle", one_at_a_time, learn=learn))
    """,
}


def write_plugin(folder: Path, name: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(HEADER) + textwrap.dedent(PLUGINS[name]))
    return path


def only(name: str, **more: str) -> dict[str, str]:
    return {"STEPTRACE_PLUGINS": name, **more}


class MakeExperiment(Protocol):
    """The type of the ``experiment`` fixture."""

    def __call__(self, strategy: str = ..., nonlinearity: str = ...) -> Path: ...


@pytest.fixture
def experiment(run_cli: RunCli, tmp_path: Path) -> MakeExperiment:
    """``experiment(strategy=..., nonlinearity=...)``: the ch. 6 backprop network as a
    file, with the rule a plugin provides."""

    def make(strategy: str = "stochastic", nonlinearity: str = "relu") -> Path:
        config = json.loads(run_cli("experiments", "--show", "ch06-streetlights-backprop",
                                    "--format", "json").stdout)
        config.update(name=f"{strategy}-{nonlinearity}", strategy={"name": strategy},
                      nonlinearities=[nonlinearity, "linear"], iterations=2)
        path = tmp_path / f"{strategy}-{nonlinearity}.json"
        path.write_text(json.dumps(config))
        return path

    return make


@pytest.mark.parametrize(("plugin", "rule", "what", "raised"), [
    ("raising_rule", {"strategy": "raising_rule"}, "strategy 'raising_rule' learning rule",
     "ZeroDivisionError: division by zero"),
    ("raising_function", {"nonlinearity": "raising_function"},
     "nonlinearity 'raising_function' function", "ArithmeticError: no function today"),
    ("raising_derivative", {"nonlinearity": "raising_derivative"},
     "nonlinearity 'raising_derivative' derivative", "KeyError: 'no derivative today'"),
])
def test_a_rule_that_raises_while_recording_is_the_plugins_failure(
        run_cli: RunCli, tmp_path: Path, experiment: MakeExperiment, plugin: str, rule: dict[str, str],
        what: str, raised: str) -> None:
    folder = tmp_path / "plugins"
    path = write_plugin(folder, plugin)
    trace = tmp_path / "t.jsonl"
    result = run_cli("--plugins-dir", folder, "record", experiment(**rule), "-o", trace,
                     env=only(plugin))
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"Error: plugin {plugin} ({path}): {what} raised {raised}; ")
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    debug = run_cli("--plugins-dir", folder, "record", experiment(**rule), "-o", trace,
                    env=only(plugin, STEPTRACE_DEBUG="1"))
    assert debug.exit_code == 2
    assert "Traceback (most recent call last):" in debug.stderr
    assert f'File "{path}", line' in debug.stderr  # the plugin's own frame
    assert debug.stderr.endswith(f"Error: plugin {plugin} ({path}): {what} raised {raised}; "
                                 f"the {debug.stderr.split('; the ')[1].split(' events')[0]} "
                                 f"events recorded so far are in "
                                 f"{tmp_path / 't.incomplete.jsonl'} (marked incomplete)\n")


def test_the_plugin_is_named_with_its_version(
        run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed plugin (the example, steptrace-extras) is named NAME VERSION."""
    extras = pytest.importorskip("steptrace_extras")

    def learn(step: LearningStep) -> Learned:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(extras, "momentum_learn", learn)
    result = run_cli("record", "streetlights-momentum", "-o", tmp_path / "t.jsonl",
                     env=only("extras"))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: plugin extras 0.1.0: strategy 'momentum' learning "
                                    "rule raised ZeroDivisionError: division by zero; ")


def test_a_hook_that_raises_is_named_with_its_plugins_version(monkeypatch: pytest.MonkeyPatch) -> None:
    extras = pytest.importorskip("steptrace_extras")

    @hookimpl
    def register_strategies(register: Callable[[Strategy], None]) -> None:
        raise RuntimeError("boom")

    monkeypatch.setenv("STEPTRACE_PLUGINS", "extras")
    monkeypatch.setattr(extras, "register_strategies", register_strategies)
    registry = Registry.load(load_plugins())
    assert registry.problems == ["plugin extras 0.1.0 failed in register_strategies: "
                                 "RuntimeError: boom"]
    assert "leaky_relu" in registry.nonlinearities  # its other hooks still count


def test_a_plan_that_raises_is_exit_2(run_cli: RunCli, tmp_path: Path, experiment: MakeExperiment) -> None:
    folder = tmp_path / "plugins"
    path = write_plugin(folder, "raising_plan")
    result = run_cli("--plugins-dir", folder, "record", experiment(strategy="raising_plan"),
                     "-o", tmp_path / "t.jsonl", env=only("raising_plan"))
    assert result.exit_code == 2
    assert result.stderr.endswith(f"plugin raising_plan ({path}): strategy 'raising_plan' plan "
                                  "raised KeyError: 'missing'\n")
    assert not (tmp_path / "t.jsonl").exists()


def test_a_command_that_raises_is_exit_2_naming_the_plugin(run_cli: RunCli, tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    path = write_plugin(folder, "raising_command")
    result = run_cli("--plugins-dir", folder, "explode", env=only("raising_command"))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: plugin raising_command ({path}): command 'explode' raised "
                             "RuntimeError: the command blew up\n")
    debug = run_cli("--plugins-dir", folder, "explode",
                    env=only("raising_command", STEPTRACE_DEBUG="1"))
    assert debug.exit_code == 2
    assert "Traceback (most recent call last):" in debug.stderr
    assert "RuntimeError: the command blew up\n" in debug.stderr


def test_an_installed_plugin_that_fails_to_import_says_what_to_do(
        run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution whose files are gone (its entry point names a module that
    is not there): the warning, and the error under --strict-plugins, say to uninstall it,
    naming the distribution, or to leave it out with STEPTRACE_PLUGINS."""
    site = tmp_path / "site"
    info = site / "steptrace_gone-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: steptrace-gone\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[steptrace]\ngone = steptrace_gone_module\n")
    monkeypatch.syspath_prepend(str(site))
    failed = ("plugin gone (entry point of steptrace-gone) failed to import: ModuleNotFoundError: "
              "No module named 'steptrace_gone_module'; uninstall it (pip uninstall "
              "steptrace-gone), or leave it out")
    listed = run_cli("plugins", env={"STEPTRACE_PLUGINS": None})
    assert listed.exit_code == 0
    assert (f"warning: {failed} (set STEPTRACE_PLUGINS to the plugins to load, without it)"
            in listed.stderr.splitlines())
    strict = run_cli("--strict-plugins", "plugins", env=only("gone"))
    assert strict.exit_code == 2
    assert strict.stderr == (f"Error: {failed} (take it out of STEPTRACE_PLUGINS=gone) "
                             "(strict plugin mode)\n")
    assert run_cli("--strict-plugins", "plugins", env=only("")).exit_code == 0  # left out


def test_replaying_a_trace_whose_plugin_failed_to_import_says_so(
        run_cli: RunCli, tmp_path: Path, experiment: MakeExperiment) -> None:
    folder = tmp_path / "plugins"
    path = write_plugin(folder, "gentle")
    trace = tmp_path / "t.jsonl"
    recorded = run_cli("--plugins-dir", folder, "record", experiment(strategy="gentle"), "-o",
                       trace, env=only("gentle"))
    assert recorded.exit_code == 0, recorded.stderr
    path.write_text("import a_module_that_does_not_exist\n" + path.read_text())
    result = run_cli("--plugins-dir", folder, "replay", trace, env=only("gentle"))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"warning: plugin gentle ({path}) failed to import: ModuleNotFoundError: No module "
        f"named 'a_module_that_does_not_exist'; fix it, or move it out of {folder}, or leave it "
        "out (take it out of STEPTRACE_PLUGINS=gentle)",
        f"Error: {trace}: the trace uses strategy 'gentle' from gentle file, which is installed "
        "but failed to import: ModuleNotFoundError: No module named "
        "'a_module_that_does_not_exist' (see the warning above; STEPTRACE_DEBUG=1 shows the "
        "traceback)"]
    debug = run_cli("--plugins-dir", folder, "replay", trace,
                    env=only("gentle", STEPTRACE_DEBUG="1"))
    assert "Traceback (most recent call last):" in debug.stderr
    assert f'File "{path}", line 1' in debug.stderr


def test_a_rule_that_writes_into_the_weights_fails_at_once(
        run_cli: RunCli, tmp_path: Path, experiment: MakeExperiment) -> None:
    folder = tmp_path / "plugins"
    path = write_plugin(folder, "scribbler")
    result = run_cli("--plugins-dir", folder, "record", experiment(strategy="scribbler"), "-o",
                     tmp_path / "t.jsonl", env=only("scribbler"))
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: plugin scribbler ({path}): strategy 'scribbler' learning rule raised ValueError: "
        "assignment destination is read-only (a learning rule returns weight_deltas: it must "
        "not write into step.weights, nor into the step's other arrays); ")


def test_check_strategy_catches_a_rule_that_writes_into_the_weights(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    write_plugin(folder, "scribbler")
    registry = Registry.load(load_plugins(folder, entry_points=False))
    with pytest.raises(AssertionError, match=r"scribbler: its learning rule wrote into an array "
                                             r"of the step .*must not write into the weights"):
        check_strategy(registry.strategy("scribbler"))


def test_what_a_callback_raises_is_not_the_plugins(tmp_path: Path) -> None:
    """A callback handed the events of a run whose rule is a plugin's (here at the deltas
    the rule's step.gradient() worked out): what it raises goes on as it is, neither
    blamed on the plugin nor wrapped."""
    folder = tmp_path / "plugins"
    write_plugin(folder, "gentle")
    registry = Registry.load(load_plugins(folder, entry_points=False))
    config = registry.experiment("ch06-streetlights-backprop")
    config = config.model_copy(update={"strategy": config.strategy.model_copy(
        update={"name": "gentle"})})
    plan = registry.resolve(config)
    assert plan.authors == {"steptrace_plugins_dir.gentle": f"gentle ({folder / 'gentle.py'})",
                            "steptrace_builtins.nonlinearities":
                                "steptrace_builtins.nonlinearities 0.1.0"}

    class Full(Exception):
        pass

    def emit(event: Event) -> None:
        if event.kind == "delta":
            raise Full("the callback's own failure")

    with pytest.raises(Full):
        run(config, plan, emit)


def test_a_builtin_rule_is_a_plugin_too(
        run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-ins are plugins: a failing one is named, with steptrace's version."""
    import steptrace_builtins.nonlinearities as builtins

    from steptrace import __version__

    monkeypatch.setattr(builtins, "np", SimpleNamespace())  # relu2deriv fails on np.float64
    result = run_cli("record", "ch06-streetlights-backprop", "-o", tmp_path / "t.jsonl")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: plugin steptrace_builtins.nonlinearities {__version__}: nonlinearity 'relu' "
        "derivative raised AttributeError: 'types.SimpleNamespace' object has no attribute "
        "'float64'; ")


@pytest.fixture
def world_writable(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    write_plugin(folder, "gentle")
    os.chmod(folder, 0o1777)  # the sticky bit (as /tmp has) does not help
    return folder


def test_a_world_writable_plugins_dir_is_warned_of(run_cli: RunCli, world_writable: Path) -> None:
    result = run_cli("--plugins-dir", world_writable, "plugins", env=only("gentle"))
    assert result.exit_code == 0
    assert result.stderr == (f"warning: plugins directory {world_writable} is writable by "
                             "anyone: anyone on this machine could put code there that steptrace "
                             f"runs (chmod o-w {world_writable})\n")
    assert result.stdout.startswith("gentle file")


def test_a_world_writable_plugins_dir_is_refused_in_strict_mode(
        run_cli: RunCli, world_writable: Path) -> None:
    for args, env in [(("--strict-plugins",), {}), ((), {"STEPTRACE_STRICT_PLUGINS": "1"})]:
        result = run_cli(*args, "plugins", env=only("gentle", STEPTRACE_PLUGINS_DIR=str(
            world_writable), **env))
        assert result.exit_code == 2
        assert result.stderr == (f"Error: plugins directory {world_writable} is writable by "
                                 "anyone: anyone on this machine could put code there that "
                                 f"steptrace runs (chmod o-w {world_writable}) (strict plugin "
                                 "mode)\n")


def test_a_world_writable_plugin_file_is_warned_of(run_cli: RunCli, tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    path = write_plugin(folder, "gentle")
    os.chmod(folder, 0o755)
    os.chmod(path, 0o666)
    result = run_cli("--plugins-dir", folder, "plugins", env=only("gentle"))
    assert result.stderr == (f"warning: plugin file {path} is writable by anyone: anyone on "
                             f"this machine could put code there that steptrace runs (chmod o-w "
                             f"{path})\n")
    strict = run_cli("--strict-plugins", "--plugins-dir", folder, "plugins", env=only("gentle"))
    assert strict.exit_code == 2


def test_the_engine_hands_a_rule_read_only_arrays(tmp_path: Path) -> None:
    seen: list[LearningStep] = []

    def learn(step: LearningStep) -> Learned:
        seen.append(step)
        return Learned([np.zeros_like(w) for w in step.weights])

    registry = builtin_registry()
    config = registry.experiment("ch06-streetlights-backprop")
    plan = registry.resolve(config)
    plan = type(plan)(plan.nonlinearities, Strategy("look", lambda n, o: [[0]], learn=learn),
                      [[0]])
    run(config.model_copy(update={"iterations": 1}), plan)
    step = seen[0]
    for array in (*step.weights, step.layer_0, step.goal, step.prediction):
        assert not array.flags.writeable
    with pytest.raises(TypeError):
        step.options["x"] = 1  # type: ignore[index]


def test_debug_shows_the_traceback_of_an_observer_that_raises(run_cli: RunCli, tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    path = folder / "nosy.py"
    path.write_text(textwrap.dedent("""
        from steptrace.plugins.hookspecs import hookimpl

        @hookimpl
        def observe_event(event):
            raise ValueError("cannot look")
    """))
    result = run_cli("--plugins-dir", folder, "record", "ch06-streetlight-single-sample", "-o",
                     tmp_path / "t.jsonl", env=only("nosy", STEPTRACE_DEBUG="1"))
    assert result.exit_code == 0
    assert f'File "{path}", line' in result.stderr
    assert result.stderr.endswith("warning: plugin nosy failed in observe_event at event 0: "
                                  "ValueError: cannot look; it observes no more events\n")


@pytest.mark.parametrize(("plugin", "returned"), [
    ("too_few", "1 weight_delta(s) for 2 weight matrices"),
    ("misshapen", "a weight_delta of shape (2, 2) for weights_0_1 (3, 4)"),
    ("wordy", "numbers that are not numbers (could not convert string to float: 'because')"),
    ("shouty", "a detail whose name holds the control character '\\x1b': only printable text "
               "(and line breaks) may be printed"),
])
def test_a_rule_whose_answer_does_not_fit_is_the_plugins_failure(
        run_cli: RunCli, tmp_path: Path, experiment: MakeExperiment, plugin: str, returned: str) -> None:
    folder = tmp_path / "plugins"
    path = write_plugin(folder, plugin)
    result = run_cli("--plugins-dir", folder, "record", experiment(strategy=plugin), "-o",
                     tmp_path / "t.jsonl", env=only(plugin))
    assert result.exit_code == 2, result.stderr
    # (a step's events are made when the step is done: the first step failed, so none)
    assert result.stderr.startswith(f"Error: plugin {plugin} ({path}): strategy {plugin!r} "
                                    f"learning rule returned {returned}; the 0 events recorded ")


BAD_EXPERIMENTS = '''
from steptrace import ExperimentConfig, hookimpl

BASE = {"inputs": [[1.0]], "goals": [[0.5]], "layers": [1, 1], "nonlinearities": ["linear"],
        "alpha": 0.1, "iterations": 2, "seed": 1}


@hookimpl
def register_experiments(register):
    register(ExperimentConfig.model_validate(
        {**BASE, "name": "fast-batches", "strategy": {"name": "minibatch", "batch_size": "big"}}))
    register(ExperimentConfig.model_validate({**BASE, "name": "gelu-net",
                                              "nonlinearities": ["gelu"]}))
    register(ExperimentConfig.model_validate({**BASE, "name": "fine"}))
'''


@pytest.mark.usefixtures("no_installed_plugins")  # (none left out: gelu's is unknown)
def test_a_plugins_experiment_is_checked_when_registered(run_cli: RunCli, tmp_path: Path) -> None:
    """An experiment a plugin registers must record: its strategy's options valid, its rules
    registered. One that cannot is left out with a warning naming the plugin (an error under
    --strict-plugins), and `record` of it says why, not "unknown experiment"."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "badexp.py").write_text(BAD_EXPERIMENTS)
    batches = (f"plugin badexp ({folder / 'badexp.py'}): experiment 'fast-batches' cannot be "
               "recorded: strategy minibatch: option batch_size takes a whole number, not 'big'")
    gelu = (f"plugin badexp ({folder / 'badexp.py'}): experiment 'gelu-net' cannot be recorded: "
            "unknown nonlinearity 'gelu': did you mean 'relu'? known: linear, relu, sigmoid, "
            "tanh")
    listed = run_cli("--plugins-dir", folder, "experiments", env=only("badexp"))
    assert listed.exit_code == 0
    assert listed.stderr == f"warning: {batches}\nwarning: {gelu}\n"
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert "fine" in names and "fast-batches" not in names and "gelu-net" not in names
    strict = run_cli("--plugins-dir", folder, "--strict-plugins", "experiments", env=only("badexp"))
    assert strict.exit_code == 2
    assert strict.stderr == f"Error: {batches} (strict plugin mode)\n"
    recorded = run_cli("--plugins-dir", folder, "record", "fast-batches", "-o",
                       tmp_path / "t.jsonl", env=only("badexp"))
    assert recorded.exit_code == 2
    assert recorded.stderr.splitlines()[-1] == f"Error: {batches}"
    assert not (tmp_path / "t.jsonl").exists()


def test_a_plugins_invalid_config_is_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    """A ValidationError raised in a plugin's hook is told in one line, as a config file's."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "badexp.py").write_text(BAD_EXPERIMENTS.replace('"seed": 1', '"seed": 1, "weights": []'))
    listed = run_cli("--plugins-dir", folder, "experiments", env=only("badexp"))
    assert listed.exit_code == 0
    assert listed.stderr == (f"warning: plugin badexp ({folder / 'badexp.py'}) failed in "
                             "register_experiments: ValidationError: give exactly one of "
                             "'weights' (explicit) and 'seed' (drawn)\n")


class _Misspelled:
    """A plugin with a hook name misspelled (pluggy refuses it: left out, with a warning)."""

    @hookimpl
    def register_strategy(self, register: Callable[[Strategy], None]) -> None:
        raise AssertionError("never called")


def test_the_kits_cli_surfaces_a_broken_plugins_warning(steptrace_cli: object) -> None:
    """The steptrace_cli fixture turns the loader's warning: lines into pytest warnings
    (SteptraceWarning), so a test of a broken plugin shows why, and leaves them in stderr."""
    from steptrace.errors import SteptraceWarning
    from steptrace.testing import CliRun

    run: CliRun = steptrace_cli  # type: ignore[assignment]
    expected = (r"^warning: plugin misspelled \(added by the test\) was not loaded: unknown hook "
                r"'register_strategy' \(marked @hookimpl\): did you mean 'register_strategies'\?$")
    with pytest.warns(SteptraceWarning, match=expected) as caught:
        result = run("experiments", plugins=[("misspelled", _Misspelled())])
    assert result.exit_code == 0
    assert [str(warning.message) for warning in caught
            if issubclass(warning.category, SteptraceWarning)] == result.stderr.splitlines()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a run without a broken plugin warns nothing
        assert run("experiments").exit_code == 0


def test_the_kits_checks_surface_a_broken_plugins_warning() -> None:
    from steptrace.errors import SteptraceWarning

    with pytest.warns(SteptraceWarning, match="unknown hook 'register_strategy'"):
        check_strategy("stochastic", plugins=[("misspelled", _Misspelled())])


def test_the_api_warns_of_a_broken_plugin_with_the_same_category() -> None:
    import steptrace
    from steptrace.errors import SteptraceWarning

    with pytest.warns(SteptraceWarning, match="did you mean 'register_strategies'"):
        steptrace.experiments(plugins=[("misspelled", _Misspelled())])


class _Noisy:
    """A plugin whose hook raises two Python warnings: its own, and a ResourceWarning such as
    the garbage collector fires for an unclosed socket that some other code left behind."""

    @hookimpl
    def register_strategies(self, register: Callable[[Strategy], None]) -> None:
        warnings.warn("the noisy plugin's own warning", UserWarning, stacklevel=1)
        warnings.warn("Unclosed socket <zmq.Socket(zmq.DEALER)>", ResourceWarning, stacklevel=1)


def test_a_commands_warnings_are_its_own_lines_and_a_resource_warning_is_not_one(
        steptrace_cli: object) -> None:
    """A Python warning raised while a command runs is one "warning:" line on stderr; a
    ResourceWarning is not the command's (in-process, the collector fires it for whatever
    object it meets), so it goes where Python sends it, here pytest's record, not stderr."""
    from steptrace.testing import CliRun

    run: CliRun = steptrace_cli  # type: ignore[assignment]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run("experiments", plugins=[("noisy", _Noisy())])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == ["warning: the noisy plugin's own warning"]
    assert [str(warning.message) for warning in caught if warning.category is ResourceWarning] \
        == ["Unclosed socket <zmq.Socket(zmq.DEALER)>"]
