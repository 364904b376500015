"""Discovery, control and isolation of outside plugins, through the command line."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli

SMOOTH_RELU = """
    import numpy as np
    from steptrace.plugins.hookspecs import hookimpl
    from steptrace.engine.rules import Nonlinearity

    @hookimpl
    def register_nonlinearities(register):
        register(Nonlinearity("smooth_relu", lambda x: np.log1p(np.exp(x)),
                              lambda out: 1 - np.exp(-out), "log(1 + exp(x))", "1 - exp(-output)"))

    @hookimpl
    def register_commands(cli):
        @cli.command()
        def hello():
            \"\"\"Say hello.\"\"\"
            print("hello from smooth_relu")
"""
BROKEN_IMPORT = "import a_module_that_does_not_exist\n"
RAISES = """
    from steptrace.plugins.hookspecs import hookimpl

    @hookimpl
    def register_strategies(register):
        raise RuntimeError("boom")
"""
NOSY = """
    from steptrace.plugins.hookspecs import hookimpl

    @hookimpl
    def observe_event(event):
        if event.seq == 3:
            raise ValueError("cannot look at event 3")
"""
TYPO = """
    from steptrace.plugins.hookspecs import hookimpl

    @hookimpl
    def register_nonlinearity(register):
        pass
"""
COUNTER = """
    from steptrace.plugins.hookspecs import hookimpl
    SEEN = []

    @hookimpl
    def observe_event(event):
        SEEN.append(event.kind)

    @hookimpl
    def register_commands(cli):
        @cli.command()
        def seen():
            print(len(SEEN))
"""


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    for name, code in {"smooth_relu": SMOOTH_RELU, "broken_import": BROKEN_IMPORT, "raises": RAISES,
                       "nosy": NOSY, "typo": TYPO}.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(code))
    return folder


def only(*names: str) -> dict[str, str]:
    return {"STEPTRACE_PLUGINS": ",".join(names)}


def test_broken_plugins_are_named_in_one_line_each_and_the_rest_works(
        run_cli: RunCli, plugins_dir: Path) -> None:
    result = run_cli("--plugins-dir", plugins_dir, "plugins", env={"STEPTRACE_PLUGINS": None})
    assert result.exit_code == 0
    warnings = result.stderr.splitlines()
    assert warnings[0] == (f"warning: plugin broken_import ({plugins_dir / 'broken_import.py'}) "
                           "failed to import: ModuleNotFoundError: No module named "
                           f"'a_module_that_does_not_exist'; fix it, or move it out of "
                           f"{plugins_dir}, or leave it out (set STEPTRACE_PLUGINS to the "
                           "plugins to load, without it)")
    assert warnings[1].startswith(f"warning: plugin typo ({plugins_dir / 'typo.py'}) was not "
                                  "loaded: unknown hook 'register_nonlinearity'")
    assert warnings[2] == (f"warning: plugin raises ({plugins_dir / 'raises.py'}) failed in "
                           "register_strategies: RuntimeError: boom")
    assert len(warnings) == 3
    assert "smooth_relu file (" in result.stdout and "  nonlinearities: smooth_relu" in result.stdout


def test_strict_mode_turns_a_broken_plugin_into_exit_2(run_cli: RunCli, plugins_dir: Path) -> None:
    for args, env in [(("--strict-plugins",), {}), ((), {"STEPTRACE_STRICT_PLUGINS": "1"})]:
        result = run_cli(*args, "--plugins-dir", plugins_dir, "experiments",
                         env={"STEPTRACE_PLUGINS": None, **env})
        assert result.exit_code == 2
        assert result.stderr == (f"Error: plugin broken_import ({plugins_dir / 'broken_import.py'})"
                                 " failed to import: ModuleNotFoundError: No module named "
                                 "'a_module_that_does_not_exist'; fix it, or move it out of "
                                 f"{plugins_dir}, or leave it out (set STEPTRACE_PLUGINS to the "
                                 "plugins to load, without it) (strict plugin mode)\n")


@pytest.mark.usefixtures("no_installed_plugins")
def test_the_allow_list_loads_only_the_named_plugins(run_cli: RunCli, plugins_dir: Path) -> None:
    result = run_cli("--plugins-dir", plugins_dir, "plugins", "--json", env=only("smooth_relu"))
    # the plugins found but left out are said (on stderr: stdout is the listing's JSON)
    assert result.stderr == (
        f"note: STEPTRACE_PLUGINS=smooth_relu left out 4 plugins found: broken_import "
        f"({plugins_dir / 'broken_import.py'}), nosy ({plugins_dir / 'nosy.py'}), raises "
        f"({plugins_dir / 'raises.py'}), typo ({plugins_dir / 'typo.py'}); add their names to "
        "STEPTRACE_PLUGINS, or unset it, to load them\n")
    listing = json.loads(result.stdout)
    assert [p["name"] for p in listing] == ["smooth_relu"]
    assert listing[0] == {
        "name": "smooth_relu", "version": "file", "source": str(plugins_dir / "smooth_relu.py"),
        "hooks": ["register_commands", "register_nonlinearities"],
        "nonlinearities": ["smooth_relu"], "strategies": [], "experiments": [],
        "commands": ["hello"], "observes_events": False, "options": {},
        "nonlinearity_options": {}}
    builtins_only = run_cli("--plugins-dir", plugins_dir, "plugins", "--json", env=only())
    assert json.loads(builtins_only.stdout) == []


C_BAD = """
    from steptrace.plugins.hookspecs import hookimpl
    from steptrace.config import ExperimentConfig

    @hookimpl
    def register_experiments(register):
        register(ExperimentConfig.model_validate({
            "name": "c-bad", "inputs": [[1.0]], "goals": [[0.5]], "layers": [1, 1], "seed": 1,
            "alpha": 0.1, "iterations": 2, "nonlinearities": ["linear"]}))
