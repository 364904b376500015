"""Rules arrive through hooks: the built-ins the same way as a throw-away plugin."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from steptrace.config import ExperimentConfig
from steptrace.engine.rules import Learned, Nonlinearity, Option, Strategy
from steptrace.errors import ConfigError, PluginError
from steptrace.plugins import hookspecs
from steptrace.plugins.hookspecs import hookimpl
from steptrace.plugins.loading import load_plugins
from steptrace.plugins.registry import DEFAULT_PLUGINS, Registry, get_plugin_manager
from steptrace.recording import record, run
from steptrace.testing import check_strategy
from steptrace.trace.events import Event, ForwardEvent, UpdateEvent
from steptrace.trace.header import Detail
from tests.conftest import ROOT, RunCli, builtin_registry


def test_builtins_register_through_the_public_hooks() -> None:
    registry = Registry.load(get_plugin_manager(entry_points=False))
    assert sorted(registry.nonlinearities) == ["linear", "relu", "sigmoid", "tanh"]
    assert sorted(registry.strategies) == ["full", "hot_and_cold", "minibatch", "stochastic"]
    assert registry.nonlinearities["relu"].plugin == "steptrace_builtins.nonlinearities"
    assert registry.strategies["full"].plugin == "steptrace_builtins.strategies"
    assert registry.strategies["hot_and_cold"].plugin == "steptrace_builtins.hot_and_cold"


def test_the_core_names_no_rule() -> None:
    """No nonlinearity or strategy is named in steptrace/ outside docs and messages (the
    benchmark's workloads are experiments, data like the book's TOML files; portable.py's
    tanh and sigmoid are functions of that name, which the built-in rules call)."""
    exempt = {ROOT / "steptrace" / "bench.py", ROOT / "steptrace" / "portable.py"}
    for path in sorted(set((ROOT / "steptrace").glob("*.py")) - exempt):
        code = path.read_text()
        for name in ("relu", "sigmoid", "tanh", "minibatch"):
            for line in code.splitlines():
                stripped = line.strip()
                if name in stripped and not stripped.startswith(("#", '"', "'", "f\"", "``")):
                    assert f'"{name}"' not in stripped, (path.name, line)


class Plugin:
    """A throw-away plugin: a scaled tanh, a reversed stochastic order, an observer."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def register_nonlinearities(self, register: Callable[[Nonlinearity], None]) -> None:
        register(Nonlinearity("halftanh", lambda x: np.tanh(x) / 2,
                              lambda out: 0.5 * (1 - (2 * out) ** 2), "tanh(x) / 2",
                              "(1 - (2 * output) ** 2) / 2"))

    @hookimpl
    def register_strategies(self, register: Callable[[Strategy], None]) -> None:
        register(Strategy("reversed", lambda n, options: [[i] for i in reversed(range(n))]))

    @hookimpl
    def observe_event(self, event: Event) -> None:
        self.seen.append(event.kind)


def test_a_plugin_adds_rules_and_observes_every_event() -> None:
    pm = get_plugin_manager(entry_points=False)
    plugin = Plugin()
    pm.register(plugin, name="throwaway")
    try:
        registry = Registry.load(pm)
        config = registry.experiment("ch06-streetlights-backprop")
        config = type(config).model_validate({
            **config.model_dump(), "nonlinearities": ("halftanh", "linear"),
            "strategy": {"name": "reversed"}, "iterations": 2})
        plan = registry.resolve(config)
        assert plan.batches == [[3], [2], [1], [0]]
        events: list[Event] = []
        observer = registry.observer()
        assert observer is not None

        def emit(event: Event) -> None:
            events.append(event)
            observer(event)

        run(config, plan, emit)
        assert plugin.seen == [e.kind for e in events]
        assert len(events) == 2 * (4 * 7 + 1)
        assert isinstance(events[0], ForwardEvent)
        assert events[0].samples == (3,) and events[0].nonlinearity == "halftanh"
        assert registry.provenance(config)["nonlinearity:halftanh"].startswith("throwaway ")
    finally:
        pm.unregister(name="throwaway")