"""


@pytest.mark.usefixtures("no_installed_plugins")
def test_a_plugin_the_allow_list_leaves_out_is_said_not_silent(run_cli: RunCli,
                                                               tmp_path: Path) -> None:
    """--plugins-dir's plugin left out by STEPTRACE_PLUGINS (even under --strict-plugins,
    which it does not make an error): `plugins` says which and why; a name nothing loaded
    registers (an experiment, a nonlinearity, a strategy) says the filter left plugins out."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "c-bad.py").write_text(textwrap.dedent(C_BAD))
    left_out = (f"STEPTRACE_PLUGINS= left out 1 plugin found: c-bad ({folder / 'c-bad.py'}); "
                "add its name to STEPTRACE_PLUGINS, or unset it, to load it")
    listed = run_cli("--strict-plugins", "--plugins-dir", folder, "plugins", env=only())
    assert (listed.exit_code, listed.stderr) == (0, "")
    assert listed.stdout == ("no outside plugins are loaded (--all lists the built-ins too)\n"
                             f"{left_out}\n")
    recorded = run_cli("--plugins-dir", folder, "record", "c-bad", "-o", tmp_path / "t.jsonl",
                       env=only())
    assert recorded.exit_code == 2
    assert recorded.stderr == (
        "Error: unknown experiment 'c-bad': known: 34, listed by `steptrace experiments` "
        f"({left_out}); or give the path of a .toml/.json experiment file\n")
    experiment = tmp_path / "mine.toml"
    for field, line in (("nonlinearities", 'nonlinearities = ["gelu"]'),
                        ("strategy", 'nonlinearities = ["linear"]\n[strategy]\nname = "adam"')):
        experiment.write_text('name = "mine"\ninputs = [[1.0]]\ngoals = [[0.5]]\n'
                              f'layers = [1, 1]\nseed = 1\nalpha = 0.1\niterations = 2\n{line}\n')
        refused = run_cli("--plugins-dir", folder, "record", experiment, "-o",
                          tmp_path / "t.jsonl", env=only())
        assert refused.exit_code == 2, field
        unknown = ("nonlinearity 'gelu': did you mean 'relu'? known: linear, relu, sigmoid, tanh"
                   if field == "nonlinearities" else
                   "strategy 'adam': known: full, hot_and_cold, minibatch, stochastic")
        assert refused.stderr == f"Error: {experiment}: unknown {unknown} ({left_out})\n"
    # allowed, or without the filter: nothing is said
    allowed = run_cli("--plugins-dir", folder, "plugins", env=only("c-bad")).stdout
    assert allowed.startswith("c-bad file (") and "left out" not in allowed
    assert "left out" not in run_cli("--plugins-dir", folder, "plugins",
                                     env={"STEPTRACE_PLUGINS": None}).stdout


@pytest.mark.usefixtures("no_installed_plugins")
def test_plugins_all_lists_the_builtins_too(run_cli: RunCli) -> None:
    listing = json.loads(run_cli("plugins", "--json", "--all").stdout)
    assert [p["name"] for p in listing] == [
        "steptrace_builtins.nonlinearities", "steptrace_builtins.strategies",
        "steptrace_builtins.hot_and_cold", "steptrace_builtins.book"]
    assert listing[2]["strategies"] == ["hot_and_cold"]
    assert len(listing[3]["experiments"]) == 34
    assert run_cli("plugins").stdout == ("no outside plugins are loaded (--all lists the "
                                         "built-ins too)\n")


def test_a_plugin_command_and_a_plugin_rule_are_used(
        run_cli: RunCli, plugins_dir: Path, tmp_path: Path) -> None:
    assert run_cli("--plugins-dir", plugins_dir, "hello", env=only("smooth_relu")).stdout == (
        "hello from smooth_relu\n")
    # --help loads no plugin: it lists the built-in commands and says where plugins'
    # commands are listed; `steptrace plugins` lists them, and a close name is suggested.
    helped = run_cli("--plugins-dir", plugins_dir, "--help", env=only("smooth_relu")).stdout
    assert "hello" not in helped
    assert "`steptrace plugins` lists the plugins and their commands" in " ".join(helped.split())
    assert "  commands: hello\n" in run_cli("--plugins-dir", plugins_dir, "plugins",
                                            env=only("smooth_relu")).stdout
    typo = run_cli("--plugins-dir", plugins_dir, "helo", env=only("smooth_relu"))
    assert typo.exit_code == 2
    assert typo.stderr == ("Error: No such command 'helo'. Did you mean 'hello'? "
                           "(see 'steptrace --help', and 'steptrace plugins' for the plugins' "
                           "commands)\n")
    experiment = tmp_path / "smooth_relu.json"
    config = json.loads(run_cli("experiments", "--show", "ch06-streetlights-backprop",
                                "--format", "json").stdout)
    experiment.write_text(json.dumps({**config, "nonlinearities": ["smooth_relu", "linear"]}))
    trace = tmp_path / "smooth_relu.jsonl"
    recorded = run_cli("--plugins-dir", plugins_dir, "record", experiment, "-o", trace,
                       env=only("smooth_relu"))
    assert recorded.exit_code == 0, recorded.stderr
    header = json.loads(trace.read_text().splitlines()[0])
    assert header["fingerprint"]["rules"]["nonlinearity:smooth_relu"] == "smooth_relu file"
    replayed = run_cli("--plugins-dir", plugins_dir, "replay", trace, env=only("smooth_relu"))
    assert replayed.stdout.splitlines()[0].endswith("all 1740 events match (bit for bit)")
    missing = run_cli("replay", trace)
    assert missing.exit_code == 2
    assert missing.stderr == (f"Error: {trace}: the trace uses nonlinearity 'smooth_relu' from "
                              "smooth_relu file, which is not installed: replay with "
                              "--plugins-dir the folder of smooth_relu.py, then replay it\n")