class Summary:
    """An observer that summarises each run without a global: state set up at the start."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    @hookimpl
    def run_started(self, config: ExperimentConfig) -> None:
        self.runs.append({"name": config.name, "kinds": [], "weights_seen": 0})

    @hookimpl
    def observe_event(self, event: Event) -> None:
        run = self.runs[-1]
        run["kinds"].append(event.kind)
        if isinstance(event, UpdateEvent) and event.weights is not None:
            run["weights_seen"] += 1

    @hookimpl
    def run_finished(self, errors: list[float | None], events: int) -> None:
        self.runs[-1].update(errors=errors, events=events)


@pytest.mark.parametrize("detail", ["step", "epoch", "all"])
def test_observers_see_each_run_start_complete_and_finish_whatever_the_detail(
        detail: str, tmp_path: Path) -> None:
    """At every detail the observer sees the run's every event with every field (the
    weights after each update included), started and finished once per run; ``events``
    is what the trace holds."""
    pm = get_plugin_manager(entry_points=False)
    summary = Summary()
    pm.register(summary, name="summary")
    try:
        registry = Registry.load(pm)
        config = registry.experiment("ch06-streetlights-backprop")
        for number in range(2):  # two runs: nothing carried from the first to the second
            recorded = record(config, registry, tmp_path / f"{detail}-{number}.jsonl",
                              detail=cast(Detail, detail))
            run = summary.runs[number]
            assert run["name"] == "ch06-streetlights-backprop"
            assert len(run["kinds"]) == 60 * (4 * 7 + 1) == 1740
            assert run["kinds"][:7] == ["forward", "forward", "error", "delta", "delta",
                                        "update", "update"]
            assert run["weights_seen"] == 60 * 4 * 2
            assert run["errors"] == recorded.errors and len(run["errors"]) == 60
            assert run["events"] == recorded.events == (60 if detail == "epoch" else 1740)
        assert len(summary.runs) == 2
    finally:
        pm.unregister(name="summary")


def test_an_observer_that_fails_to_start_is_reported_once_and_not_called_again(
        tmp_path: Path) -> None:
    pm = get_plugin_manager(entry_points=False)

    class Failing(Summary):
        @hookimpl
        def run_started(self, config: ExperimentConfig) -> None:
            raise RuntimeError("no room")

    failing = Failing()
    pm.register(failing, name="failing")
    try:
        registry = Registry.load(pm)
        record(registry.experiment("ch06-streetlights-backprop"), registry, tmp_path / "t.jsonl")
        assert failing.runs == []
        assert registry.problems == ["plugin failing failed in run_started: RuntimeError: no "
                                     "room; it observes no more events"]
    finally:
        pm.unregister(name="failing")


def test_no_observer_means_no_hook_call() -> None:
    assert Registry.load(get_plugin_manager(entry_points=False)).observer() is None


def test_conflicting_names_are_reported_with_both_plugins() -> None:
    class Clash:
        @hookimpl
        def register_nonlinearities(self, register: Callable[[Nonlinearity], None]) -> None:
            register(Nonlinearity("relu", np.abs, np.sign, "|x|", "sign(output)"))

    pm = get_plugin_manager(entry_points=False)
    pm.register(Clash(), name="clash")
    registry = Registry.load(pm)
    assert registry.problems == [
        "nonlinearity 'relu' is registered by both steptrace_builtins.nonlinearities and clash; "
        "clash's is ignored (a built-in's name cannot be taken: rename yours)"]
    assert registry.nonlinearities["relu"].plugin == "steptrace_builtins.nonlinearities"
    strict = load_plugins(entry_points=False, strict=True)
    strict.pm.register(Clash(), name="clash")
    with pytest.raises(PluginError, match=r"'relu' is registered by both "
                                          r"steptrace_builtins\.nonlinearities and clash"):
        Registry.load(strict)


def test_a_failing_plugin_is_named() -> None:
    class Broken:
        @hookimpl
        def register_strategies(self, register: Callable[[Strategy], None]) -> None:
            raise RuntimeError("boom")

    pm = get_plugin_manager(entry_points=False)
    pm.register(Broken(), name="broken")
    registry = Registry.load(pm)
    assert registry.problems == ["plugin broken (version unknown) failed in register_strategies: "
                                 "RuntimeError: boom"]
    assert "stochastic" in registry.strategies  # the rest keeps working


def test_unknown_rule_names_suggest_the_closest() -> None:
    registry = builtin_registry()
    with pytest.raises(ConfigError, match=r"unknown nonlinearity 'rleu': did you mean 'relu'\?"):
        registry.nonlinearity("rleu")


def test_every_hook_is_documented_in_the_plugins_page() -> None:
    readme = (ROOT / "docs" / "plugins.md").read_text()
    specs = [name for name, f in inspect.getmembers(hookspecs, inspect.isfunction)
             if hasattr(f, "steptrace_spec")]
    assert sorted(specs) == ["observe_event", "register_commands", "register_experiments",
                             "register_nonlinearities", "register_strategies", "run_finished",
                             "run_started"]
    for name in specs:
        spec = getattr(hookspecs, name)
        assert spec.__doc__ and spec.__doc__.startswith("Called ")
        call = f"`{name}({', '.join(inspect.signature(spec).parameters)})`"
        assert call in readme, f"hook {call} is not documented in docs/plugins.md"


def test_of_two_outside_plugins_with_one_name_the_first_loaded_keeps_it() -> None:
    class First:
        @hookimpl
        def register_nonlinearities(self, register: Callable[[Nonlinearity], None]) -> None:
            register(Nonlinearity("bent", np.abs, np.sign, "|x|", "sign(output)"))

    pm = get_plugin_manager(entry_points=False)
    pm.register(First(), name="first")
    pm.register(First(), name="second")
    registry = Registry.load(pm)
    assert registry.nonlinearities["bent"].plugin == "first"
    assert registry.problems == ["nonlinearity 'bent' is registered by both first and second; "
                                 "second's is ignored (first loaded first: rename one, or "
                                 "uninstall one of them)"]


def test_a_hook_without_hookimpl_or_misspelled_is_said_not_silent(tmp_path: Path) -> None:
    """A function named like a hook but not marked, one close to a hook's name, and a marked
    one with a misspelled name: each one line (an error in strict mode)."""
    (tmp_path / "unmarked.py").write_text(
        "def register_strategies(register):\n    pass\n"
        "def register_experiment(register):\n    pass\n"
        "def helper():\n    pass\n")
    (tmp_path / "typo.py").write_text(
        "from steptrace import hookimpl\n@hookimpl\ndef observe_events(event):\n    pass\n")
    plugins = load_plugins(tmp_path, entry_points=False)
    assert plugins.problems == [
        f"plugin typo ({tmp_path / 'typo.py'}) was not loaded: unknown hook 'observe_events' "
        "(marked @hookimpl): did you mean 'observe_event'?",
        f"plugin unmarked ({tmp_path / 'unmarked.py'}): register_experiment looks like the hook "
        "'register_experiments' but is neither that name nor marked @hookimpl: steptrace never "
        "calls it",
        f"plugin unmarked ({tmp_path / 'unmarked.py'}): register_strategies is not marked "
        "@hookimpl, so steptrace never calls it (decorate it: from steptrace import hookimpl; "
        "@hookimpl)",
        f"plugin unmarked ({tmp_path / 'unmarked.py'}) implements no steptrace hook: mark its "
        "hook functions @hookimpl; if they are an object's methods, point the entry point at "
        "the object (module:attribute)"]
    (tmp_path / "typo.py").unlink()
    with pytest.raises(PluginError, match="register_experiment looks like the hook"):
        load_plugins(tmp_path, entry_points=False, strict=True)


def test_default_plugins_are_importable_modules() -> None:
    assert DEFAULT_PLUGINS == ("steptrace_builtins.nonlinearities",
                               "steptrace_builtins.strategies", "steptrace_builtins.hot_and_cold",
                               "steptrace_builtins.book")


def test_the_builtin_learning_rule_keeps_the_contract() -> None:
    """hot_and_cold reads step.weights (read-only to a rule) and writes only its copies."""
    check_strategy(builtin_registry().strategy("hot_and_cold"), {"step_amount": 0.001})


def declaring(options: dict[str, Any]) -> Registry:
    """The built-ins and a strategy ``declared`` that takes ``options`` and records what its
    plan and learning rule were given."""
    pm = get_plugin_manager(entry_points=False)

    class Declares:
        def __init__(self) -> None:
            self.seen: list[dict[str, Any]] = []

        @hookimpl
        def register_strategies(self, register: Callable[[Strategy], None]) -> None:
            def plan(n: int, given: Any) -> list[list[int]]:
                self.seen.append(dict(given))
                return [[i] for i in range(n)]

            def learn(step: Any) -> Any:
                self.seen.append(dict(step.options))
                return Learned(step.gradient())

            register(Strategy("declared", plan, options, learn=learn))

    pm.register(Declares(), name="declares")
    return Registry.load(pm)


def test_declared_options_get_their_defaults_and_ints_where_floats_are_declared() -> None:
    registry = declaring({"rate": Option(float, 0.5, "how fast"), "size": Option(int, 2),
                          "label": Option(str), "on": bool})
    base = registry.experiment("ch06-streetlights-backprop").model_dump()
    config = ExperimentConfig.model_validate({**base, "iterations": 1,
                                              "strategy": {"name": "declared", "rate": 0, "on": True}})
    plan = registry.resolve(config)
    assert plan.options == {"rate": 0.0, "on": True, "size": 2}  # no default for label: absent
    assert isinstance(plan.options["rate"], float)
    run(config, plan)
    declares: Any = registry.pm.get_plugin("declares")
    assert declares.seen == [plan.options] * 5  # plan once, then learn at each of 4 steps
    cases: list[tuple[dict[str, Any], str]] = [({"rate": "fast"}, "option rate takes a number, not 'fast'"),
                         ({"size": 2.0}, "option size takes a whole number, not 2.0"),
                         ({"on": 1}, "option on takes true or false, not 1"),
                         ({"label": 3}, "option label takes a string, not 3"),
                         ({"rat": 1.0}, "has no option 'rat': did you mean 'rate'? its options: rate "
                                        "(float, default 0.5: how fast); size (int, default 2); "
                                        "label (str); on (bool)")]
    for bad, message in cases:
        wrong = ExperimentConfig.model_validate({**base, "strategy": {"name": "declared", **bad}})
        with pytest.raises(ConfigError, match=re.escape(message)):
            registry.resolve(wrong)


def test_plugins_and_experiments_show_list_a_strategys_options(run_cli: RunCli) -> None:
    listing = run_cli("plugins", "--all", "--json")
    strategies = {entry["name"]: entry["options"] for entry in json.loads(listing.stdout)}
    assert strategies["steptrace_builtins.strategies"] == {"minibatch": {"batch_size": {
        "type": "int", "default": None, "doc": "how many samples make one update",
        "described": "int: how many samples make one update"}}}
    text = run_cli("plugins", "--all").stdout
    assert "    minibatch option batch_size: int: how many samples make one update\n" in text
    shown = run_cli("experiments", "--show", "streetlights-minibatch").stdout
    assert '[strategy]\nname = "minibatch"\nbatch_size = 2\n# option batch_size: int: how many ' \
           "samples make one update\n" in shown