def test_an_observer_that_raises_is_dropped_and_the_recording_completes(run_cli: RunCli, plugins_dir: Path,
                                                                       tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    result = run_cli("--plugins-dir", plugins_dir, "record", "ch06-streetlight-single-sample",
                     "-o", trace, env=only("nosy"))
    assert result.exit_code == 0
    assert result.stderr == ("warning: plugin nosy failed in observe_event at event 3: "
                             "ValueError: cannot look at event 3; it observes no more events\n")
    assert run_cli("replay", trace).exit_code == 0
    strict = run_cli("--strict-plugins", "--plugins-dir", plugins_dir, "record",
                     "ch06-streetlight-single-sample", "-o", tmp_path / "s.jsonl", env=only("nosy"))
    assert strict.exit_code == 2
    assert not (tmp_path / "s.jsonl").exists()


def test_an_observer_sees_every_event(run_cli: RunCli, tmp_path: Path) -> None:
    folder = tmp_path / "counter"
    folder.mkdir()
    (folder / "counter.py").write_text(textwrap.dedent(COUNTER))
    from steptrace.plugins.loading import load_plugins
    from steptrace.plugins.registry import Registry
    from steptrace.recording import record

    registry = Registry.load(load_plugins(folder, entry_points=False))
    done = record(registry.experiment("ch06-streetlights-backprop"), registry,
                  tmp_path / "t.jsonl")
    module = registry.pm.get_plugin("counter")
    assert module is not None
    assert len(module.SEEN) == done.events == 1740
    assert module.SEEN[:7] == ["forward", "forward", "error", "delta", "delta", "update", "update"]


def test_trace_hooks_prints_every_hook_call(run_cli: RunCli, plugins_dir: Path, tmp_path: Path) -> None:
    result = run_cli("--plugins-dir", plugins_dir, "record", "ch06-streetlight-single-sample",
                     "-o", tmp_path / "t.jsonl", env={**only("smooth_relu", "nosy"),
                                                      "STEPTRACE_TRACE_HOOKS": "1"})
    lines = result.stderr.splitlines()
    assert "steptrace hook: register_nonlinearities(register) -> smooth_relu" in lines
    assert "steptrace hook: register_commands(cli) -> smooth_relu" in lines
    assert "steptrace hook: observe_event(event 0 forward) -> nosy" in lines
    assert sum(line.startswith("steptrace hook: observe_event") for line in lines) == 4


def test_a_missing_plugins_dir_is_a_one_line_error(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("--plugins-dir", tmp_path / "nope", "experiments")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: plugins directory {tmp_path / 'nope'} does not exist "
                             "(--plugins-dir / $STEPTRACE_PLUGINS_DIR)\n")


def test_a_name_clash_with_a_builtin_is_ignored_with_a_warning(run_cli: RunCli, tmp_path: Path) -> None:
    folder = tmp_path / "clash"
    folder.mkdir()
    (folder / "myrelu.py").write_text(textwrap.dedent("""
        import numpy as np
        from steptrace.plugins.hookspecs import hookimpl
        from steptrace.engine.rules import Nonlinearity

        @hookimpl
        def register_nonlinearities(register):
            register(Nonlinearity("relu", np.abs, np.sign, "|x|", "sign(output)"))
    """))
    result = run_cli("--plugins-dir", folder, "record", "ch06-streetlights-backprop", "-o",
                     tmp_path / "t.jsonl", env=only("myrelu"))
    assert result.stderr == ("warning: nonlinearity 'relu' is registered by both "
                             "steptrace_builtins.nonlinearities and myrelu; myrelu's is ignored "
                             "(a built-in's name cannot be taken: rename yours)\n")
    assert run_cli("replay", tmp_path / "t.jsonl").exit_code == 0  # the built-in relu was used


def test_replay_refuses_another_revision_and_notes_another_release(run_cli: RunCli,
                                                                    tmp_path: Path) -> None:
    """A rule's revision says whether its numbers changed: another revision is refused
    (naming what to install), another release of the same revision only noted."""
    trace = tmp_path / "t.jsonl"
    run_cli("record", "ch06-streetlights-backprop", "-o", trace)
    lines = trace.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["fingerprint"]["revisions"] == {"nonlinearity:relu": 1, "nonlinearity:linear": 1,
                                                  "strategy:stochastic": 1}
    assert header["fingerprint"]["distributions"] == {
        "steptrace_builtins.book": "steptrace", "steptrace_builtins.nonlinearities": "steptrace",
        "steptrace_builtins.strategies": "steptrace"}

    def edited(rule: str, revision: int) -> Path:
        changed = json.loads(lines[0])
        changed["fingerprint"]["rules"][rule] = "steptrace_builtins.nonlinearities 0.0.9"
        changed["fingerprint"]["revisions"][rule] = revision
        path = tmp_path / f"r{revision}.jsonl"
        path.write_text("\n".join([json.dumps(changed), *lines[1:]]) + "\n")
        return path

    release = run_cli("replay", edited("nonlinearity:relu", 1))
    assert release.exit_code == 0, release.stderr
    assert release.stderr == ("warning: nonlinearity 'relu' was recorded with "
                              "steptrace_builtins.nonlinearities 0.0.9; installed is "
                              "steptrace_builtins.nonlinearities 0.1.0, the same revision 1 (its "
                              "numbers did not change)\n")
    assert "all 1740 events match (bit for bit)" in release.stdout
    revised = edited("nonlinearity:relu", 0)
    refused = run_cli("replay", revised)
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"Error: {revised}: nonlinearity 'relu' was recorded with revision 0 "
        "(steptrace_builtins.nonlinearities 0.0.9); installed is revision 1 "
        "(steptrace_builtins.nonlinearities 0.1.0): its numbers changed; to replay the trace, "
        "pip install 'steptrace==0.0.9', or replay with --ignore-versions (it will differ)\n")
    allowed = run_cli("replay", revised, "--ignore-versions")
    assert allowed.exit_code == 0
    assert allowed.stderr.startswith("warning: nonlinearity 'relu' was recorded with revision 0 ")
    compared = run_cli("diff", trace, revised)
    assert compared.stdout.splitlines()[:2] == [
        "note: nonlinearity:relu was recorded with steptrace_builtins.nonlinearities 0.1.0 in one, "
        "steptrace_builtins.nonlinearities 0.0.9 in the other",
        "note: nonlinearity:relu was recorded with revision 1 in one, 0 in the other (its numbers "
        "changed)"]


def _with_header(trace: Path, out: Path, edit: Callable[[dict[str, Any]], None],
                 seq: int | None = None) -> Path:
    """``trace`` copied to ``out`` with its header edited, and event ``seq``'s first
    number moved (a divergence there), if given."""
    lines = trace.read_text().splitlines()
    header = json.loads(lines[0])
    edit(header)
    lines[0] = json.dumps(header)
    if seq is not None:
        event = json.loads(lines[seq + 1])
        event["weighted_sum"][0][0] += 0.5
        lines[seq + 1] = json.dumps(event)
    out.write_text("\n".join(lines) + "\n")
    return out


def test_a_divergence_names_the_rule_provided_otherwise(run_cli: RunCli, tmp_path: Path) -> None:
    """Replay keeps its notes on the rules when it diverges, as the likely cause: here
    another release of relu's plugin (the same revision)."""
    trace = tmp_path / "t.jsonl"
    run_cli("record", "ch06-streetlights-backprop", "-o", trace)

    def release(header: dict[str, Any]) -> None:
        header["fingerprint"]["rules"]["nonlinearity:relu"] = "steptrace_builtins.nonlinearities 0.0.9"

    edited = _with_header(trace, tmp_path / "edited.jsonl", release, seq=1)
    refused = run_cli("replay", edited)
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"Error: {edited}: replay diverges at event 1 (forward, epoch 0, samples [0], layer 2): "
        "field weighted_sum[0][0]: recorded 0.8919432663396042, recomputed 0.3919432663396042 "
        "(|Δ| 0.5, relative 0.561); it "
        "differs from the recording in its rules: nonlinearity 'relu' was recorded with "
        "steptrace_builtins.nonlinearities 0.0.9; installed is "
        "steptrace_builtins.nonlinearities 0.1.0, the same revision 1: the plugin claims the "
        "same numbers, so either the rule's code changed without a new revision (its revision "
        "should have been bumped), or the trace was edited\n")
    plain = _with_header(trace, tmp_path / "plain.jsonl", lambda header: None, seq=1)
    assert run_cli("replay", plain).stderr.endswith(
        "; every rule is the one that recorded it (the same plugin, release and revision): a "
        "rule's code changed without a new revision, or the trace was edited\n")
    compared = run_cli("diff", trace, edited)
    assert compared.exit_code == 1
    assert compared.stdout.splitlines()[-1] == (
        "  likely cause: a rule was provided otherwise (the notes above)")


def test_a_rule_now_served_by_another_plugin_is_named_so(run_cli: RunCli, tmp_path: Path) -> None:
    """A trace whose relu came from another plugin: its revision is not compared with the
    installed relu's (another plugin's numbering); the events decide, and the note says
    which plugin it was and how to install it."""
    trace = tmp_path / "t.jsonl"
    run_cli("record", "ch06-streetlights-backprop", "-o", trace)

    def other(header: dict[str, Any]) -> None:
        header["fingerprint"]["rules"]["nonlinearity:relu"] = "leaky 2.0"
        header["fingerprint"]["revisions"]["nonlinearity:relu"] = 7
        header["fingerprint"]["distributions"]["leaky"] = "steptrace-leaky"

    note = ("nonlinearity 'relu' was recorded with leaky 2.0; installed is "
            "steptrace_builtins.nonlinearities 0.1.0, another plugin's nonlinearity of the same "
            "name (their revisions are not comparable: the events say whether its numbers are "
            "the same; to replay with the recording's, pip install 'steptrace-leaky==2.0')")
    same = run_cli("replay", _with_header(trace, tmp_path / "other.jsonl", other))
    assert same.exit_code == 0, same.stderr
    assert same.stderr == f"warning: {note}\n"
    assert "all 1740 events match (bit for bit)" in same.stdout
    moved = _with_header(trace, tmp_path / "moved.jsonl", other, seq=1)
    refused = run_cli("replay", moved)
    assert refused.exit_code == 1
    assert refused.stderr.endswith(f"; it differs from the recording in its rules: {note}\n")
    compared = run_cli("diff", trace, moved)
    assert compared.stdout.splitlines()[0] == (
        "note: nonlinearity:relu was recorded with steptrace_builtins.nonlinearities 0.1.0 in "
        "one, leaky 2.0 in the other: another plugin's rule of the same name (their revisions "
        "are not comparable)")
    assert "revision" not in compared.stdout.splitlines()[1]  # (7 against 1: not compared)


def test_a_blas_divergence_names_where_it_was_recorded(run_cli: RunCli, tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    run_cli("record", "ch06-streetlights-backprop", "--arithmetic", "blas", "-o", trace)

    def elsewhere(header: dict[str, Any]) -> None:
        header["fingerprint"]["numpy"] = "1.0.0"

    moved = _with_header(trace, tmp_path / "moved.jsonl", elsewhere, seq=1)
    refused = run_cli("replay", moved)
    assert refused.exit_code == 1
    import numpy

    assert refused.stderr.endswith(
        "the same plugin, release and revision): a rule's code changed without a new revision, "
        f"or the trace was edited; blas arithmetic, recorded with numpy 1.0.0 there, "
        f"{numpy.__version__} here\n")
    compared = run_cli("diff", trace, moved)
    assert compared.stdout.splitlines()[-1] == (
        f"  likely cause: blas arithmetic, recorded with numpy {numpy.__version__} in one, "
        "1.0.0 in the other")


def test_a_revised_rule_of_the_same_release_asks_for_a_new_recording(run_cli: RunCli,
                                                                     tmp_path: Path) -> None:
    """The release that recorded the trace is installed, but its rule's revision moved (code
    changed without a release): installing that release would not help; re-recording does."""
    trace = tmp_path / "t.jsonl"
    run_cli("record", "ch06-streetlights-backprop", "-o", trace)
    lines = trace.read_text().splitlines()
    header = json.loads(lines[0])
    header["fingerprint"]["revisions"]["strategy:stochastic"] = 3
    trace.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    refused = run_cli("replay", trace)
    assert refused.exit_code == 2
    assert refused.stderr.endswith(
        "its numbers changed; to replay the trace, steptrace_builtins.strategies 0.1.0 is "
        "installed but not the code that recorded it (was the rule revised without a new "
        "release?): re-record the trace, or replay with --ignore-versions (it will differ)\n")


def test_a_plugin_left_out_by_steptrace_plugins_is_said_so(run_cli: RunCli, tmp_path: Path) -> None:
    pytest.importorskip("steptrace_extras", reason="pip install -e plugins/steptrace-extras")
    trace = tmp_path / "t.jsonl"
    assert run_cli("record", "streetlights-momentum", "-o", trace, env={"STEPTRACE_PLUGINS": None}
                   ).exit_code == 0
    refused = run_cli("replay", trace, env={"STEPTRACE_PLUGINS": "nosuch"})
    assert refused.exit_code == 2
    assert refused.stderr == (f"Error: {trace}: the trace uses strategy 'momentum' from extras "
                              "0.1.0, which STEPTRACE_PLUGINS=nosuch leaves out: add extras to it "
                              "(or unset it) to replay the trace\n")


def test_a_trace_from_before_revisions_is_revision_1(run_cli: RunCli, tmp_path: Path) -> None:
    """Traces recorded before rules had revisions hold none: each rule was revision 1. The
    golden traces are such; tanh and sigmoid are revision 2 now (portable arithmetic)."""
    trace = tmp_path / "old.jsonl"
    run_cli("record", "ch06-streetlights-backprop", "-o", trace)
    lines = trace.read_text().splitlines()
    header = json.loads(lines[0])
    del header["fingerprint"]["revisions"], header["fingerprint"]["distributions"]
    trace.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    assert run_cli("replay", trace).exit_code == 0
    header["config"]["nonlinearities"] = ["tanh", "linear"]
    header["fingerprint"]["rules"] = {**{k: v for k, v in header["fingerprint"]["rules"].items()
                                         if k != "nonlinearity:relu"},
                                      "nonlinearity:tanh": "steptrace_builtins.nonlinearities 0.1.0"}
    trace.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    refused = run_cli("replay", trace)
    assert refused.exit_code == 2
    assert "nonlinearity 'tanh' was recorded with revision 1" in refused.stderr
    assert "installed is revision 2" in refused.stderr


def test_a_plugin_importing_a_module_that_moved_is_told_where_it_went(
        run_cli: RunCli, tmp_path: Path) -> None:
    """A plugin written for the first layout (steptrace.hookspecs, steptrace.rules) fails to
    import, in one line that names the module's new place."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "old.py").write_text("from steptrace.hookspecs import hookimpl\n")
    result = run_cli("--plugins-dir", folder, "plugins", env=only("old"))
    assert result.exit_code == 0
    assert ("plugin old (" in result.stderr and "No module named 'steptrace.hookspecs' (it moved: "
            "import from steptrace.plugins.hookspecs; the plugin needs updating)" in result.stderr)
